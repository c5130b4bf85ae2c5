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
  // Every percentile but the exact minimum and maximum is below the resolution.
  for (const std::vector<Percentile>* ps : {&s.kl, &s.dp}) {
    for (const Percentile& p : *ps) EXPECT_EQ(p.below_resolution, p.percent > 0 && p.percent < 100) << p.percent;
  }
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

// The per-row output: each row's KL, NLLs and top tokens, recomputed here in
// double; their mean is the summary's.
TEST(Divergence, RowsGiveEachPositionsMeasures) {
  const size_t V = 300, n = 40;
  const std::vector<float> a = Normal(n * V, 5, 3.0f), noise = Normal(n * V, 6, 0.5f);
  std::vector<float> b(a);
  for (size_t i = 0; i < b.size(); ++i) b[i] += noise[i];
  std::vector<int32_t> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = int32_t(i * 7 % V);
  StatusOr<Divergence> d = Divergence::Create(V);
  std::vector<RowDivergence> rows;
  ThreadPool pool(2);
  ASSERT_TRUE(d->AddRows(a, b, y, &pool, 0, &rows).ok());
  ASSERT_EQ(rows.size(), n);
  double kl_sum = 0;
  for (size_t r = 0; r < n; ++r) {
    const float* za = &a[r * V];
    const float* zb = &b[r * V];
    double ma = za[0], mb = zb[0];
    size_t ta = 0, tb = 0;
    for (size_t j = 1; j < V; ++j) {
      if (za[j] > ma) ma = za[j], ta = j;
      if (zb[j] > mb) mb = zb[j], tb = j;
    }
    double sa = 0, sb = 0;
    for (size_t j = 0; j < V; ++j) sa += std::exp(za[j] - ma), sb += std::exp(zb[j] - mb);
    const double lza = ma + std::log(sa), lzb = mb + std::log(sb);
    double kl = 0;
    for (size_t j = 0; j < V; ++j) kl += std::exp(za[j] - lza) * ((za[j] - lza) - (zb[j] - lzb));
    EXPECT_NEAR(rows[r].kl, kl, 1e-9 + 1e-6 * kl) << r;
    EXPECT_NEAR(rows[r].nll_a, lza - za[y[r]], 1e-6) << r;  // the normaliser sums float32 exps
    EXPECT_NEAR(rows[r].nll_b, lzb - zb[y[r]], 1e-6) << r;
    EXPECT_EQ(rows[r].top_a, int32_t(ta)) << r;
    EXPECT_EQ(rows[r].top_b, int32_t(tb)) << r;
    EXPECT_NEAR(rows[r].p_top_a, std::exp(ma - lza), 1e-6) << r;
    EXPECT_NEAR(rows[r].p_top_b, std::exp(mb - lzb), 1e-6) << r;
    kl_sum += rows[r].kl;
  }
  EXPECT_DOUBLE_EQ(kl_sum / n, d->Summary().kl_mean);
  for (const Percentile& p : d->Summary().kl) EXPECT_FALSE(p.below_resolution) << p.percent;
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
