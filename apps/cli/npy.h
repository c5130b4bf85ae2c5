// NumPy .npy arrays read in rows, so logits computed elsewhere (PyTorch,
// llama.cpp, numpy) can be calibrated without a model: little-endian float32
// (<f4) or float16 (<f2) matrices, int32 or int64 vectors, C order, format
// versions 1 to 3.
#ifndef LOGITKIT_APPS_CLI_NPY_H_
#define LOGITKIT_APPS_CLI_NPY_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "logitkit/status.h"

namespace logitkit::cli {

class NpyReader {
 public:
  // Errors name the file, the header field and its byte offset.
  static StatusOr<NpyReader> Open(const std::string& path);
  const std::string& descr() const { return descr_; }
  const std::vector<uint64_t>& shape() const { return shape_; }
  // The next `count` elements as float (float arrays) or int64 (integer arrays).
  Status ReadFloats(size_t count, std::vector<float>* out);
  Status ReadInts(size_t count, std::vector<int64_t>* out);

 private:
  Status Read(size_t count, size_t element_bytes, std::vector<char>* raw);
  std::string path_, descr_;
  std::vector<uint64_t> shape_;
  std::unique_ptr<std::ifstream> in_;
  uint64_t data_offset_ = 0, read_ = 0, elements_ = 0;
};

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_NPY_H_
