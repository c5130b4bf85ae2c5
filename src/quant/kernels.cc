// The dispatch of quant.h's kernels to the best SIMD target of the CPU.
#include "logitkit/quant.h"

#include <algorithm>

#include "base/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "quant/kernels-inl.h"

#if HWY_ONCE
namespace logitkit::quant {

HWY_EXPORT(DequantizeRowImpl);
HWY_EXPORT(DotRowImpl);
HWY_EXPORT(TargetNameImpl);
HWY_EXPORT(DotRowsQuantizedImpl);
HWY_EXPORT(DotRowsImpl);
HWY_EXPORT(QuantizeImpl);

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

}  // namespace logitkit::quant
#endif  // HWY_ONCE
