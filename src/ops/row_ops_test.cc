// Row kernels against scalar references, on every compiled SIMD target, for
// every size up to three vectors plus the tails.
#include "ops/row_ops.h"

#include <gtest/gtest.h>

#include <cmath>
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
    LoadStats s = LoadRow(x.data(), ElementType::kF32, x.size(), 0.7f, out.data());
    float max = kNegInf;
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(out[i], x[i] / 0.7f) << target;
      max = std::max(max, out[i]);
    }
    EXPECT_EQ(out.back(), 7.0f) << "wrote past n";
    EXPECT_EQ(s.max, max);
    EXPECT_FALSE(s.has_invalid);
    x[x.size() - 1] = NAN;
    EXPECT_TRUE(LoadRow(x.data(), ElementType::kF32, x.size(), 1.0f, out.data()).has_invalid);
    x[x.size() - 1] = INFINITY;
    EXPECT_TRUE(LoadRow(x.data(), ElementType::kF32, x.size(), 1.0f, out.data()).has_invalid);
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

TEST(RowOps, ReportsTheChosenTarget) { EXPECT_STRNE(ChosenTargetName(), ""); }

}  // namespace
}  // namespace logitkit::ops
