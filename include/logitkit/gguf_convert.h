// Writing tensors in another type: a row of float32 encoded as F32, F16, BF16
// or Q8_0, and a whole GGUF file rewritten with its matrices in one of those
// types (a higher-precision copy of a quantized model, for comparisons).
//
// Encodings, bit for bit as ggml's reference quantizers and the `gguf` Python
// package (0.19, gguf.quants.quantize) write them (tested):
//   F32   the float
//   F16   round to nearest, ties to even (numpy's astype(float16)); beyond
//         65504 (from 65520 up) ±inf; NaN stays NaN, keeping its 10 top payload bits
//   BF16  ggml's GGML_FP32_TO_BF16: the top 16 bits rounded to nearest even;
//         NaN made quiet (bit 6 of the result set)
//   Q8_0  per block of 32: amax = max|x|, d = amax / 127, id = d ? 1/d : 0,
//         q = roundf(x · id) (ties away from zero), d stored as F16
//         (ggml's quantize_row_q8_0_ref). |x − d16·q| <= d/2 + |q|·|d − d16|
//         with d16 the stored half: about amax/254 + amax·2^-11.
//         A block whose 1/d overflows (amax < ~3.7e-37) encodes as zeros;
//         one whose d would be a float16 infinity (amax >= ~8.3e6) is an error.
#ifndef LOGITKIT_GGUF_CONVERT_H_
#define LOGITKIT_GGUF_CONVERT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "logitkit/gguf.h"
#include "logitkit/status.h"

namespace logitkit::gguf {

// True for the types EncodeRow writes: F32, F16, BF16, Q8_0.
bool IsEncodeType(TensorType type);

// Writes x[0, n) as a row of `type`: RowBytes(type, n) bytes at dst.
// Errors (nothing written then): `type` is not an encode type; n is not a
// positive multiple of its block (32 for Q8_0); for Q8_0, an infinity, a NaN
// or a magnitude of 65520 · 127 or more (no finite scale). REQUIRES: x holds n floats.
Status EncodeRow(TensorType type, const float* x, size_t n, void* dst);

// llama.cpp's general.file_type for a model whose matrices are all `type`
// (LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32).
// REQUIRES: IsEncodeType(type).
uint32_t LlamaFileType(TensorType type);

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
//    by row (DequantizeRow) and encoded (EncodeRow); a 1-D tensor (norms,
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
StatusOr<ConvertStats> ConvertFile(const File& in, TensorType type, const std::string& path,
                                   const ConvertProgressFn& progress = {});

}  // namespace logitkit::gguf

#endif  // LOGITKIT_GGUF_CONVERT_H_
