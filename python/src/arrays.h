// Arrays in and out of the binding.
//
// In: logits are read in place through the buffer protocol (numpy arrays and
// anything else that exports a buffer): no copy and no conversion. A buffer
// that is not float32 (or float16 where allowed), not 1-D / 2-D, or not
// C-contiguous is rejected with a TypeError / ValueError naming the parameter
// and saying what to pass. (pybind11 2.10's dtype accessors predate numpy 2's
// descriptor layout, so the element type is read from the buffer's format.)
//
// Out: new float32 / int32 arrays owned by numpy, or by a std::vector moved
// into a capsule (model logits: no copy).
#ifndef LOGITKIT_PYTHON_ARRAYS_H_
#define LOGITKIT_PYTHON_ARRAYS_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <span>
#include <vector>

#include "logitkit/head.h"

namespace logitkit::python {

// A read-only view of the caller's logits, [n_rows, n_vocab] row-major.
struct LogitsArg {
  pybind11::buffer_info buffer;  // holds the caller's buffer while we read it
  FloatType type = FloatType::kF32;
  const void* data = nullptr;
  size_t n_rows = 0;
  size_t n_vocab = 0;
  bool batched = false;  // the input was 2-D

  std::span<const float> Row(size_t r) const {  // REQUIRES: type == kF32
    return {static_cast<const float*>(data) + r * n_vocab, n_vocab};
  }
  LogitsBatch Batch() const;
};

// REQUIRES: the GIL. `name` is the parameter's name in messages. allow_f16:
// accept numpy float16 (FloatType::kF16, read as raw bits).
LogitsArg GetLogits(pybind11::handle obj, const char* name, bool allow_f16);

// A sequence of token ids (a list, or an integer numpy array of any layout),
// copied. Errors: not integers; outside [0, n_vocab) when n_vocab > 0, or
// outside int32.
std::vector<int32_t> GetTokenIds(pybind11::handle obj, const char* name, size_t n_vocab = 0);

// A new C-contiguous array of `shape`, filled from `values` when given. (Not
// array_t(count): in pybind11 2.10 that path takes the element size from the
// dtype descriptor, which numpy 2 moved, and gets strides of 0.)
template <typename T>
pybind11::array_t<T> NewArray(std::vector<pybind11::ssize_t> shape, const T* values = nullptr) {
  return pybind11::array_t<T>(std::move(shape), values);
}
template <typename T>
pybind11::array_t<T> ToArray(const std::vector<T>& values) {
  return NewArray<T>({pybind11::ssize_t(values.size())}, values.data());
}

// A new C-contiguous float32 array of the given shape (rows x cols, or cols
// alone when !batched).
pybind11::array_t<float> NewFloatArray(bool batched, size_t rows, size_t cols);

// Hands `values` to numpy without a copy, shaped `shape` (C order).
pybind11::array_t<float> VectorToArray(std::vector<float>&& values, std::vector<size_t> shape);

}  // namespace logitkit::python

#endif  // LOGITKIT_PYTHON_ARRAYS_H_
