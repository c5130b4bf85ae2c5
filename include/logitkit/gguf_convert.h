// A whole GGUF file rewritten with its matrices in F32, F16, BF16 or Q8_0 (a
// higher-precision copy of a quantized model, for comparisons), each row
// encoded by quant::EncodeRow.
//
#ifndef LOGITKIT_GGUF_CONVERT_H_
#define LOGITKIT_GGUF_CONVERT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "logitkit/gguf.h"
#include "logitkit/quant.h"
#include "logitkit/status.h"

namespace logitkit::gguf {

// llama.cpp's general.file_type for a model whose matrices are all `type`
// (LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32).
// REQUIRES: quant::IsEncodeType(type).
uint32_t LlamaFileType(quant::TensorType type);

struct ConvertProgress {
  size_t tensors_done = 0, tensors_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;  // of the output file
};

struct ConvertStats {
  size_t tensors_converted = 0;  // dequantized and re-encoded
  size_t tensors_copied = 0;     // byte for byte
  uint64_t bytes_in = 0;         // the input file
  uint64_t bytes_out = 0;        // the output file
};

// Writes `in` to `path` as a GGUF v3 file whose matrices are `type`:
//  - metadata: every key in order with its type and value, except that
//    general.file_type becomes LlamaFileType(type) (in the key's own integer
//    type; appended as uint32 when absent);
//  - tensors: same order, names, shapes and alignment (general.alignment).
//    One of 2 or more dimensions whose type is not `type` is dequantized row
//    by row (quant::DequantizeRow) and encoded (quant::EncodeRow); a 1-D tensor (norms,
//    biases), one already of `type` and one of an integer type (I8 .. I64)
//    is copied byte for byte.
// Streams: the header, then each tensor's data and padding; memory is the
// header plus one row. The file is written to `path` + ".tmp" and renamed to
// `path` at the end; on any error the temporary file is removed and `path`
// is left as it was.
// Errors: `type` is not an encode type; a matrix of a type with no
// dequantization (Q2_K, Q8_K, F64, ...) or whose rows are not a multiple of
// the target's block (both found before anything is written; the message names
// the tensor); writing, flushing or renaming fails (names the path and errno).
// `progress`, if set, is called after each tensor and every few MB of output.
using ConvertProgressFn = std::function<void(const ConvertProgress&)>;
StatusOr<ConvertStats> ConvertFile(const File& in, quant::TensorType type, const std::string& path,
                                   const ConvertProgressFn& progress = {});

}  // namespace logitkit::gguf

#endif  // LOGITKIT_GGUF_CONVERT_H_
