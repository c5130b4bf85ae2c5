// The draw, tested statistically: chi-squared goodness of fit of 10^6 seeded
// draws against the renormalised reference distribution. Each setting fails a
// correct sampler with probability 1e-6 (the p-value threshold); the seeds are
// fixed, so the outcome is reproducible.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "head/testing/reference.h"
#include "logitkit/head.h"

namespace logitkit {
namespace {

using testing::kNegInf;
using testing::Real;
using testing::RefSet;

void Keep(std::vector<float>& x, const RefSet& ref) {
  ASSERT_FALSE(ref.ambiguous) << "choose a row whose reference boundary is clear";
  for (size_t i = 0; i < x.size(); ++i) {
    if (!ref.keep[i]) x[i] = kNegInf;
  }
}

// The reference final distribution: the stages in p.order, sort-based filters.
std::vector<Real> ReferenceDistribution(const std::vector<float>& z, const SamplerParams& p,
                                        std::span<const uint32_t> mask) {
  std::vector<float> x = z;
  for (size_t t = 0; t < mask.size() * 32 && t < x.size(); ++t) {
    if (!((mask[t / 32] >> (t % 32)) & 1u)) x[t] = kNegInf;
  }
  for (const TokenBias& b : p.logit_bias) x[b.token] += b.bias;
  for (int32_t t : p.banned_tokens) x[t] = kNegInf;
  for (Stage stage : p.order) {
    switch (stage) {
      case Stage::kTemperature:
        for (float& v : x) v /= p.temperature;
        break;
      case Stage::kTopK:
        if (p.top_k > 0) Keep(x, testing::RefTopK(x, p.top_k));
        break;
      case Stage::kTopP:
        if (p.top_p < 1) Keep(x, testing::RefTopP(x, p.top_p));
        break;
      case Stage::kMinP:
        if (p.min_p > 0) Keep(x, testing::RefMinP(x, p.min_p));
        break;
      case Stage::kTypicalP:
        if (p.typical_p < 1) Keep(x, testing::RefTypicalP(x, p.typical_p, nullptr));
        break;
      case Stage::kTopNSigma:
        if (p.top_n_sigma > 0) Keep(x, testing::RefTopNSigma(x, p.top_n_sigma));
        break;
    }
  }
  return testing::RefSoftmax(x);
}

void ExpectDrawsFollowDistribution(size_t n_vocab, const SamplerParams& params, int n_draws,
                                   uint64_t seed, std::span<const uint32_t> mask = {}) {
  std::mt19937_64 rng(seed);
  const std::vector<float> z = testing::RandomRow(rng, n_vocab, testing::RowKind::kNormal1);
  const std::vector<Real> expected = ReferenceDistribution(z, params, mask);

  DecodeHead head;
  std::vector<int64_t> counts(n_vocab, 0);
  RowState state;
  state.seed = seed;
  state.allowed_mask = mask;
  for (int i = 0; i < n_draws; ++i) {
    state.step = static_cast<uint64_t>(i);
    const DecodeResult r = head.Decode(z, params, state);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    ASSERT_GT(expected[r.token], 0) << "drew token " << r.token << ", which is filtered out";
    ++counts[r.token];
  }
  // Bins: every token expected >= 5 times; the rest pooled into one bin.
  double statistic = 0, pooled_expected = 0, pooled_observed = 0;
  int bins = 0;
  for (size_t t = 0; t < n_vocab; ++t) {
    const double e = static_cast<double>(expected[t]) * n_draws;
    if (e == 0) continue;
    if (e < 5) {
      pooled_expected += e;
      pooled_observed += counts[t];
      continue;
    }
    statistic += (counts[t] - e) * (counts[t] - e) / e;
    ++bins;
  }
  if (pooled_expected > 0) {
    statistic += (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) /
                 pooled_expected;
    ++bins;
  }
  ASSERT_GE(bins, 2);
  const double p_value = testing::ChiSquaredSurvival(statistic, bins - 1);
  EXPECT_GT(p_value, 1e-6) << "chi2 = " << statistic << " over " << bins << " bins";
}

constexpr int kDraws = 1000000;

TEST(Sample, FollowsSoftmaxAtTemperatureOne) {
  ExpectDrawsFollowDistribution(50, SamplerParams{}, kDraws, 100);
}

TEST(Sample, FollowsTopKAfterTemperature) {
  SamplerParams p;
  p.temperature = 0.7f;
  p.top_k = 10;
  ExpectDrawsFollowDistribution(50, p, kDraws, 101);
}

TEST(Sample, FollowsTopP) {
  SamplerParams p;
  p.top_p = 0.8f;
  ExpectDrawsFollowDistribution(60, p, kDraws, 102);
}

TEST(Sample, FollowsMinPAtHighTemperature) {
  SamplerParams p;
  p.temperature = 1.3f;
  p.min_p = 0.1f;
  ExpectDrawsFollowDistribution(60, p, kDraws, 103);
}

// llama.cpp's default settings, in our default order (temperature first).
SamplerParams LlamaCppSettings() {
  SamplerParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  return p;
}

TEST(Sample, FollowsLlamaCppDefaultChainWithTemperatureLast) {
  SamplerParams p = LlamaCppSettings();
  p.order = {Stage::kTopK, Stage::kTopP, Stage::kMinP, Stage::kTemperature};  // llama.cpp's
  ExpectDrawsFollowDistribution(200, p, kDraws, 104);
}

TEST(Sample, FollowsTheSameSettingsWithTemperatureFirst) {
  ExpectDrawsFollowDistribution(200, LlamaCppSettings(), kDraws, 110);
}

TEST(Sample, FollowsTypicalPAndTopNSigma) {
  SamplerParams typical;
  typical.typical_p = 0.9f;
  ExpectDrawsFollowDistribution(60, typical, kDraws, 105);
  SamplerParams sigma;
  sigma.top_n_sigma = 2.5f;
  ExpectDrawsFollowDistribution(60, sigma, kDraws, 106);
}

TEST(Sample, NeverDrawsBannedTokensAndFollowsTheBias) {
  SamplerParams p;
  p.banned_tokens = {0, 1, 2, 3};
  p.logit_bias = {{10, 2.0f}, {11, -3.0f}};
  ExpectDrawsFollowDistribution(40, p, kDraws, 107);
}

// A grammar's allowed-token mask: the draws follow softmax restricted to the
// allowed tokens, alone and under a temperature and top-p.
TEST(Sample, FollowsTheDistributionRestrictedToAnAllowedMask) {
  const std::vector<uint32_t> mask = {0xA5A5F00Fu, 0x0FF00FF0u, 0x12345678u, 0x1u};  // 97 tokens
  ExpectDrawsFollowDistribution(97, SamplerParams{}, kDraws, 111, mask);
  SamplerParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  ExpectDrawsFollowDistribution(97, p, kDraws, 112, mask);
}

// A row of 3000 tokens takes the blocked scan (6 blocks of 512).
TEST(Sample, FollowsALargeRowAcrossBlocks) {
  ExpectDrawsFollowDistribution(3000, SamplerParams{}, kDraws, 108);
}

TEST(Sample, StandAloneSampleMatchesTheChainAtTemperatureOne) {
  std::mt19937_64 rng(109);
  const std::vector<float> z = testing::RandomRow(rng, 1000, testing::RowKind::kNormal5);
  DecodeHead head;
  for (uint64_t step = 0; step < 200; ++step) {
    RowState state;
    state.seed = 9;
    state.stream = 3;
    state.step = step;
    EXPECT_EQ(*Sample(z, 9, 3, step), head.Decode(z, SamplerParams{}, state).token);
  }
}

}  // namespace
}  // namespace logitkit
