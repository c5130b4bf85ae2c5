// The float32 dot product, per SIMD target (Highway): included by
// row_ops-inl.h (ops::Dot) and by src/quant's kernels (F32 and F16 weight
// rows), so that both compute it with the same instructions and the kernels
// call it without a second dispatch.
#if defined(LOGITKIT_OPS_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_OPS_DOT_INL_H_
#undef LOGITKIT_OPS_DOT_INL_H_
#else
#define LOGITKIT_OPS_DOT_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit::ops {
namespace HWY_NAMESPACE {

// Σ x·y in float32: four accumulators over whole groups of 4 vectors, then
// whole vectors into the first, the four added pairwise, then a scalar tail.
HWY_INLINE float DotF32(const float* x, const float* y, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  hn::Vec<decltype(d)> acc[4] = {hn::Zero(d), hn::Zero(d), hn::Zero(d), hn::Zero(d)};
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    for (size_t k = 0; k < 4; ++k) {
      acc[k] = hn::MulAdd(hn::LoadU(d, x + i + k * N), hn::LoadU(d, y + i + k * N), acc[k]);
    }
  }
  for (; i + N <= n; i += N) acc[0] = hn::MulAdd(hn::LoadU(d, x + i), hn::LoadU(d, y + i), acc[0]);
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(acc[0], acc[1]), hn::Add(acc[2], acc[3]))));
  for (; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit::ops
HWY_AFTER_NAMESPACE();

#endif  // include guard
