// The allowed-token bitmask (RowState::allowed_mask): one test per statement
// of "ALLOWED-TOKEN BITMASK" in logitkit/head.h, against the long double
// reference of head/testing/reference.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "head/testing/reference.h"
#include "logitkit/head.h"
#include "logitkit/thread_pool.h"

namespace logitkit {
namespace {

using testing::kNegInf;
using testing::Real;

// A mask allowing each token with probability `density` (always at least one).
std::vector<uint32_t> RandomMask(std::mt19937_64& rng, size_t n_vocab, double density) {
  std::vector<uint32_t> mask((n_vocab + 31) / 32, 0u);
  std::bernoulli_distribution allow(density);
  for (size_t t = 0; t < n_vocab; ++t) {
    if (allow(rng)) mask[t / 32] |= 1u << (t % 32);
  }
  mask[0] |= 1u;
  return mask;
}

bool Allowed(const std::vector<uint32_t>& mask, size_t t) { return (mask[t / 32] >> (t % 32)) & 1u; }

std::vector<float> Masked(std::vector<float> z, const std::vector<uint32_t>& mask) {
  for (size_t t = 0; t < z.size(); ++t) {
    if (!Allowed(mask, t)) z[t] = kNegInf;
  }
  return z;
}

RowState MaskedState(const std::vector<uint32_t>& mask, uint64_t step) {
  RowState s;
  s.seed = 11;
  s.stream = 2;
  s.step = step;
  s.allowed_mask = mask;
  return s;
}

// Masked tokens are -inf in the processed logits (the stage on its own), and
// the chain never draws one, greedy or sampled, with or without filters.
TEST(AllowedMask, MaskedTokensAreMinusInfAndNeverDrawn) {
  std::mt19937_64 rng(1);
  for (size_t n : {1u, 31u, 32u, 33u, 1000u, 49152u}) {
    const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal5);
    const std::vector<uint32_t> mask = RandomMask(rng, n, 0.1);
    std::vector<float> processed = z;
    ASSERT_TRUE(ApplyProcessors(processed, SamplerParams{}, MaskedState(mask, 0)).ok());
    EXPECT_EQ(processed, Masked(z, mask)) << "n = " << n;

    DecodeHead head;
    SamplerParams greedy;
    greedy.temperature = 0;
    const std::vector<float> ref = Masked(z, mask);
    const auto best = std::max_element(ref.begin(), ref.end()) - ref.begin();
    EXPECT_EQ(head.Decode(z, greedy, MaskedState(mask, 0)).token, best) << "n = " << n;
    SamplerParams filtered;
    filtered.temperature = 1.5f;
    filtered.top_k = 50;
    filtered.top_p = 0.9f;
    for (const SamplerParams& p : {SamplerParams{}, filtered}) {
      for (uint64_t step = 0; step < 200; ++step) {
        const DecodeResult r = head.Decode(z, p, MaskedState(mask, step));
        ASSERT_TRUE(r.status.ok()) << r.status.ToString();
        ASSERT_TRUE(Allowed(mask, static_cast<size_t>(r.token))) << "drew masked token " << r.token;
      }
    }
  }
}

// raw_logprob, raw_entropy, rank and the raw alternatives describe the
// model's own distribution: the same with and without the mask.
TEST(AllowedMask, RawOutputsAreUntouched) {
  std::mt19937_64 rng(2);
  const size_t n = 5000;
  const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kPeaked);
  const std::vector<uint32_t> mask = RandomMask(rng, n, 0.3);
  SamplerParams p;
  p.outputs = kOutputAll;
  p.top_logprobs = 8;
  DecodeHead head;
  const DecodeResult masked = head.Decode(z, p, MaskedState(mask, 0));
  ASSERT_TRUE(masked.status.ok());
  const std::vector<Real> raw = testing::RefSoftmax(z);
  EXPECT_NEAR(masked.raw_logprob, std::log(raw[masked.token]), 1e-5);
  Real raw_entropy = 0;
  for (Real q : raw) raw_entropy -= q > 0 ? q * std::log(q) : 0;
  EXPECT_NEAR(masked.raw_entropy, raw_entropy, 1e-5 * (1 + raw_entropy));
  const std::vector<int32_t> order = testing::RankOrder(z);
  EXPECT_EQ(order[masked.rank - 1], masked.token);
  ASSERT_EQ(masked.top.size(), 8u);
  for (size_t j = 0; j < 8; ++j) {  // the raw top 8, masked or not
    EXPECT_EQ(masked.top[j].token, order[j]);
    EXPECT_NEAR(masked.top[j].raw_logprob, std::log(raw[order[j]]), 1e-5);
    if (!Allowed(mask, static_cast<size_t>(order[j]))) {
      EXPECT_EQ(masked.top[j].logprob, kNegInf);
    }
  }
}

// At T = 1 with no filter, logprob is the log-softmax restricted to the
// allowed set (within 1e-6 · max(1, |reference|)), and entropy is that
// distribution's; with a temperature, of softmax(z / T) over the allowed set.
TEST(AllowedMask, FinalLogprobIsTheLogSoftmaxOverTheAllowedSet) {
  std::mt19937_64 rng(3);
  DecodeHead head;
  for (int row = 0; row < 30; ++row) {
    const size_t n = row % 3 == 0 ? 128256 : 49152;
    const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal5);
    const std::vector<uint32_t> mask = RandomMask(rng, n, row % 2 ? 0.01 : 0.5);
    SamplerParams p;
    p.temperature = row % 5 == 4 ? 0.7f : 1.0f;
    p.outputs = kOutputAll;
    p.top_logprobs = 4;
    p.alternatives_from = Alternatives::kFinal;
    const DecodeResult r = head.Decode(z, p, MaskedState(mask, row));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    std::vector<float> x = Masked(z, mask);
    for (float& v : x) v /= p.temperature;
    const std::vector<Real> q = testing::RefSoftmax(x);
    const Real want = std::log(q[r.token]);
    EXPECT_NEAR(r.logprob, want, 1e-6 * std::max<Real>(1, std::fabs(want))) << "row " << row;
    Real entropy = 0;
    for (Real v : q) entropy -= v > 0 ? v * std::log(v) : 0;
    EXPECT_NEAR(r.entropy, entropy, 1e-5 * (1 + entropy));
    for (const TokenLogprob& alt : r.top) {  // final alternatives: allowed tokens only
      ASSERT_TRUE(Allowed(mask, static_cast<size_t>(alt.token)));
      EXPECT_NEAR(alt.logprob, std::log(q[alt.token]), 1e-6 * std::max<Real>(1, -std::log(q[alt.token])));
    }
  }
}

// A mask is the same whether the row is float32, bfloat16 or float16, and
// whether a penalty forces the processors' path or the temperature folds
// into the load.
TEST(AllowedMask, ComposesWithProcessorsTemperatureAndSixteenBitRows) {
  std::mt19937_64 rng(4);
  const size_t n = 777;
  std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal1);
  std::vector<uint16_t> bf16(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &z[i], 4);
    bf16[i] = static_cast<uint16_t>(u >> 16);
    u = uint32_t{bf16[i]} << 16;
    std::memcpy(&z[i], &u, 4);  // z is now exactly representable in bfloat16
  }
  const std::vector<uint32_t> mask = RandomMask(rng, n, 0.2);
  const std::vector<int32_t> history = {1, 2, 3, 5, 8, 13};
  SamplerParams p;
  p.temperature = 0.6f;
  p.repetition_penalty = 1.3f;
  p.outputs = kOutputLogprob;
  DecodeHead head;
  std::vector<DecodeResult> results;
  for (uint64_t step = 0; step < 50; ++step) {
    RowState state = MaskedState(mask, step);
    state.history = history;
    ASSERT_TRUE(head.DecodeBatch(LogitsBatch::BF16(bf16, 1, n), std::span(&p, 1),
                                 std::span(&state, 1), results).ok());
    const DecodeResult f32 = head.Decode(z, p, state);
    ASSERT_TRUE(f32.status.ok() && results[0].status.ok());
    EXPECT_EQ(results[0].token, f32.token);
    EXPECT_EQ(results[0].logprob, f32.logprob);
    // The reference: penalty on the seen tokens, mask, then T.
    std::vector<float> x = z;
    for (int32_t t : history) x[t] = x[t] > 0 ? x[t] / 1.3f : x[t] * 1.3f;
    x = Masked(x, mask);
    for (float& v : x) v /= p.temperature;
    const Real want = std::log(testing::RefSoftmax(x)[f32.token]);
    EXPECT_NEAR(f32.logprob, want, 1e-5 * std::max<Real>(1, std::fabs(want)));
  }
}

// A mask of the wrong length, one that allows nothing, one whose tokens are
// all -inf, and min_tokens banning the only end token the mask allows: each
// an error naming the row, the other rows unaffected.
TEST(AllowedMask, ImpossibleMasksAreErrorsNamingTheRow) {
  const size_t n = 100;
  std::mt19937_64 rng(5);
  std::vector<float> logits;
  for (int r = 0; r < 5; ++r) {
    const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal1);
    logits.insert(logits.end(), z.begin(), z.end());
  }
  const std::vector<uint32_t> short_mask(3, ~0u), none(4, 0u), only_eos = {0u, 0u, 0u, 1u << 3};
  const std::vector<uint32_t> fine = {0xF0F0F0F0u, 0u, 1u, 0u};
  logits[3 * n + 4] = kNegInf;  // row 3 allows only token 4, which is -inf
  const std::vector<uint32_t> only_4 = {1u << 4, 0u, 0u, 0u};
  std::vector<SamplerParams> params(5);
  params[4].min_tokens = 2;
  params[4].eos_tokens = {99};  // bit 3 of word 3
  std::vector<RowState> states(5);
  states[0].allowed_mask = fine;
  states[1].allowed_mask = short_mask;
  states[2].allowed_mask = none;
  states[3].allowed_mask = only_4;
  states[4].allowed_mask = only_eos;
  ThreadPool pool(2);
  DecodeHead head(&pool);
  std::vector<DecodeResult> results;
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::F32(logits, 5, n), params, states, results).ok());
  ASSERT_TRUE(results[0].status.ok());
  EXPECT_TRUE(Allowed(fine, static_cast<size_t>(results[0].token)));
  EXPECT_EQ(results[1].status.message(),
            "row 1: allowed_mask has 3 words; n_vocab = 100 needs 4 (32 tokens per word)");
  EXPECT_EQ(results[2].status.message(), "row 2: allowed_mask allows no token");
  EXPECT_EQ(results[3].status.message(),
            "row 3: every one of the 1 tokens allowed_mask allows has logit -inf");
  EXPECT_EQ(results[4].status.message(),
            "row 4: no token left to choose: the processors removed every one of the 1 tokens "
            "allowed_mask allows (min_tokens = 2 bans end token 99 at n_generated = 0)");
  for (int r = 1; r < 5; ++r) EXPECT_EQ(results[r].token, -1);
  // Bits past n_vocab in the last word do not count as allowed tokens.
  const std::vector<uint32_t> past_end = {0u, 0u, 0u, 0xFFFFFFF0u};
  RowState past;
  past.allowed_mask = past_end;
  EXPECT_EQ(head.Decode(std::span(logits).first(n), SamplerParams{}, past).status.message(),
            "allowed_mask allows no token");
}

}  // namespace
}  // namespace logitkit
