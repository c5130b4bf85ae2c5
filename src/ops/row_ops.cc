#include "ops/row_ops.h"

#include <cmath>

#include "base/check.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/row_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/row_ops-inl.h"

#if HWY_ONCE
namespace logitkit::ops {

HWY_EXPORT(LoadRowImpl);
HWY_EXPORT(DivideInPlaceImpl);
HWY_EXPORT(MultiplyImpl);
HWY_EXPORT(MaxImpl);
HWY_EXPORT(ArgMaxImpl);
HWY_EXPORT(FindFirstImpl);
HWY_EXPORT(ExpShiftedImpl);
HWY_EXPORT(ExpImpl);
HWY_EXPORT(MaskBelowImpl);
HWY_EXPORT(CountGreaterImpl);
HWY_EXPORT(CountEqualImpl);
HWY_EXPORT(FiniteMomentsImpl);
HWY_EXPORT(FiniteMinMaxImpl);
HWY_EXPORT(DistanceKeysImpl);
HWY_EXPORT(BlockSumsImpl);
HWY_EXPORT(BlockMaxImpl);
HWY_EXPORT(SumToDoubleImpl);
HWY_EXPORT(DotImpl);
HWY_EXPORT(DotsImpl);
HWY_EXPORT(WeightedSumImpl);
HWY_EXPORT(BucketIndexImpl);
HWY_EXPORT(FindBucketImpl);
HWY_EXPORT(FindFiniteImpl);
HWY_EXPORT(TemperatureMomentsImpl);

LoadStats LoadRow(const void* src, FloatType type, size_t n, float divisor, float* dst) {
  LK_DCHECK(divisor > 0 && std::isfinite(divisor));
  LK_DCHECK(src != nullptr || n == 0);
  return HWY_DYNAMIC_DISPATCH(LoadRowImpl)(src, type, n, divisor, nullptr, dst);
}
LoadStats LoadRowMasked(const void* src, FloatType type, size_t n, float divisor,
                        const uint32_t* mask, float* dst) {
  LK_DCHECK(divisor > 0 && std::isfinite(divisor));
  LK_DCHECK((src != nullptr && mask != nullptr && dst != nullptr) || n == 0);
  return HWY_DYNAMIC_DISPATCH(LoadRowImpl)(src, type, n, divisor, mask, dst);
}
bool DivideInPlace(float* x, size_t n, float divisor) {
  LK_DCHECK(divisor > 0);
  return HWY_DYNAMIC_DISPATCH(DivideInPlaceImpl)(x, n, divisor);
}
void Multiply(float* x, size_t n, float scale) { HWY_DYNAMIC_DISPATCH(MultiplyImpl)(x, n, scale); }
float Max(const float* x, size_t n) { return HWY_DYNAMIC_DISPATCH(MaxImpl)(x, n); }
size_t ArgMax(const float* x, size_t n) {
  LK_DCHECK(n > 0);
  return HWY_DYNAMIC_DISPATCH(ArgMaxImpl)(x, n);
}
size_t FindFirst(const float* x, size_t n, float value) {
  return HWY_DYNAMIC_DISPATCH(FindFirstImpl)(x, n, value);
}
ExpSums ExpShifted(const float* x, size_t n, float shift, float* e, bool weighted,
                   float divisor) {
  LK_DCHECK(std::isfinite(shift));
  LK_DCHECK(divisor > 0);
  return HWY_DYNAMIC_DISPATCH(ExpShiftedImpl)(x, n, shift, e, weighted, divisor);
}
void Exp(const float* x, size_t n, float* out) { HWY_DYNAMIC_DISPATCH(ExpImpl)(x, n, out); }
size_t MaskBelow(const float* key, size_t n, float threshold, float* x, float* e) {
  return HWY_DYNAMIC_DISPATCH(MaskBelowImpl)(key, n, threshold, x, e);
}
size_t CountGreater(const float* x, size_t n, float value) {
  return HWY_DYNAMIC_DISPATCH(CountGreaterImpl)(x, n, value);
}
size_t CountEqual(const float* x, size_t n, float value) {
  return HWY_DYNAMIC_DISPATCH(CountEqualImpl)(x, n, value);
}
FiniteRange FiniteMinMax(const float* x, size_t n) {
  return HWY_DYNAMIC_DISPATCH(FiniteMinMaxImpl)(x, n);
}
Moments FiniteMoments(const float* x, size_t n, float shift) {
  return HWY_DYNAMIC_DISPATCH(FiniteMomentsImpl)(x, n, shift);
}
void DistanceKeys(const float* x, size_t n, float center, float* key) {
  HWY_DYNAMIC_DISPATCH(DistanceKeysImpl)(x, n, center, key);
}
void BlockSums(const float* e, size_t n, size_t block, double* sums) {
  LK_DCHECK(block > 0 && block % 64 == 0);
  HWY_DYNAMIC_DISPATCH(BlockSumsImpl)(e, n, block, sums);
}

double SumToDouble(const float* x, size_t n) {
  return HWY_DYNAMIC_DISPATCH(SumToDoubleImpl)(x, n);
}
float Dot(const float* x, const float* y, size_t n) { return HWY_DYNAMIC_DISPATCH(DotImpl)(x, y, n); }
void Dots(const float* rows, size_t stride, size_t count, const float* y, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(DotsImpl)(rows, stride, count, y, n, out);
}
void WeightedSum(const float* rows, size_t stride, size_t count, const float* weights, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(WeightedSumImpl)(rows, stride, count, weights, n, out);
}
void BlockMax(const float* x, size_t n, size_t block, float* out) {
  LK_DCHECK(block > 0 && block % 64 == 0);
  HWY_DYNAMIC_DISPATCH(BlockMaxImpl)(x, n, block, out);
}

void BucketIndex(const float* key, size_t n, float lo, float scale, uint16_t max_bucket,
                 uint16_t* out) {
  LK_DCHECK(max_bucket < kNoBucket);
  LK_DCHECK(std::isfinite(scale) && scale >= 0);
  HWY_DYNAMIC_DISPATCH(BucketIndexImpl)(key, n, lo, scale, max_bucket, out);
}

size_t FindBucket(const uint16_t* bucket, size_t n, uint16_t value, uint32_t* positions) {
  return HWY_DYNAMIC_DISPATCH(FindBucketImpl)(bucket, n, value, positions);
}

size_t FindFinite(const float* x, size_t n, uint32_t* positions) {
  return HWY_DYNAMIC_DISPATCH(FindFiniteImpl)(x, n, positions);
}

void TemperatureMoments(const float* x, size_t n, float max, double beta_step, size_t count,
                        double* s0, double* s1, double* s2) {
  LK_DCHECK(std::isfinite(max) && beta_step > 0 && count <= kMaxTemperatureMoments);
  HWY_DYNAMIC_DISPATCH(TemperatureMomentsImpl)(x, n, max, beta_step, count, s0, s1, s2);
}

const char* ChosenTargetName() {
  // Better targets have lower bits; dispatch picks the best compiled and supported one.
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  return hwy::TargetName(targets & -targets);
}

}  // namespace logitkit::ops
#endif  // HWY_ONCE
