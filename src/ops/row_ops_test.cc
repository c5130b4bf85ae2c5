// Row kernels against scalar references, on every compiled SIMD target, for
// every size up to three vectors plus the tails.
#include "ops/row_ops.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "hwy/targets.h"

namespace logitkit::ops {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

template <typename Fn>
void ForEachTargetAndSize(Fn fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    std::mt19937_64 rng(target);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (size_t n = 1; n <= 3 * 16 + 3; ++n) {
      std::vector<float> x(n);
      for (float& v : x) v = normal(rng);
      if (n > 3) x[n / 2] = kNegInf;
      fn(hwy::TargetName(target), x);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(RowOps, ExpShiftedIsAccurateAndSumsInDouble) {
  ForEachTargetAndSize([](const char* target, const std::vector<float>& x) {
    const float shift = *std::max_element(x.begin(), x.end());
    std::vector<float> e(x.size());
    const ExpSums sums = ExpShifted(x.data(), x.size(), shift, e.data(), true);
    long double sum = 0, weighted = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const long double ref = x[i] == kNegInf ? 0 : std::exp((long double)x[i] - shift);
      ASSERT_LE(std::fabs(e[i] - ref), 3e-7L * ref) << target << " i=" << i;
      sum += ref;
      if (ref > 0) weighted += ref * ((long double)x[i] - shift);
    }
    EXPECT_NEAR(sums.sum, (double)sum, 1e-6 * (double)sum) << target;
    EXPECT_NEAR(sums.weighted, (double)weighted, 1e-5 * (1 + std::fabs((double)weighted))) << target;
  });
}

TEST(RowOps, ExpIsWithinTwoUlpOnTheNonPositiveRangeOnEveryTarget) {
  std::vector<float> x;
  for (float v = -87.0f; v <= 0.0f; v += 0.00173f) x.push_back(v);
  x.push_back(0.0f);
  x.push_back(-87.3f);
  std::vector<float> out(x.size());
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    Exp(x.data(), x.size(), out.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const long double ref = std::exp(static_cast<long double>(x[i]));
      ASSERT_LE(std::fabs(out[i] - ref), 2.4e-7L * ref) << hwy::TargetName(target) << " x=" << x[i];
    }
    EXPECT_EQ(out[x.size() - 2], 1.0f);  // exp(0) is exact
    const float below[3] = {-88.0f, -1000.0f, kNegInf};
    float zero[3] = {1, 1, 1};
    Exp(below, 3, zero);
    EXPECT_EQ(zero[0] + zero[1] + zero[2], 0.0f);
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(RowOps, ExpShiftedCarriesTheSubtractionError) {
  // x - shift is inexact in float here; the error is folded back in.
  const std::vector<float> x = {-60.123456f, 10.5f, -58.000004f};
  std::vector<float> e(3);
  ExpShifted(x.data(), 3, 10.5f, e.data(), false);
  for (size_t i = 0; i < 3; ++i) {
    const long double ref = std::exp((long double)x[i] - 10.5L);
    EXPECT_LE(std::fabs(e[i] - ref), 3e-7L * ref) << i;
  }
}

TEST(RowOps, ArgMaxMaxAndCountsMatchScalar) {
  ForEachTargetAndSize([](const char* target, std::vector<float> x) {
    x.back() = *std::max_element(x.begin(), x.end());  // a tie with the first maximum
    const size_t first = std::max_element(x.begin(), x.end()) - x.begin();
    EXPECT_EQ(ArgMax(x.data(), x.size()), first) << target;
    EXPECT_EQ(FindFirst(x.data(), x.size(), x[first]), first) << target;
    const size_t some = x.size() / 2;
    EXPECT_EQ(FindFirst(x.data(), x.size(), x[some]), size_t(std::find(x.begin(), x.end(), x[some]) - x.begin()))
        << target;
    EXPECT_EQ(FindFirst(x.data(), x.size(), 12345.0f), x.size()) << target;
    EXPECT_EQ(Max(x.data(), x.size()), x[first]) << target;
    const float v = x[x.size() / 3];
    EXPECT_EQ(CountGreater(x.data(), x.size(), v),
              (size_t)std::count_if(x.begin(), x.end(), [v](float a) { return a > v; }));
    EXPECT_EQ(CountEqual(x.data(), x.size(), v), (size_t)std::count(x.begin(), x.end(), v));
  });
}

TEST(RowOps, MaskBelowRemovesExactlyTheSmallerKeys) {
  ForEachTargetAndSize([](const char* target, const std::vector<float>& key) {
    const float threshold = key[key.size() / 2 == 0 ? 0 : key.size() / 2 - 1];
    std::vector<float> x = key, e(key.size(), 1.0f);
    const size_t kept = MaskBelow(key.data(), key.size(), threshold, x.data(), e.data());
    size_t expected = 0;
    for (size_t i = 0; i < key.size(); ++i) {
      const bool keep = key[i] >= threshold;
      expected += keep;
      EXPECT_EQ(x[i], keep ? key[i] : kNegInf) << target;
      EXPECT_EQ(e[i], keep ? 1.0f : 0.0f) << target;
    }
    EXPECT_EQ(kept, expected) << target;
  });
}

TEST(RowOps, LoadRowConvertsDividesAndFlagsInvalidValues) {
  ForEachTargetAndSize([](const char* target, std::vector<float> x) {
    std::vector<float> out(x.size() + 1, 7.0f);
    LoadStats s = LoadRow(x.data(), FloatType::kF32, x.size(), 0.7f, out.data());
    float max = kNegInf;
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(out[i], x[i] / 0.7f) << target;
      max = std::max(max, out[i]);
    }
    EXPECT_EQ(out.back(), 7.0f) << "wrote past n";
    EXPECT_EQ(s.max, max);
    EXPECT_FALSE(s.has_invalid);
    x[x.size() - 1] = NAN;
    EXPECT_TRUE(LoadRow(x.data(), FloatType::kF32, x.size(), 1.0f, out.data()).has_invalid);
    x[x.size() - 1] = INFINITY;
    EXPECT_TRUE(LoadRow(x.data(), FloatType::kF32, x.size(), 1.0f, out.data()).has_invalid);
  });
}

// The mask against a scalar reference: bit i % 32 of word i / 32, sizes
// across word boundaries (up to 3 vectors + tails, and 32 + 33), every target.
TEST(RowOps, LoadRowMaskedSetsMaskedTokensToMinusInfInTheSamePass) {
  ForEachTargetAndSize([](const char* target, std::vector<float> x) {
    for (size_t n : {x.size(), x.size() + 33}) {
      std::vector<float> row(n);
      for (size_t i = 0; i < n; ++i) row[i] = x[i % x.size()] + 0.01f * static_cast<float>(i);
      std::vector<uint32_t> mask((n + 31) / 32);
      std::mt19937 rng(static_cast<uint32_t>(n));
      for (uint32_t& w : mask) w = rng();
      for (float divisor : {1.0f, 0.7f}) {
        std::vector<float> out(n + 1, 7.0f);
        const LoadStats s =
            LoadRowMasked(row.data(), FloatType::kF32, n, divisor, mask.data(), out.data());
        float max = kNegInf;
        for (size_t i = 0; i < n; ++i) {
          const bool allowed = (mask[i / 32] >> (i % 32)) & 1u;
          const float want = allowed ? row[i] / divisor : kNegInf;
          ASSERT_EQ(out[i], want) << target << " n=" << n << " i=" << i;
          max = std::max(max, want);
        }
        EXPECT_EQ(out.back(), 7.0f) << "wrote past n";
        EXPECT_EQ(s.max, max) << target;
        EXPECT_FALSE(s.has_invalid) << target;
      }
      // NaN is invalid even on a masked token; an overflow of the division
      // only on an allowed one.
      std::vector<float> out(n);
      std::vector<uint32_t> none(mask.size(), 0u), all(mask.size(), ~0u);
      row[n - 1] = NAN;
      EXPECT_TRUE(LoadRowMasked(row.data(), FloatType::kF32, n, 1.0f, none.data(), out.data())
                      .has_invalid) << target;
      row[n - 1] = -3e38f;
      EXPECT_FALSE(LoadRowMasked(row.data(), FloatType::kF32, n, 1e-3f, none.data(), out.data())
                       .has_invalid) << target;
      EXPECT_TRUE(LoadRowMasked(row.data(), FloatType::kF32, n, 1e-3f, all.data(), out.data())
                      .has_invalid) << target;
    }
  });
}

TEST(RowOps, BlockSumsAndBlockMaxCoverEveryElementOnce) {
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.001f * i;
  std::vector<double> sums(16);
  std::vector<float> maxes(16);
  BlockSums(x.data(), x.size(), 64, sums.data());
  BlockMax(x.data(), x.size(), 64, maxes.data());
  for (size_t b = 0; b < 16; ++b) {
    double sum = 0;
    for (size_t i = b * 64; i < std::min<size_t>(1000, (b + 1) * 64); ++i) sum += x[i];
    EXPECT_NEAR(sums[b], sum, 2e-7 * sum);  // four in float, then double
    EXPECT_EQ(maxes[b], x[std::min<size_t>(999, (b + 1) * 64 - 1)]);
  }
}

TEST(RowOps, SumsAreBitwiseTheSameOnEveryTarget) {
  // The sums behind the draw and top-p: exact float -> double, fixed order.
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(100003);
  for (float& v : x) v = u(rng) * u(rng) * u(rng);
  std::vector<double> totals, blocks0, blocks_last;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    totals.push_back(SumToDouble(x.data(), x.size()));
    std::vector<double> sums((x.size() + 511) / 512);
    BlockSums(x.data(), x.size(), 512, sums.data());
    blocks0.push_back(sums[0]);
    blocks_last.push_back(sums.back());
  }
  hwy::SetSupportedTargetsForTest(0);
  ASSERT_GE(totals.size(), 2u);  // SSSE3 ... AVX2 and the portable targets run here
  for (size_t t = 1; t < totals.size(); ++t) {
    EXPECT_EQ(totals[t], totals[0]) << "target #" << t;
    EXPECT_EQ(blocks0[t], blocks0[0]) << "target #" << t;
    EXPECT_EQ(blocks_last[t], blocks_last[0]) << "target #" << t;
  }
  long double ref = 0;
  for (float v : x) ref += v;
  EXPECT_NEAR(totals[0], static_cast<double>(ref), 1e-12 * static_cast<double>(ref));
}

// Dot against float64, within its documented bound (n / 4L + 10) · 2^-24 ·
// Σ|x·y|, taken with L = 1 so it holds on every target; lengths cover whole
// groups of four vectors, single vectors and scalar tails.
TEST(RowOps, DotIsWithinItsBoundOfTheFloat64DotOnEveryTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    std::mt19937_64 rng(target);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t n : std::vector<size_t>{1, 3, 17, 64, 65, 100, 576, 4099}) {
      std::vector<float> x(n), y(n);
      for (size_t i = 0; i < n; ++i) x[i] = normal(rng), y[i] = normal(rng);
      double exact = 0, magnitude = 0;
      for (size_t i = 0; i < n; ++i) {
        exact += double(x[i]) * double(y[i]);
        magnitude += std::fabs(double(x[i]) * double(y[i]));
      }
      const double bound = (double(n) / 4 + 10) * 0x1p-24 * magnitude;
      EXPECT_NEAR(Dot(x.data(), y.data(), n), exact, bound) << hwy::TargetName(target) << " n=" << n;
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

constexpr size_t kSentinels = 20;  // floats after an output, past any vector
constexpr float kSentinel = -12345.0f;

// Dots is Dot per row, bitwise, on strided rows (keys of several heads
// interleaved, as attention reads them).
TEST(RowOps, DotsIsDotPerRowBitwiseOnEveryTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    std::mt19937_64 rng(target);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t n : std::vector<size_t>{1, 17, 64, 100}) {
      const size_t stride = 3 * n + 5, count = 37, offset = n + 2;
      // rows ends with the last row's n elements: a read past them is out of
      // bounds (ASan); out has sentinels after its count results.
      std::vector<float> rows(offset + (count - 1) * stride + n), y(n), out(count + kSentinels, kSentinel);
      for (float& v : rows) v = normal(rng);
      for (float& v : y) v = normal(rng);
      Dots(rows.data() + offset, stride, count, y.data(), n, out.data());
      for (size_t i = 0; i < count; ++i) {
        const float dot = Dot(rows.data() + offset + i * stride, y.data(), n);
        EXPECT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(dot))
            << hwy::TargetName(target) << " n=" << n << " row " << i;
      }
      for (size_t i = count; i < out.size(); ++i) EXPECT_EQ(out[i], kSentinel) << hwy::TargetName(target);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// WeightedSum against float64: count terms each rounded at most twice, so
// within (2 · count + 1) · 2^-24 · Σ|w·r| per element. And lanes are
// independent: the sum over columns [1, n) equals the sum over [0, n) from
// column 1 on, bitwise, though every column moves to another lane or the tail.
TEST(RowOps, WeightedSumIsWithinItsBoundAndLaneIndependentOnEveryTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    std::mt19937_64 rng(target);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t n : std::vector<size_t>{1, 17, 64, 100}) {
      const size_t stride = 2 * n + 3, count = 41;
      std::vector<float> rows((count - 1) * stride + n), weights(count);
      std::vector<float> out(n + kSentinels, kSentinel), shifted(n - 1 + kSentinels, kSentinel);
      for (float& v : rows) v = normal(rng);
      for (float& v : weights) v = std::fabs(normal(rng));
      WeightedSum(rows.data(), stride, count, weights.data(), n, out.data());
      for (size_t j = 0; j < n; ++j) {
        double exact = 0, magnitude = 0;
        for (size_t i = 0; i < count; ++i) {
          exact += double(weights[i]) * rows[i * stride + j];
          magnitude += std::fabs(double(weights[i]) * rows[i * stride + j]);
        }
        EXPECT_NEAR(out[j], exact, (2.0 * count + 1) * 0x1p-24 * magnitude)
            << hwy::TargetName(target) << " n=" << n << " column " << j;
      }
      for (size_t j = n; j < out.size(); ++j) EXPECT_EQ(out[j], kSentinel) << hwy::TargetName(target);
      if (n == 1) continue;
      WeightedSum(rows.data() + 1, stride, count, weights.data(), n - 1, shifted.data());
      for (size_t j = 1; j < n; ++j) {
        EXPECT_EQ(std::bit_cast<uint32_t>(shifted[j - 1]), std::bit_cast<uint32_t>(out[j]))
            << hwy::TargetName(target) << " n=" << n << " column " << j;
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(RowOps, SelectionKernelsMatchScalarOnEveryTarget) {
  ForEachTargetAndSize([](const char* target, const std::vector<float>& x) {
    // FiniteMinMax
    float lo = INFINITY, hi = kNegInf;
    size_t finite = 0;
    for (float v : x) {
      if (v == kNegInf) continue;
      lo = std::min(lo, v), hi = std::max(hi, v), ++finite;
    }
    const FiniteRange r = FiniteMinMax(x.data(), x.size());
    EXPECT_EQ(r.min, lo) << target;
    EXPECT_EQ(r.max, hi) << target;
    EXPECT_EQ(r.count, finite) << target;
    // BucketIndex: monotone, in range, kNoBucket for -inf; FindBucket finds each.
    std::vector<uint16_t> b(x.size());
    BucketIndex(x.data(), x.size(), lo, 255.0f / (hi - lo + 1e-3f), 255, b.data());
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i] == kNegInf) {
        EXPECT_EQ(b[i], kNoBucket) << target;
        continue;
      }
      EXPECT_LE(b[i], 255) << target;
      for (size_t j = 0; j < x.size(); ++j) {
        if (x[j] != kNegInf && x[j] < x[i]) {
          EXPECT_LE(b[j], b[i]) << target << " not monotone";
        }
      }
    }
    std::vector<uint32_t> pos(x.size());
    const size_t found = FindBucket(b.data(), b.size(), b[0], pos.data());
    std::vector<uint32_t> expected;
    for (size_t i = 0; i < b.size(); ++i) {
      if (b[i] == b[0]) expected.push_back(static_cast<uint32_t>(i));
    }
    EXPECT_EQ(std::vector<uint32_t>(pos.begin(), pos.begin() + found), expected) << target;
    // FindFinite
    const size_t n_finite = FindFinite(x.data(), x.size(), pos.data());
    EXPECT_EQ(n_finite, finite) << target;
    for (size_t j = 0; j < n_finite; ++j) EXPECT_NE(x[pos[j]], kNegInf) << target;
    // DistanceKeys
    std::vector<float> keys(x.size());
    DistanceKeys(x.data(), x.size(), 0.5f, keys.data());
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(keys[i], x[i] == kNegInf ? kNegInf : -std::fabs(0.5f - x[i])) << target;
    }
  });
}

TEST(RowOps, LoadRowWidensBfloat16AndFloat16OnEveryTarget) {
  // Exactly representable values: 1.5, -2.25, 0, -inf (and NaN flagged).
  const uint16_t bf16[5] = {0x3FC0, 0xC010, 0x0000, 0xFF80, 0x3F80};
  const uint16_t f16[5] = {0x3E00, 0xC080, 0x0000, 0xFC00, 0x3C00};
  const float expected[5] = {1.5f, -2.25f, 0.0f, kNegInf, 1.0f};
  // Every float16 bit pattern against a scalar decoding of the format.
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  auto decode = [](uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v = exp == 0 ? std::ldexp(mant, -24)
               : exp == 31 ? (mant ? NAN : INFINITY)
                           : std::ldexp(1024 + mant, exp - 25);
    return static_cast<float>(sign ? -v : v);
  };
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (size_t n = 1; n <= 5; ++n) {
      float out[5];
      LoadStats s = LoadRow(bf16, FloatType::kBF16, n, 1.0f, out);
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(out[i], expected[i]) << hwy::TargetName(target);
      EXPECT_FALSE(s.has_invalid);
      s = LoadRow(f16, FloatType::kF16, n, 1.0f, out);
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(out[i], expected[i]) << hwy::TargetName(target);
    }
    std::vector<float> wide(all.size());
    LoadRow(all.data(), FloatType::kF16, all.size(), 1.0f, wide.data());
    for (size_t i = 0; i < all.size(); ++i) {
      const float want = decode(all[i]);
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(wide[i])) << hwy::TargetName(target) << " bits " << i;
      } else {
        ASSERT_EQ(wide[i], want) << hwy::TargetName(target) << " bits " << i;
      }
    }
    const uint16_t nan_bf16[2] = {0x3F80, 0x7FC0}, nan_f16[2] = {0x3C00, 0x7E00};
    float out[2];
    EXPECT_TRUE(LoadRow(nan_bf16, FloatType::kBF16, 2, 1.0f, out).has_invalid);
    EXPECT_TRUE(LoadRow(nan_f16, FloatType::kF16, 2, 1.0f, out).has_invalid);
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(RowOps, FiniteMomentsStayFiniteOnRowsSpanningFloatRange) {
  const float x[4] = {3e38f, -3e38f, kNegInf, 0.0f};
  const Moments m = FiniteMoments(x, 4, 3e38f);
  EXPECT_EQ(m.count, 3u);
  EXPECT_TRUE(std::isfinite(m.sum_sq));
  const double shift = 3e38f, low = -3e38f;  // the float values, widened
  EXPECT_DOUBLE_EQ(m.sum, (low - shift) + (0.0 - shift));
  EXPECT_DOUBLE_EQ(m.sum_sq, (low - shift) * (low - shift) + shift * shift);
}

TEST(RowOps, TemperatureMomentsMatchLongDoubleOnEveryTarget) {
  // Sizes up to 3 vectors cover the tails; 600 crosses the 256-element chunks.
  auto check = [](const char* target, const std::vector<float>& x) {
    constexpr size_t kCount = 11;  // not a multiple of the group of 4
    constexpr double kStep = 0.15;
    float max = kNegInf;
    for (float v : x) max = std::max(max, v);
    std::vector<double> s0(kCount, 1.0), s1(kCount, 2.0), s2(kCount, 3.0);  // added to
    TemperatureMoments(x.data(), x.size(), max, kStep, kCount, s0.data(), s1.data(), s2.data());
    for (size_t k = 0; k < kCount; ++k) {
      long double r0 = 0, r1 = 0, r2 = 0;
      for (float v : x) {
        if (v == kNegInf) continue;
        const long double g = static_cast<long double>(max) - v;
        const long double e = std::exp(-(k + 1) * static_cast<long double>(kStep) * g);
        r0 += e, r1 += g * e, r2 += g * g * e;
      }
      EXPECT_NEAR(s0[k] - 1.0, static_cast<double>(r0), 1e-13 * static_cast<double>(r0) + 1e-15) << target << " k " << k;
      EXPECT_NEAR(s1[k] - 2.0, static_cast<double>(r1), 1e-13 * static_cast<double>(r1) + 1e-15) << target << " k " << k;
      EXPECT_NEAR(s2[k] - 3.0, static_cast<double>(r2), 1e-13 * static_cast<double>(r2) + 1e-15) << target << " k " << k;
    }
  };
  ForEachTargetAndSize(check);
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> x(600);
  for (float& v : x) v = normal(rng);
  x[300] = kNegInf;
  check("dispatched", x);
}

TEST(RowOps, ReportsTheChosenTarget) { EXPECT_STRNE(ChosenTargetName(), ""); }

}  // namespace
}  // namespace logitkit::ops
