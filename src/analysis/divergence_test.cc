// Divergence's contracts that need no reference numbers; the metrics are
// checked against numpy in tests/analysis/check_compare.py.
#include "logitkit/divergence.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace logitkit::analysis {
namespace {

std::vector<float> Normal(size_t n, uint64_t seed, float sd) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

TEST(Divergence, AModelAgainstItselfIsExactlyZero) {
  const size_t V = 1000, n = 50;
  const std::vector<float> a = Normal(n * V, 1, 4.0f);
  std::vector<int32_t> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = int32_t(i * 17 % V);
  StatusOr<Divergence> d = Divergence::Create(V);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->AddRows(a, a, y, nullptr).ok());
  const DivergenceSummary s = d->Summary();
  EXPECT_EQ(s.positions, int64_t(n));
  EXPECT_EQ(s.kl_mean, 0.0);
  EXPECT_EQ(s.kl_standard_error, 0.0);
  for (const Percentile& p : s.kl) EXPECT_EQ(p.value, 0.0) << p.percent;
  for (const Percentile& p : s.dp) EXPECT_EQ(p.value, 0.0) << p.percent;
  EXPECT_EQ(s.top_agreement, 1.0);
  EXPECT_EQ(s.perplexity_ratio, 1.0);
  EXPECT_EQ(s.nll_a, s.nll_b);
}

TEST(Divergence, KlIsPositiveAndResultsDoNotDependOnThreads) {
  const size_t V = 500, n = 70;
  const std::vector<float> a = Normal(n * V, 2, 3.0f), noise = Normal(n * V, 3, 0.3f);
  std::vector<float> b(a);
  for (size_t i = 0; i < b.size(); ++i) b[i] += noise[i];
  std::vector<int32_t> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = int32_t(i * 31 % V);
  ThreadPool pool(3);
  DivergenceSummary s[2];
  for (int use_pool = 0; use_pool < 2; ++use_pool) {
    StatusOr<Divergence> d = Divergence::Create(V);
    ASSERT_TRUE(d->AddRows(a, b, y, use_pool ? &pool : nullptr).ok());
    s[use_pool] = d->Summary();
  }
  EXPECT_GT(s[0].kl.back().value, 0.0);  // the minimum
  EXPECT_LE(s[0].kl.back().value, s[0].kl[5].value);
  EXPECT_LE(s[0].kl[5].value, s[0].kl.front().value);
  EXPECT_EQ(s[0].kl_mean, s[1].kl_mean);
  EXPECT_EQ(s[0].kl_standard_error, s[1].kl_standard_error);
  EXPECT_EQ(s[0].dp_rms, s[1].dp_rms);
  EXPECT_EQ(s[0].kl[5].value, s[1].kl[5].value);
}

TEST(Divergence, ErrorsNameTheRowAndTheModel) {
  const size_t V = 10;
  std::vector<float> a = Normal(3 * V, 4, 1.0f), b = a;
  std::vector<int32_t> y = {1, 2, 3};
  StatusOr<Divergence> d = Divergence::Create(V);
  b[2 * V + 5] = NAN;
  Status s = d->AddRows(a, b, y, nullptr);
  EXPECT_NE(s.message().find("row 2 of model B: logit 5"), std::string::npos) << s.message();
  b[2 * V + 5] = 0;
  y[1] = -1;
  s = d->AddRows(a, b, y, nullptr);
  EXPECT_NE(s.message().find("row 1: next token -1"), std::string::npos) << s.message();
  EXPECT_FALSE(d->AddRows(std::span<const float>(a).first(V), b, y, nullptr).ok());
  EXPECT_EQ(d->positions(), 0);
  EXPECT_FALSE(Divergence::Create(0).ok());
}

}  // namespace
}  // namespace logitkit::analysis
