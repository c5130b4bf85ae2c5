// The storage types of a row of floating-point values that the kernels read
// directly: logits handed to the decode head, and 16-bit weight rows.
#ifndef LOGITKIT_FLOAT_TYPE_H_
#define LOGITKIT_FLOAT_TYPE_H_

#include <cstddef>
#include <cstdint>

namespace logitkit {

enum class FloatType : uint8_t {
  kF32,   // IEEE binary32
  kBF16,  // bfloat16: binary32's top 16 bits
  kF16,   // IEEE binary16
};

// Bytes of one element.
constexpr size_t FloatBytes(FloatType type) { return type == FloatType::kF32 ? 4 : 2; }

}  // namespace logitkit

#endif  // LOGITKIT_FLOAT_TYPE_H_
