// Per-target bodies of the row kernels declared in row_ops.h. Included once per
// SIMD target by row_ops.cc (foreach_target.h) and by row_ops_test.cc.
#if defined(LOGITKIT_OPS_ROW_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_OPS_ROW_OPS_INL_H_
#undef LOGITKIT_OPS_ROW_OPS_INL_H_
#else
#define LOGITKIT_OPS_ROW_OPS_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "ops/dot-inl.h"
#include "ops/row_ops.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr size_t kMaxFloatLanes = HWY_MAX_BYTES / sizeof(float);

// The last partial vector of a row goes through an aligned stack buffer, so no
// kernel reads or writes past the caller's n elements.
HWY_INLINE VF LoadPadded(DF d, const float* p, size_t count, float pad) {
  HWY_ALIGN float buf[kMaxFloatLanes];
  for (size_t i = 0; i < hn::Lanes(d); ++i) buf[i] = i < count ? p[i] : pad;
  return hn::Load(d, buf);
}

HWY_INLINE void StorePartial(DF d, VF v, float* p, size_t count) {
  HWY_ALIGN float buf[kMaxFloatLanes];
  hn::Store(v, d, buf);
  for (size_t i = 0; i < count; ++i) p[i] = buf[i];
}

// Sums a row of floats in double, in an order that does not depend on the
// SIMD target: element i goes to virtual lane i mod 16 (exact float -> double
// promotion, then one double add per element, in index order, per lane), and
// the 16 lanes are added in a fixed order at the end. AVX-512 holds the 16
// lanes in one vector, AVX2 in two, SSE4 in four; the result is bitwise the
// same on all of them. Vectors are added through ForEachVectorGrouped.
class FixedOrderSum {
 public:
  static constexpr size_t kVirtualLanes = 16;
  static_assert(hn::MaxLanes(DF()) <= kVirtualLanes && kVirtualLanes % hn::MaxLanes(DF()) == 0,
                "fixed-width targets of at most 16 floats (scalable targets are disabled)");
  static constexpr size_t kGroups = kVirtualLanes / hn::MaxLanes(DF());  // vectors per 16

#if HWY_TARGET == HWY_SCALAR
  explicit FixedOrderSum(DF) {}
  template <size_t kGroup>
  HWY_INLINE void Add(VF v) {
    lanes_[kGroup] += hn::GetLane(v);
  }
  double Total() const {
    double total = 0;
    for (double lane : lanes_) total += lane;
    return total;
  }

 private:
  double lanes_[kVirtualLanes] = {};
#else
  explicit FixedOrderSum(DF) {
    for (size_t g = 0; g < kGroups; ++g) lo_[g] = hi_[g] = hn::Zero(dd_);
  }
  template <size_t kGroup>
  HWY_INLINE void Add(VF v) {
    lo_[kGroup] = hn::Add(lo_[kGroup], hn::PromoteTo(dd_, hn::LowerHalf(dh_, v)));
    hi_[kGroup] = hn::Add(hi_[kGroup], hn::PromoteTo(dd_, hn::UpperHalf(dh_, v)));
  }
  double Total() const {
    HWY_ALIGN double lanes[kVirtualLanes];
    const size_t half = hn::Lanes(dd_);
    for (size_t g = 0; g < kGroups; ++g) {  // group g holds elements [g N, (g + 1) N) of each 16
      hn::Store(lo_[g], dd_, lanes + g * 2 * half);
      hn::Store(hi_[g], dd_, lanes + g * 2 * half + half);
    }
    double total = 0;
    for (size_t j = 0; j < kVirtualLanes; ++j) total += lanes[j];
    return total;
  }

 private:
  hn::Half<DF> dh_;
  hn::Rebind<double, hn::Half<DF>> dd_;
  hn::Vec<hn::Rebind<double, hn::Half<DF>>> lo_[kGroups], hi_[kGroups];
#endif
};

template <size_t kCount, class Fn>
HWY_INLINE void Unroll(Fn&& fn) {
  if constexpr (kCount > 0) {
    Unroll<kCount - 1>(fn);
    fn(std::integral_constant<size_t, kCount - 1>());
  }
}

// Calls fn(i, group) for i = 0, N, 2N, ... < n, with group = (i / N) mod
// FixedOrderSum::kGroups as a compile-time constant (std::integral_constant).
template <class Fn>
HWY_INLINE void ForEachVectorGrouped(size_t n, Fn&& fn) {
  constexpr size_t kGroups = FixedOrderSum::kGroups;
  const size_t N = hn::Lanes(DF());
  for (size_t i = 0; i < n; i += kGroups * N) {
    Unroll<kGroups>([&](auto group) {
      const size_t j = i + group * N;
      if (j < n) fn(j, group);
    });
  }
}

// float16 bits (widened to 32-bit lanes) -> float32, by bit manipulation, the
// same on every target (Highway 1.0.3's emulated conversion turns inf and NaN
// into 65536 on targets without F16C).
template <class VU>
HWY_INLINE VF Float16BitsToFloat(DF d, VU h) {
  const hn::RebindToUnsigned<DF> du;
  const auto magnitude = hn::ShiftLeft<13>(hn::And(h, hn::Set(du, 0x7FFFu)));
  // Reinterpreted as float, magnitude is the value times 2^-112, for normal
  // and subnormal halves alike: one exact multiply restores it.
  VF v = hn::Mul(hn::BitCast(d, magnitude), hn::Set(d, 5.192296858534828e33f));  // 2^112
  const auto special = hn::Eq(hn::And(h, hn::Set(du, 0x7C00u)), hn::Set(du, 0x7C00u));
  const auto inf_nan = hn::Or(magnitude, hn::Set(du, 0x7F800000u));  // keeps the NaN payload
  v = hn::IfThenElse(hn::RebindMask(d, special), hn::BitCast(d, inf_nan), v);
  const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u)));
  return hn::BitCast(d, hn::Or(hn::BitCast(du, v), sign));
}

// Loads the N elements of `type` at src + i as floats; lanes at or past n are -inf.
template <FloatType kType>
HWY_INLINE VF LoadElements(DF d, const void* src, size_t i, size_t n) {
  const size_t N = hn::Lanes(d);
  if constexpr (kType == FloatType::kF32) {
    const float* p = static_cast<const float*>(src) + i;
    return i + N <= n ? hn::LoadU(d, p) : LoadPadded(d, p, n - i, kNegInf);
  } else {
    // 16-bit types: widen through a stack buffer on the tail, directly otherwise.
    const uint16_t* p = static_cast<const uint16_t*>(src) + i;
    HWY_ALIGN uint16_t buf[kMaxFloatLanes];
    if (i + N > n) {
      const uint16_t neg_inf = kType == FloatType::kBF16 ? 0xFF80 : 0xFC00;
      for (size_t k = 0; k < N; ++k) buf[k] = i + k < n ? p[k] : neg_inf;
      p = buf;
    }
    const hn::Rebind<uint16_t, DF> du16;
    const auto bits = hn::PromoteTo(hn::RebindToUnsigned<DF>(), hn::LoadU(du16, p));
    if constexpr (kType == FloatType::kBF16) {
      return hn::BitCast(d, hn::ShiftLeft<16>(bits));  // bfloat16 is float32's top half
    } else {
      return Float16BitsToFloat(d, bits);
    }
  }
}

// Whether each of the N lanes of tokens [i, i + N) is set in `mask` (bit t % 32
// of word t / 32). REQUIRES: i is a multiple of N, and N divides 32.
HWY_INLINE auto MaskLanes(DF d, const uint32_t* mask, size_t i) {
  const hn::RebindToUnsigned<DF> du;
  const auto lane_bit = hn::Shl(hn::Set(du, 1u), hn::Iota(du, 0));
  const uint32_t word = mask[i / 32] >> (i % 32);
  return hn::RebindMask(d, hn::TestBit(hn::Set(du, word), lane_bit));
}

// One pass: convert, divide, check for NaN / +inf, mask, track the max, store.
// Specialised on the element type, whether to divide, whether to mask and
// whether to store. A NaN or +inf is reported wherever it is; an overflow of
// the division only where the mask allows the token (a masked token is -inf
// whatever its value).
template <FloatType kType, bool kDivide, bool kMask, bool kStore>
HWY_INLINE LoadStats LoadLoop(const void* src, size_t n, float divisor, const uint32_t* mask,
                              float* dst) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF inf = hn::Set(d, std::numeric_limits<float>::infinity());
  const VF neg_inf = hn::Neg(inf);
  const VF div = hn::Set(d, divisor);
  VF max = neg_inf;
  auto invalid = hn::Zero(d);
  for (size_t i = 0; i < n; i += N) {
    VF v = LoadElements<kType>(d, src, i, n);
    invalid = hn::Or(invalid, hn::VecFromMask(d, hn::Or(hn::IsNaN(v), hn::Eq(v, inf))));
    if (kDivide) {
      // A huge logit over a small T overflows: to +inf, or to -inf from a
      // finite negative logit; both are reported.
      const VF before = v;
      v = hn::Div(v, div);
      auto overflow = hn::Or(hn::Eq(v, inf), hn::And(hn::Eq(v, neg_inf), hn::Ne(before, neg_inf)));
      if (kMask) overflow = hn::And(overflow, MaskLanes(d, mask, i));
      invalid = hn::Or(invalid, hn::VecFromMask(d, overflow));
    }
    if (kMask) v = hn::IfThenElse(MaskLanes(d, mask, i), v, neg_inf);
    max = hn::Max(max, v);
    if (!kStore) continue;
    if (i + N <= n) {
      hn::StoreU(v, d, dst + i);
    } else {
      StorePartial(d, v, dst + i, n - i);
    }
  }
  LoadStats stats;
  stats.has_invalid = !hn::AllFalse(d, hn::MaskFromVec(invalid));
  stats.max = n == 0 ? kNegInf : hn::GetLane(hn::MaxOfLanes(d, max));
  return stats;
}

template <FloatType kType, bool kDivide>
HWY_INLINE LoadStats LoadRowMaybeMasked(const void* src, size_t n, float divisor,
                                        const uint32_t* mask, float* dst) {
  if (mask != nullptr) return LoadLoop<kType, kDivide, true, true>(src, n, divisor, mask, dst);
  return dst ? LoadLoop<kType, kDivide, false, true>(src, n, divisor, mask, dst)
             : LoadLoop<kType, kDivide, false, false>(src, n, divisor, mask, dst);
}

template <FloatType kType>
HWY_INLINE LoadStats LoadRowOfType(const void* src, size_t n, float divisor, const uint32_t* mask,
                                   float* dst) {
  if (divisor == 1.0f) return LoadRowMaybeMasked<kType, false>(src, n, divisor, mask, dst);
  return LoadRowMaybeMasked<kType, true>(src, n, divisor, mask, dst);
}

HWY_NOINLINE LoadStats LoadRowImpl(const void* src, FloatType type, size_t n, float divisor,
                                   const uint32_t* mask, float* dst) {
  switch (type) {
    case FloatType::kBF16: return LoadRowOfType<FloatType::kBF16>(src, n, divisor, mask, dst);
    case FloatType::kF16: return LoadRowOfType<FloatType::kF16>(src, n, divisor, mask, dst);
    case FloatType::kF32: break;
  }
  return LoadRowOfType<FloatType::kF32>(src, n, divisor, mask, dst);
}

HWY_NOINLINE bool DivideInPlaceImpl(float* x, size_t n, float divisor) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF div = hn::Set(d, divisor), neg_inf = hn::Set(d, kNegInf);
  auto overflow = hn::Zero(d);
  for (size_t i = 0; i < n; i += N) {
    const bool full = i + N <= n;
    const VF v = full ? hn::LoadU(d, x + i) : LoadPadded(d, x + i, n - i, kNegInf);
    const VF q = hn::Div(v, div);
    overflow = hn::Or(overflow, hn::VecFromMask(d, hn::And(hn::Eq(q, neg_inf), hn::Ne(v, neg_inf))));
    if (full) {
      hn::StoreU(q, d, x + i);
    } else {
      StorePartial(d, q, x + i, n - i);
    }
  }
  return hn::AllFalse(d, hn::MaskFromVec(overflow));
}

HWY_NOINLINE void MultiplyImpl(float* x, size_t n, float scale) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF s = hn::Set(d, scale);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), s), d, x + i);
  if (i < n) StorePartial(d, hn::Mul(LoadPadded(d, x + i, n - i, 0.0f), s), x + i, n - i);
}

HWY_NOINLINE float MaxImpl(const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  VF max0 = hn::Set(d, kNegInf), max1 = max0;
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    max0 = hn::Max(max0, hn::LoadU(d, x + i));
    max1 = hn::Max(max1, hn::LoadU(d, x + i + N));
  }
  for (; i < n; i += N) {
    max0 = hn::Max(max0, i + N <= n ? hn::LoadU(d, x + i) : LoadPadded(d, x + i, n - i, kNegInf));
  }
  return hn::GetLane(hn::MaxOfLanes(d, hn::Max(max0, max1)));
}

HWY_NOINLINE size_t FindFirstImpl(const float* x, size_t n, float value) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF v = hn::Set(d, value);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {  // two vectors per test: one branch per 2N values
    const auto m0 = hn::Eq(hn::LoadU(d, x + i), v), m1 = hn::Eq(hn::LoadU(d, x + i + N), v);
    if (!hn::AllFalse(d, hn::Or(m0, m1))) {
      const intptr_t first = hn::FindFirstTrue(d, m0);
      return first >= 0 ? i + size_t(first) : i + N + size_t(hn::FindFirstTrue(d, m1));
    }
  }
  for (; i < n; ++i) {
    if (x[i] == value) return i;
  }
  return n;
}

HWY_NOINLINE size_t ArgMaxImpl(const float* x, size_t n) {
  const size_t first = FindFirstImpl(x, n, MaxImpl(x, n));
  return first < n ? first : 0;  // all -inf: the first -inf equals the max and is found
}

// exp(s) for s <= 0, the only arguments softmax needs (s = x - max).
// Range reduction s = q·ln2 + r with integer q and |r| <= ln2/2, then a
// degree-7 Taylor polynomial (truncation error r^8/8! <= 5.2e-9 relative)
// evaluated by Horner with FMA, then 2^q built in the exponent bits.
// Accuracy: <= 2 ulp for s in [-87.3, 0]; 0 below, where exp(s) < 1.2e-38
// (the float normal range ends; softmax promises absolute error 1e-30 there).
//
// `err` (default 0) is a small correction added to the reduced argument:
// the result is exp(s + err) even where s + err would round back to s.
HWY_INLINE VF ExpNonPositive(DF d, VF s, VF err) {
  const hn::RebindToSigned<DF> di;
  s = hn::Max(s, hn::Set(d, -88.0f));  // keeps q in range; masked to 0 below
  const VF kMagic = hn::Set(d, 12582912.0f);  // 1.5 · 2^23: float adds round to integers
  const VF t = hn::MulAdd(s, hn::Set(d, 1.44269504088896341f), kMagic);
  const VF q = hn::Sub(t, kMagic);  // round(s / ln 2), exactly
  // ln 2 split so that q · kLn2Hi is exact for |q| < 2^8.
  VF r = hn::NegMulAdd(q, hn::Set(d, 0.693145751953125f), s);
  r = hn::NegMulAdd(q, hn::Set(d, 1.428606765330187e-06f), r);
  r = hn::Add(r, err);
  VF p = hn::Set(d, 1.0f / 5040.0f);
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 720.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 120.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 24.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f / 6.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 0.5f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  // 2^q: q + 127 in the exponent field. The low bits of t hold q (two's complement).
  const auto q_int = hn::Sub(hn::BitCast(di, t), hn::BitCast(di, kMagic));
  const VF scale = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(q_int, hn::Set(di, 127))));
  // Also zeroes a NaN err (from x = -inf), since s is then clamped to -88.
  return hn::IfThenElseZero(hn::Ge(s, hn::Set(d, -87.33f)), hn::Mul(p, scale));
}

// exp(x - shift), with the rounding error of the subtraction folded back in:
// exp(s + err) with s = fl(x - shift) and err = (x - shift) - s exactly
// (TwoSum), |err| <= ulp(s) / 2, which matters once |s| is large.
template <bool kWeighted>
HWY_INLINE VF ExpShiftedVector(DF d, VF x, VF shift, VF& diff) {
  const VF neg_shift = hn::Neg(shift);
  const VF s = hn::Add(x, neg_shift);
  const VF x_part = hn::Sub(s, neg_shift);
  const VF shift_part = hn::Sub(s, x_part);
  const VF err = hn::Add(hn::Sub(x, x_part), hn::Sub(neg_shift, shift_part));
  if (kWeighted) diff = s;
  return ExpNonPositive(d, s, err);
}

template <bool kWeighted, bool kDivide>
HWY_INLINE ExpSums ExpShiftedLoop(const float* x, size_t n, float shift_scalar, float* e,
                                  float divisor) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF shift = hn::Set(d, shift_scalar);
  const VF div = hn::Set(d, divisor);
  FixedOrderSum sum(d), weighted(d);
  ForEachVectorGrouped(n, [&](size_t i, auto group) {
    constexpr size_t g = decltype(group)::value;
    const bool full = i + N <= n;
    VF v = full ? hn::LoadU(d, x + i) : LoadPadded(d, x + i, n - i, kNegInf);
    if (kDivide) v = hn::Div(v, div);
    VF diff = hn::Zero(d);
    const VF ev = ExpShiftedVector<kWeighted>(d, v, shift, diff);
    sum.template Add<g>(ev);
    if (kWeighted) {
      weighted.template Add<g>(hn::IfThenElseZero(hn::Gt(ev, hn::Zero(d)), hn::Mul(ev, diff)));
    }
    if (e != nullptr) {
      if (full) {
        hn::StoreU(ev, d, e + i);
      } else {
        StorePartial(d, ev, e + i, n - i);
      }
    }
  });
  return ExpSums{sum.Total(), kWeighted ? weighted.Total() : 0.0};
}

HWY_NOINLINE ExpSums ExpShiftedImpl(const float* x, size_t n, float shift, float* e,
                                    bool weighted, float divisor) {
  if (divisor != 1.0f) {
    return weighted ? ExpShiftedLoop<true, true>(x, n, shift, e, divisor)
                    : ExpShiftedLoop<false, true>(x, n, shift, e, divisor);
  }
  return weighted ? ExpShiftedLoop<true, false>(x, n, shift, e, divisor)
                  : ExpShiftedLoop<false, false>(x, n, shift, e, divisor);
}

HWY_NOINLINE void ExpImpl(const float* x, size_t n, float* out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(ExpNonPositive(d, hn::LoadU(d, x + i), hn::Zero(d)), d, out + i);
  if (i < n) StorePartial(d, ExpNonPositive(d, LoadPadded(d, x + i, n - i, 0.0f), hn::Zero(d)), out + i,
                           n - i);
}

HWY_NOINLINE size_t MaskBelowImpl(const float* key, size_t n, float threshold, float* x,
                                  float* e) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF thr = hn::Set(d, threshold);
  const VF neg_inf = hn::Set(d, kNegInf);
  size_t kept = 0;
  for (size_t i = 0; i < n; i += N) {
    const bool full = i + N <= n;
    const size_t count = full ? N : n - i;
    const VF k = full ? hn::LoadU(d, key + i) : LoadPadded(d, key + i, count, kNegInf);
    const auto keep = hn::Ge(k, thr);
    kept += hn::CountTrue(d, keep);
    if (hn::AllTrue(d, keep)) continue;
    const VF xv = full ? hn::LoadU(d, x + i) : LoadPadded(d, x + i, count, kNegInf);
    const VF xm = hn::IfThenElse(keep, xv, neg_inf);
    if (full) {
      hn::StoreU(xm, d, x + i);
    } else {
      StorePartial(d, xm, x + i, count);
    }
    if (e != nullptr) {
      const VF ev = full ? hn::LoadU(d, e + i) : LoadPadded(d, e + i, count, 0.0f);
      const VF em = hn::IfThenElseZero(keep, ev);
      if (full) {
        hn::StoreU(em, d, e + i);
      } else {
        StorePartial(d, em, e + i, count);
      }
    }
  }
  return kept;
}

template <bool kGreater>
HWY_INLINE size_t CountCompare(const float* x, size_t n, float value) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF v = hn::Set(d, value);
  size_t count = 0;
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const VF xv = hn::LoadU(d, x + i);
    count += hn::CountTrue(d, kGreater ? hn::Gt(xv, v) : hn::Eq(xv, v));
  }
  for (; i < n; ++i) count += kGreater ? x[i] > value : x[i] == value;
  return count;
}

HWY_NOINLINE size_t CountGreaterImpl(const float* x, size_t n, float value) {
  return CountCompare<true>(x, n, value);
}
HWY_NOINLINE size_t CountEqualImpl(const float* x, size_t n, float value) {
  return CountCompare<false>(x, n, value);
}

HWY_NOINLINE FiniteRange FiniteMinMaxImpl(const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF neg_inf = hn::Set(d, kNegInf), pos_inf = hn::Set(d, -kNegInf);
  VF min = pos_inf, max = neg_inf;
  size_t count = 0;
  for (size_t i = 0; i < n; i += N) {
    const VF v = i + N <= n ? hn::LoadU(d, x + i) : LoadPadded(d, x + i, n - i, kNegInf);
    const auto finite = hn::Ne(v, neg_inf);
    count += hn::CountTrue(d, finite);
    min = hn::Min(min, hn::IfThenElse(finite, v, pos_inf));
    max = hn::Max(max, v);
  }
  return FiniteRange{hn::GetLane(hn::MinOfLanes(d, min)), hn::GetLane(hn::MaxOfLanes(d, max)),
                     count};
}

HWY_NOINLINE Moments FiniteMomentsImpl(const float* x, size_t n, float shift) {
  // Scalar and in double: top-nσ runs once per row on the kept set, and a
  // float (x - shift) or its square can overflow on rows spanning ±1e30.
  Moments m{0, 0.0, 0.0};
  for (size_t i = 0; i < n; ++i) {
    if (x[i] == kNegInf) continue;
    const double d = static_cast<double>(x[i]) - shift;
    ++m.count;
    m.sum += d;
    m.sum_sq += d * d;
  }
  return m;
}

HWY_NOINLINE void DistanceKeysImpl(const float* x, size_t n, float center, float* key) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF c = hn::Set(d, center);
  const VF neg_inf = hn::Set(d, kNegInf);
  for (size_t i = 0; i < n; i += N) {
    const bool full = i + N <= n;
    const VF v = full ? hn::LoadU(d, x + i) : LoadPadded(d, x + i, n - i, kNegInf);
    const VF k = hn::IfThenElse(hn::Eq(v, neg_inf), neg_inf, hn::Neg(hn::Abs(hn::Sub(c, v))));
    if (full) {
      hn::StoreU(k, d, key + i);
    } else {
      StorePartial(d, k, key + i, n - i);
    }
  }
}

HWY_INLINE double SumInFixedOrder(const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  FixedOrderSum sum(d);
  ForEachVectorGrouped(n, [&](size_t i, auto group) {
    sum.template Add<decltype(group)::value>(i + N <= n ? hn::LoadU(d, x + i)
                                                         : LoadPadded(d, x + i, n - i, 0.0f));
  });
  return sum.Total();
}

HWY_NOINLINE void BlockSumsImpl(const float* e, size_t n, size_t block, double* sums) {
  for (size_t b = 0, start = 0; start < n; ++b, start += block) {
    sums[b] = SumInFixedOrder(e + start, start + block < n ? block : n - start);
  }
}

HWY_NOINLINE double SumToDoubleImpl(const float* x, size_t n) { return SumInFixedOrder(x, n); }

HWY_NOINLINE float DotImpl(const float* x, const float* y, size_t n) { return DotF32(x, y, n); }

// Up to four vectors of out stay in registers while every row is added in.
HWY_NOINLINE void WeightedSumImpl(const float* rows, size_t stride, size_t count, const float* weights,
                                  size_t n, float* out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  size_t j = 0;
  for (; j + 4 * N <= n; j += 4 * N) {
    VF acc[4] = {hn::Zero(d), hn::Zero(d), hn::Zero(d), hn::Zero(d)};
    for (size_t i = 0; i < count; ++i) {
      const VF w = hn::Set(d, weights[i]);
      const float* row = rows + i * stride + j;
      for (size_t k = 0; k < 4; ++k) acc[k] = hn::MulAdd(w, hn::LoadU(d, row + k * N), acc[k]);
    }
    for (size_t k = 0; k < 4; ++k) hn::StoreU(acc[k], d, out + j + k * N);
  }
  for (; j + N <= n; j += N) {
    VF acc = hn::Zero(d);
    for (size_t i = 0; i < count; ++i) {
      acc = hn::MulAdd(hn::Set(d, weights[i]), hn::LoadU(d, rows + i * stride + j), acc);
    }
    hn::StoreU(acc, d, out + j);
  }
  const hn::CappedTag<float, 1> d1;  // the tail, one lane, with the same MulAdd
  for (; j < n; ++j) {
    auto acc = hn::Zero(d1);
    for (size_t i = 0; i < count; ++i) {
      acc = hn::MulAdd(hn::Set(d1, weights[i]), hn::LoadU(d1, rows + i * stride + j), acc);
    }
    hn::StoreU(acc, d1, out + j);
  }
}

HWY_NOINLINE void DotsImpl(const float* rows, size_t stride, size_t count, const float* y, size_t n, float* out) {
  for (size_t i = 0; i < count; ++i) out[i] = DotF32(rows + i * stride, y, n);
}

HWY_NOINLINE void BlockMaxImpl(const float* x, size_t n, size_t block, float* out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  for (size_t b = 0, start = 0; start < n; ++b, start += block) {
    const size_t end = start + block < n ? start + block : n;
    VF max = hn::Set(d, kNegInf);
    for (size_t i = start; i < end; i += N) {
      max = hn::Max(max, i + N <= end ? hn::LoadU(d, x + i) : LoadPadded(d, x + i, end - i, kNegInf));
    }
    out[b] = hn::GetLane(hn::MaxOfLanes(d, max));
  }
}

HWY_NOINLINE void BucketIndexImpl(const float* key, size_t n, float lo, float scale,
                                  uint16_t max_bucket, uint16_t* out) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint16_t, DF> d16;  // half-width: one uint16 per float lane
  const size_t N = hn::Lanes(d);
  const VF vlo = hn::Set(d, lo), vscale = hn::Set(d, scale), neg_inf = hn::Set(d, kNegInf);
  const VF vmax = hn::Set(d, static_cast<float>(max_bucket));
  const auto none = hn::Set(di, kNoBucket);
  for (size_t i = 0; i < n; i += N) {
    const bool full = i + N <= n;
    const VF k = full ? hn::LoadU(d, key + i) : LoadPadded(d, key + i, n - i, kNegInf);
    // Finite keys give (k - lo) * scale in [0, (hi - lo) * scale]; clamp, then
    // truncate (monotone); -inf gets kNoBucket.
    const VF scaled = hn::Min(hn::Max(hn::Mul(hn::Sub(k, vlo), vscale), hn::Zero(d)), vmax);
    const auto b = hn::IfThenElse(hn::RebindMask(di, hn::Eq(k, neg_inf)), none,
                                  hn::ConvertTo(di, scaled));
    const auto b16 = hn::DemoteTo(d16, b);
    if (full) {
      hn::StoreU(b16, d16, out + i);
    } else {
      HWY_ALIGN uint16_t buf[kMaxFloatLanes];
      hn::Store(b16, d16, buf);
      for (size_t j = 0; j < n - i; ++j) out[i + j] = buf[j];
    }
  }
}

HWY_NOINLINE size_t FindBucketImpl(const uint16_t* bucket, size_t n, uint16_t value,
                                   uint32_t* positions) {
  const hn::ScalableTag<uint16_t> d16;
  const size_t N = hn::Lanes(d16);
  const auto v = hn::Set(d16, value);
  size_t found = 0, i = 0;
  for (; i + N <= n; i += N) {
    const auto eq = hn::Eq(hn::LoadU(d16, bucket + i), v);
    if (hn::AllFalse(d16, eq)) continue;  // most vectors hold no member
    for (size_t j = 0; j < N; ++j) {
      if (bucket[i + j] == value) positions[found++] = static_cast<uint32_t>(i + j);
    }
  }
  for (; i < n; ++i) {
    if (bucket[i] == value) positions[found++] = static_cast<uint32_t>(i);
  }
  return found;
}

HWY_NOINLINE size_t FindFiniteImpl(const float* x, size_t n, uint32_t* positions) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF neg_inf = hn::Set(d, kNegInf);
  size_t found = 0, i = 0;
  for (; i + N <= n; i += N) {
    if (hn::AllTrue(d, hn::Eq(hn::LoadU(d, x + i), neg_inf))) continue;
    for (size_t j = 0; j < N; ++j) {
      if (x[i + j] != kNegInf) positions[found++] = static_cast<uint32_t>(i + j);
    }
  }
  for (; i < n; ++i) {
    if (x[i] != kNegInf) positions[found++] = static_cast<uint32_t>(i);
  }
  return found;
}

// Walks the grid in groups of 4 temperatures per pass over a chunk of 256
// elements (L1-resident): e holds exp(-beta g) at the group's first beta.
HWY_NOINLINE void TemperatureMomentsImpl(const float* x, size_t n, float max, double beta_step,
                                         size_t count, double* s0, double* s1, double* s2) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;  // as many floats as dd has doubles
  using VD = hn::Vec<decltype(dd)>;
  const size_t N = hn::Lanes(dd);
  constexpr size_t kChunk = 256, kGroup = 4;
  HWY_ALIGN double g[kChunk], g2[kChunk], step_exp[kChunk], e[kChunk];
  HWY_ALIGN float pad[kMaxFloatLanes];
  double t0[kMaxTemperatureMoments + kGroup] = {}, t1[kMaxTemperatureMoments + kGroup] = {},
         t2[kMaxTemperatureMoments + kGroup] = {};
  const VD vmax = hn::Set(dd, static_cast<double>(max)), neg_step = hn::Set(dd, -beta_step);
  const VD lowest = hn::Set(dd, -700.0);  // exp's argument floor: e^-700 > 0, no overflow
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t len = n - start < kChunk ? n - start : kChunk;
    size_t padded = 0;
    for (; padded < len; padded += N) {
      hn::Vec<decltype(dfh)> xf;
      if (padded + N <= len) {
        xf = hn::LoadU(dfh, x + start + padded);
      } else {
        for (size_t i = 0; i < N; ++i) pad[i] = padded + i < len ? x[start + padded + i] : kNegInf;
        xf = hn::LoadU(dfh, pad);
      }
      const VD xd = hn::PromoteTo(dd, xf);
      const auto finite = hn::Gt(xd, hn::Set(dd, -std::numeric_limits<double>::infinity()));
      const VD gap = hn::IfThenElseZero(finite, hn::Sub(vmax, xd));
      const VD step = hn::IfThenElseZero(finite, hn::Exp(dd, hn::Max(hn::Mul(gap, neg_step), lowest)));
      hn::Store(gap, dd, g + padded);
      hn::Store(hn::Mul(gap, gap), dd, g2 + padded);
      hn::Store(step, dd, step_exp + padded);
      hn::Store(step, dd, e + padded);
    }
    for (size_t k = 0; k < count; k += kGroup) {
      VD a0[kGroup], a1[kGroup], a2[kGroup];
      for (size_t q = 0; q < kGroup; ++q) a0[q] = a1[q] = a2[q] = hn::Zero(dd);
      for (size_t i = 0; i < padded; i += N) {
        const VD gi = hn::Load(dd, g + i), g2i = hn::Load(dd, g2 + i), si = hn::Load(dd, step_exp + i);
        VD ei = hn::Load(dd, e + i);
        for (size_t q = 0; q < kGroup; ++q) {
          if (q) ei = hn::Mul(ei, si);
          a0[q] = hn::Add(a0[q], ei);
          a1[q] = hn::MulAdd(gi, ei, a1[q]);
          a2[q] = hn::MulAdd(g2i, ei, a2[q]);
        }
        hn::Store(hn::Mul(ei, si), dd, e + i);
      }
      for (size_t q = 0; q < kGroup; ++q) {
        t0[k + q] += hn::GetLane(hn::SumOfLanes(dd, a0[q]));
        t1[k + q] += hn::GetLane(hn::SumOfLanes(dd, a1[q]));
        t2[k + q] += hn::GetLane(hn::SumOfLanes(dd, a2[q]));
      }
    }
  }
  for (size_t k = 0; k < count; ++k) {
    s0[k] += t0[k];
    s1[k] += t1[k];
    s2[k] += t2[k];
  }
}

}  // namespace logitkit::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
