#include "logitkit/tensor_types.h"

#include <algorithm>

#include <string>

#include "base/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "gguf/tensor_types.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "gguf/tensor_types-inl.h"

#if HWY_ONCE
namespace logitkit::gguf {

HWY_EXPORT(DequantizeRowImpl);
HWY_EXPORT(DotRowImpl);
HWY_EXPORT(TargetNameImpl);
HWY_EXPORT(DotRowsQuantizedImpl);
HWY_EXPORT(DotRowsImpl);
HWY_EXPORT(QuantizeImpl);

bool IsComputeType(TensorType type) {
  switch (type) {
    case TensorType::kF32: case TensorType::kF16: case TensorType::kBF16:
    case TensorType::kQ8_0: case TensorType::kQ4_0: case TensorType::kQ4_1:
    case TensorType::kQ5_0: case TensorType::kQ5_1:
    case TensorType::kQ4_K: case TensorType::kQ5_K: case TensorType::kQ6_K:
      return true;
    default:
      return false;
  }
}

Status CheckRow(TensorType type, size_t n) {
  const uint32_t code = static_cast<uint32_t>(type);
  if (!IsComputeType(type)) {
    return InvalidArgumentError(std::string("tensor type ") + TensorTypeName(code) + " (" +
                                   std::to_string(code) + ") has no dequantization or dot product");
  }
  uint64_t block_elements = 0, block_bytes = 0;
  TensorTypeLayout(code, &block_elements, &block_bytes);
  if (n == 0 || n % block_elements != 0) {
    return InvalidArgumentError(std::string("a row of ") + std::to_string(n) + " " +
                                   TensorTypeName(code) + " elements is not a positive multiple of its block of " +
                                   std::to_string(block_elements));
  }
  return OkStatus();
}

size_t RowBytes(TensorType type, size_t n) {
  uint64_t block_elements = 0, block_bytes = 0;
  [[maybe_unused]] const bool known =
      TensorTypeLayout(static_cast<uint32_t>(type), &block_elements, &block_bytes);
  LK_DCHECK(known && n % block_elements == 0);
  return n / block_elements * block_bytes;
}

void DequantizeRow(TensorType type, const void* src, size_t n, float* dst) {
  LK_DCHECK(CheckRow(type, n).ok());
  HWY_DYNAMIC_DISPATCH(DequantizeRowImpl)(type, src, n, dst);
}

float DotRow(TensorType type, const void* src, const float* x, size_t n) {
  LK_DCHECK(CheckRow(type, n).ok());
  return HWY_DYNAMIC_DISPATCH(DotRowImpl)(type, src, x, n);
}

void DotRows(TensorType type, const void* src, const float* x, size_t n, size_t count, float* out) {
  LK_DCHECK(CheckRow(type, n).ok());
  for (size_t t = 0; t < count; t += kMaxDotBatch) {
    HWY_DYNAMIC_DISPATCH(DotRowsImpl)(type, src, x + t * n, n, std::min(kMaxDotBatch, count - t), out + t);
  }
}

bool HasIntegerDot(TensorType type) {
  return IsComputeType(type) && type != TensorType::kF32 && type != TensorType::kF16 &&
         type != TensorType::kBF16;
}

void QuantizeRow(const float* x, size_t n, int bits, QuantizedRow* out) {
  LK_DCHECK(n % 32 == 0 && (bits == 8 || bits == 16));
  out->n = n;
  out->bits = bits;
  out->q.resize(n);
  out->scale.resize(n / 32);
  out->sum16.resize(n / 16);
  HWY_DYNAMIC_DISPATCH(QuantizeImpl)(x, n, out);
}

float DotRowQuantized(TensorType type, const void* src, const QuantizedRow& x) {
  float out;
  DotRowsQuantized(type, src, &x, 1, &out);
  return out;
}

void DotRowsQuantized(TensorType type, const void* src, const QuantizedRow* x, size_t count, float* out) {
  LK_DCHECK(HasIntegerDot(type) && count >= 1 && count <= kMaxDotBatch && CheckRow(type, x[0].n).ok());
  for (size_t t = 1; t < count; ++t) LK_DCHECK(x[t].n == x[0].n);
  HWY_DYNAMIC_DISPATCH(DotRowsQuantizedImpl)(type, src, x, count, out);
}

const char* TensorKernelTarget() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

}  // namespace logitkit::gguf
#endif  // HWY_ONCE
