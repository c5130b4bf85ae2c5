// ViewNextToken against a sort-based float64 reference on a random row.
#include "logitkit/next_token.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace logitkit::analysis {
namespace {

TEST(NextToken, MatchesASortBasedReference) {
  const size_t V = 2000, n = 60;
  std::mt19937_64 rng(17);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> z(V);
  for (float& x : z) x = normal(rng);
  z[5] = z[9] = 12.0f;  // a tie at the top: the lower id ranks first
  DecodeHead head;
  SamplerParams filters;
  filters.top_k = 50;
  filters.top_p = 0.8f;
  for (double T : {0.0, 0.7, 1.6}) {
    StatusOr<NextTokenView> view = ViewNextToken(head, z, filters, RowState{}, T, n);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    // Reference: rank by (logit desc, id asc); p at T in double; top-k, then
    // the smallest prefix of the renormalised top-k whose mass reaches top_p.
    std::vector<int32_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return z[a] != z[b] ? z[a] > z[b] : a < b; });
    std::vector<double> p(V, 0.0);
    size_t n_kept = 1;
    double entropy = 0;
    if (T > 0) {
      double sum = 0;
      for (size_t i = 0; i < V; ++i) sum += p[i] = std::exp((double(z[i]) - z[order[0]]) / T);
      for (double& x : p) x /= sum;
      for (double x : p) entropy -= x > 0 ? x * std::log(x) : 0;
      double topk = 0, cum = 0;
      for (size_t r = 0; r < 50; ++r) topk += p[order[r]];
      for (n_kept = 0; n_kept < 50 && cum < double(filters.top_p);) cum += p[order[n_kept++]] / topk;
    } else {
      p[order[0]] = 1;
    }
    ASSERT_EQ(view->top.size(), n);
    EXPECT_EQ(view->n_kept, int32_t(n_kept)) << T;
    EXPECT_NEAR(view->entropy, entropy, 1e-5) << T;
    double kept_mass = 0, cumulative = 0;
    for (size_t r = 0; r < n_kept; ++r) kept_mass += p[order[r]];
    EXPECT_NEAR(view->kept_mass, kept_mass, 1e-6) << T;
    for (size_t r = 0; r < n; ++r) {
      const NextTokenRow& row = view->top[r];
      cumulative += p[order[r]];
      ASSERT_EQ(row.token, order[r]) << T << " " << r;
      EXPECT_EQ(row.logit, z[order[r]]);
      EXPECT_NEAR(row.p, p[order[r]], 1e-5 * p[order[r]] + 1e-30) << T << " " << r;
      EXPECT_NEAR(row.cumulative_p, cumulative, 1e-6) << T << " " << r;
      EXPECT_EQ(row.kept, r < n_kept) << T << " " << r;
      if (row.kept) {
        EXPECT_NEAR(std::exp(row.kept_logprob), p[order[r]] / kept_mass, 1e-5) << T << " " << r;
      }
    }
  }
  // Errors name the parameter.
  EXPECT_NE(ViewNextToken(head, z, filters, RowState{}, -1, n).status().message().find("temperature"), std::string::npos);
  EXPECT_NE(ViewNextToken(head, z, filters, RowState{}, 1, V + 1).status().message().find("n = "), std::string::npos);
  filters.top_p = 2;
  EXPECT_NE(ViewNextToken(head, z, filters, RowState{}, 1, n).status().message().find("top_p"), std::string::npos);
}

}  // namespace
}  // namespace logitkit::analysis
