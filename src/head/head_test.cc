// The whole chain: outputs, determinism, 16-bit rows, stage order and errors.
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

float Bf16ToFloat(uint16_t bits) {
  const uint32_t u = uint32_t{bits} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

RowState State(uint64_t seed, uint64_t stream, uint64_t step) {
  RowState s;
  s.seed = seed;
  s.stream = stream;
  s.step = step;
  return s;
}

TEST(DecodeHead, GreedyPicksTheArgmaxWithTiesToTheLowestId) {
  DecodeHead head;
  SamplerParams p;
  p.temperature = 0;
  p.outputs = kOutputAll;
  const std::vector<float> z = {1, 5, 3, 5, 5, -2};
  const DecodeResult r = head.Decode(z, p, RowState{});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.token, 1);
  EXPECT_EQ(r.logprob, 0.0f);
  EXPECT_EQ(r.entropy, 0.0f);
  EXPECT_EQ(r.n_kept, 1);
  EXPECT_EQ(r.rank, 1);
}

TEST(DecodeHead, TinyTemperatureGivesTheArgmax) {
  std::mt19937_64 rng(200);
  DecodeHead head;
  for (int i = 0; i < 50; ++i) {
    const std::vector<float> z = testing::RandomRow(rng, 1000, testing::RowKind::kPeaked);
    SamplerParams greedy;
    greedy.temperature = 0;
    SamplerParams cold;
    cold.temperature = 1e-4f;
    const int32_t argmax = head.Decode(z, greedy, RowState{}).token;
    EXPECT_EQ(argmax, static_cast<int32_t>(std::max_element(z.begin(), z.end()) - z.begin()));
    EXPECT_EQ(head.Decode(z, cold, State(1, 2, i)).token, argmax);
  }
}

// Every output against the long double reference, on a chain with filters.
TEST(DecodeHead, OutputsMatchTheReference) {
  std::mt19937_64 rng(201);
  DecodeHead head;
  for (int row = 0; row < 40; ++row) {
    const size_t n = row % 2 ? 50257 : 333;
    const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kPeaked);
    SamplerParams p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.outputs = kOutputAll;
    p.top_logprobs = 5;
    const DecodeResult r = head.Decode(z, p, State(7, row, 0));
    ASSERT_TRUE(r.status.ok());
    // Raw outputs: the model's own distribution.
    const std::vector<Real> raw = testing::RefSoftmax(z);
    EXPECT_NEAR(r.raw_logprob, std::log(raw[r.token]), 1e-5);
    Real raw_entropy = 0;
    for (Real q : raw) raw_entropy -= q > 0 ? q * std::log(q) : 0;
    EXPECT_NEAR(r.raw_entropy, raw_entropy, 1e-5 * (1 + raw_entropy));
    const std::vector<int32_t> order = testing::RankOrder(z);
    EXPECT_EQ(order[r.rank - 1], r.token);
    // Final distribution: T, top-k, top-p by the reference.
    std::vector<float> x = z;
    for (float& v : x) v /= p.temperature;
    const testing::RefSet k_set = testing::RefTopK(x, 40);
    for (size_t i = 0; i < n; ++i) if (!k_set.keep[i]) x[i] = kNegInf;
    const testing::RefSet p_set = testing::RefTopP(x, 0.95f);
    ASSERT_FALSE(p_set.ambiguous);
    for (size_t i = 0; i < n; ++i) if (!p_set.keep[i]) x[i] = kNegInf;
    const std::vector<Real> final_q = testing::RefSoftmax(x);
    ASSERT_GT(final_q[r.token], 0);
    EXPECT_NEAR(r.logprob, std::log(final_q[r.token]), 1e-5);
    Real entropy = 0;
    for (Real q : final_q) entropy -= q > 0 ? q * std::log(q) : 0;
    EXPECT_NEAR(r.entropy, entropy, 1e-5 * (1 + entropy));
    EXPECT_EQ(r.n_kept, static_cast<int32_t>(std::count(p_set.keep.begin(), p_set.keep.end(), true)));
    // Alternatives: the raw top 5 in rank order, both logprobs.
    ASSERT_EQ(r.top.size(), 5u);
    for (size_t j = 0; j < 5; ++j) {
      EXPECT_EQ(r.top[j].token, order[j]);
      EXPECT_NEAR(r.top[j].raw_logprob, std::log(raw[order[j]]), 1e-5);
      if (final_q[order[j]] > 0) {
        EXPECT_NEAR(r.top[j].logprob, std::log(final_q[order[j]]), 1e-5);
      } else {
        EXPECT_EQ(r.top[j].logprob, kNegInf);
      }
    }
  }
}

// top-k then softmax == softmax restricted to the top k.
TEST(DecodeHead, TopKThenSoftmaxIsSoftmaxOverTheTopK) {
  std::mt19937_64 rng(202);
  const std::vector<float> z = testing::RandomRow(rng, 128256, testing::RowKind::kNormal5);
  SamplerParams p;
  p.top_k = 50;
  p.top_logprobs = 50;
  p.alternatives_from = Alternatives::kFinal;
  DecodeHead head;
  const DecodeResult r = head.Decode(z, p, RowState{});
  ASSERT_EQ(r.top.size(), 50u);
  const std::vector<int32_t> order = testing::RankOrder(z);
  Real sum = 0;
  for (size_t j = 0; j < 50; ++j) sum += std::exp(static_cast<Real>(z[order[j]]) - z[order[0]]);
  for (size_t j = 0; j < 50; ++j) {
    EXPECT_EQ(r.top[j].token, order[j]);
    const Real expected = static_cast<Real>(z[order[j]]) - z[order[0]] - std::log(sum);
    EXPECT_NEAR(r.top[j].logprob, expected, 1e-5);
  }
}

// The kept set of a composed chain, read from the final alternatives.
TEST(DecodeHead, ComposedFiltersKeepTheSequentialReferenceSet) {
  std::mt19937_64 rng(203);
  DecodeHead head;
  for (int row = 0; row < 200; ++row) {
    const size_t n = row % 5 == 0 ? 20000 : 1 + rng() % 900;
    const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal5);
    SamplerParams p;
    p.temperature = 1.5f;
    p.top_k = 1 + rng() % 100;
    p.top_p = 0.9f;
    p.min_p = 0.02f;
    p.top_logprobs = static_cast<int32_t>(n);
    p.alternatives_from = Alternatives::kFinal;
    const DecodeResult r = head.Decode(z, p, State(1, row, 0));
    ASSERT_TRUE(r.status.ok());
    std::vector<float> x = z;
    for (float& v : x) v /= p.temperature;
    bool ambiguous = false;
    for (auto ref : {testing::RefTopK(x, p.top_k)}) for (size_t i = 0; i < n; ++i) if (!ref.keep[i]) x[i] = kNegInf;
    testing::RefSet ps = testing::RefTopP(x, p.top_p);
    ambiguous |= ps.ambiguous;
    for (size_t i = 0; i < n; ++i) if (!ps.keep[i]) x[i] = kNegInf;
    testing::RefSet ms = testing::RefMinP(x, p.min_p);
    for (size_t i = 0; i < n; ++i) if (!ms.keep[i]) x[i] = kNegInf;
    if (ambiguous) continue;
    std::vector<bool> got(n, false);
    for (const TokenLogprob& t : r.top) got[t.token] = true;
    EXPECT_EQ(got, ms.keep) << "row " << row;
  }
}

// llama.cpp's chain puts temperature last; min-p then sees T = 1 logits.
TEST(DecodeHead, StageOrderIsHonoured) {
  const std::vector<float> z = {0.0f, -1.0f, -2.0f, -3.0f};
  SamplerParams p;
  p.temperature = 4.0f;
  p.min_p = 0.3f;  // at T = 1 keeps x >= ln 0.3 = -1.2: 2 tokens; at T = 4: x/4 >= -1.2: 4
  p.outputs = kOutputKept;
  DecodeHead head;
  EXPECT_EQ(head.Decode(z, p, RowState{}).n_kept, 4);
  p.order = {Stage::kMinP, Stage::kTemperature};
  EXPECT_EQ(head.Decode(z, p, RowState{}).n_kept, 2);
  p.order = {Stage::kMinP};  // temperature set but not in the order
  EXPECT_EQ(head.Decode(z, p, RowState{}).status.message(),
            "temperature is set but missing from order");
  p.order = {Stage::kMinP, Stage::kTemperature, Stage::kMinP};
  EXPECT_EQ(head.Decode(z, p, RowState{}).status.message(), "order lists min_p twice");
}

// Rows and parameters that vary per row, for the determinism tests.
struct Batch {
  size_t n_vocab = 50257;
  std::vector<float> logits;
  std::vector<SamplerParams> params;
  std::vector<RowState> states;
};

Batch MakeBatch(size_t n_rows) {
  Batch b;
  std::mt19937_64 rng(300);
  for (size_t r = 0; r < n_rows; ++r) {
    const auto kind = static_cast<testing::RowKind>(r % 4);
    const std::vector<float> z = testing::RandomRow(rng, b.n_vocab, kind);
    b.logits.insert(b.logits.end(), z.begin(), z.end());
    SamplerParams p;
    p.temperature = 0.5f + 0.1f * (r % 10);
    if (r % 3 == 0) p.top_k = 50;
    if (r % 4 == 1) p.top_p = 0.9f;
    if (r % 5 == 2) p.min_p = 0.05f;
    p.outputs = kOutputAll;
    p.top_logprobs = 3;
    b.params.push_back(p);
    b.states.push_back(State(1000 + r, r, 17 * r));
  }
  return b;
}

void ExpectSame(const DecodeResult& a, const DecodeResult& b, const std::string& what) {
  EXPECT_EQ(a.token, b.token) << what;
  EXPECT_EQ(std::memcmp(&a.logprob, &b.logprob, 4), 0) << what;
  EXPECT_EQ(std::memcmp(&a.raw_logprob, &b.raw_logprob, 4), 0) << what;
  EXPECT_EQ(a.n_kept, b.n_kept) << what;
}

TEST(DecodeHead, TokenDependsOnlyOnRowParamsAndSeedNotBatchOrThreads) {
  const Batch b = MakeBatch(64);
  DecodeHead single;
  std::vector<DecodeResult> alone;
  for (size_t r = 0; r < 64; ++r) {
    alone.push_back(single.Decode(std::span(b.logits).subspan(r * b.n_vocab, b.n_vocab),
                                  b.params[r], b.states[r]));
    ASSERT_TRUE(alone.back().status.ok());
  }
  for (size_t threads : {1, 2}) {
    ThreadPool pool(threads);
    DecodeHead head(&pool);
    std::vector<DecodeResult> results;
    ASSERT_TRUE(head.DecodeBatch(LogitsBatch::F32(b.logits, 64, b.n_vocab), b.params, b.states,
                                 results).ok());
    for (size_t r = 0; r < 64; ++r) {
      ExpectSame(results[r], alone[r], "batch 64, threads " + std::to_string(threads));
    }
    // Batch of 7 built from rows 20..26 in reverse order.
    std::vector<float> logits7;
    std::vector<SamplerParams> params7;
    std::vector<RowState> states7;
    for (size_t r = 26; r >= 20; --r) {
      logits7.insert(logits7.end(), b.logits.begin() + r * b.n_vocab,
                     b.logits.begin() + (r + 1) * b.n_vocab);
      params7.push_back(b.params[r]);
      states7.push_back(b.states[r]);
    }
    ASSERT_TRUE(head.DecodeBatch(LogitsBatch::F32(logits7, 7, b.n_vocab), params7, states7,
                                 results).ok());
    for (size_t j = 0; j < 7; ++j) {
      ExpectSame(results[j], alone[26 - j], "batch 7, threads " + std::to_string(threads));
    }
  }
}

TEST(DecodeHead, ResultsAreBitwiseTheSameOnEveryFmaTarget) {
  const Batch b = MakeBatch(16);
  std::vector<std::vector<float>> outputs;  // token, logprob, raw logprob, entropy per row
  std::vector<std::string> names;
  testing::ForEachSimdTarget([&](const char* target) {
    if (!testing::TargetHasFma(target)) return;
    DecodeHead head;
    std::vector<float> o;
    for (size_t r = 0; r < 16; ++r) {
      const DecodeResult d = head.Decode(std::span(b.logits).subspan(r * b.n_vocab, b.n_vocab),
                                         b.params[r], b.states[r]);
      o.insert(o.end(), {static_cast<float>(d.token), d.logprob, d.raw_logprob, d.entropy});
    }
    outputs.push_back(o);
    names.push_back(target);
  });
  if (outputs.size() < 2) {
    GTEST_SKIP() << "only " << outputs.size() << " FMA target on this CPU: nothing to compare";
  }
  for (size_t t = 1; t < outputs.size(); ++t) {
    EXPECT_EQ(std::memcmp(outputs[t].data(), outputs[0].data(), outputs[0].size() * 4), 0)
        << names[t] << " differs from " << names[0];
  }
}

TEST(DecodeHead, Bf16AndF16RowsDecodeLikeTheirFloatValues) {
  std::mt19937_64 rng(400);
  const size_t n = 32000;
  std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal5);
  std::vector<uint16_t> bf16(n), f16(n);
  std::vector<float> z_bf16(n), z_f16(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &z[i], 4);
    bf16[i] = static_cast<uint16_t>(u >> 16);  // truncation: any bf16 value will do
    z_bf16[i] = Bf16ToFloat(bf16[i]);
    _Float16 h = static_cast<_Float16>(z[i]);
    std::memcpy(&f16[i], &h, 2);
    z_f16[i] = static_cast<float>(h);
  }
  bf16[5] = 0xFF80;  // -inf in bfloat16
  z_bf16[5] = kNegInf;
  SamplerParams p;
  p.top_p = 0.9f;
  p.outputs = kOutputAll;
  DecodeHead head;
  std::vector<RowState> states = {State(5, 0, 0)};
  std::vector<DecodeResult> r16;
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::BF16(bf16, 1, n), std::span(&p, 1), states, r16).ok());
  ExpectSame(r16[0], head.Decode(z_bf16, p, states[0]), "bf16");
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::F16(f16, 1, n), std::span(&p, 1), states, r16).ok());
  ExpectSame(r16[0], head.Decode(z_f16, p, states[0]), "f16");
  bf16[7] = 0x7FC0;  // NaN
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::BF16(bf16, 1, n), std::span(&p, 1), states, r16).ok());
  EXPECT_EQ(r16[0].status.message(), "row 0: logits[7] = nan: logits must be finite or -inf");
}

TEST(DecodeHead, BadRowsGetTheirOwnErrorAndLeaveTheOthersAlone) {
  const size_t n = 100;
  std::mt19937_64 rng(500);
  std::vector<float> logits;
  for (int r = 0; r < 12; ++r) {
    const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal1);
    logits.insert(logits.end(), z.begin(), z.end());
  }
  std::vector<SamplerParams> params(12);
  std::vector<RowState> states(12);
  for (int r = 0; r < 12; ++r) states[r] = State(1, r, 0);
  logits[1 * n + 3] = NAN;
  logits[2 * n + 4] = INFINITY;
  std::fill(logits.begin() + 3 * n, logits.begin() + 4 * n, kNegInf);
  params[4].temperature = -1;
  params[5].top_p = 0;
  params[6].top_k = -3;
  params[7].min_p = 2;
  params[8].banned_tokens.resize(n);
  for (size_t i = 0; i < n; ++i) params[8].banned_tokens[i] = static_cast<int32_t>(i);
  params[9].logit_bias = {{static_cast<int32_t>(n), 1.0f}};
  const std::vector<int32_t> bad_history = {0, 100};
  states[10].history = bad_history;
  params[11].temperature = NAN;
  ThreadPool pool(2);
  DecodeHead head(&pool);
  std::vector<DecodeResult> results;
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::F32(logits, 12, n), params, states, results).ok());
  const char* expected[12] = {
      nullptr,
      "row 1: logits[3] = nan: logits must be finite or -inf",
      "row 2: logits[4] = inf: logits must be finite or -inf",
      "row 3: no token left to choose: every logit is -inf or masked by the processors",
      "row 4: temperature = -1 must be finite and >= 0 (0 = greedy)",
      "row 5: top_p = 0 is outside (0, 1]",
      "row 6: top_k = -3 must be >= 0 (0 = off)",
      "row 7: min_p = 2 is outside [0, 1]",
      "row 8: no token left to choose: every logit is -inf or masked by the processors",
      "row 9: logit_bias: token 100 is outside [0, n_vocab = 100)",
      "row 10: history[1] = 100 is outside [0, n_vocab = 100)",
      "row 11: temperature = nan must be finite and >= 0 (0 = greedy)",
  };
  DecodeHead single;
  for (int r = 0; r < 12; ++r) {
    if (expected[r] == nullptr) {
      ASSERT_TRUE(results[r].status.ok());
      const DecodeResult alone =
          single.Decode(std::span(logits).subspan(r * n, n), params[r], states[r]);
      EXPECT_EQ(results[r].token, alone.token);
    } else {
      EXPECT_EQ(results[r].status.message(), expected[r]);
      EXPECT_EQ(results[r].token, -1);
    }
  }
}

TEST(DecodeHead, OverflowAfterProcessorsOrALateTemperatureIsAnError) {
  DecodeHead head;
  std::vector<float> z = {1e38f, 0.0f, -1.0f};
  SamplerParams p;
  p.logit_bias = {{0, 3e38f}};
  EXPECT_EQ(head.Decode(z, p, RowState{}).status.message(),
            "token 0: logit 9.99999968e+37 after penalties and logit_bias is inf, not finite");
  p = SamplerParams{};
  p.frequency_penalty = -2e38f;
  const std::vector<int32_t> history = {0, 0};
  RowState state;
  state.history = history;
  EXPECT_FALSE(head.Decode(z, p, state).status.ok());
  p = SamplerParams{};  // a temperature after the filters that overflows
  p.top_k = 2;
  p.temperature = 1e-9f;
  p.order = {Stage::kTopK, Stage::kTemperature};
  const DecodeResult r = head.Decode(z, p, RowState{});
  EXPECT_EQ(r.status.message(),
            "the largest kept logit / temperature = 9.99999968e+37 / 9.99999972e-10 overflows float");
  EXPECT_EQ(r.token, -1);
  p.order = {Stage::kTemperature, Stage::kTopK};  // the same, folded into the load
  EXPECT_EQ(head.Decode(z, p, RowState{}).status.message(),
            "logits[0] / temperature = 9.99999968e+37 / 9.99999972e-10 overflows float");
  // Overflow towards -inf is reported too, wherever the temperature stands.
  const std::vector<float> low = {0.0f, -3e38f};
  SamplerParams half;
  half.temperature = 0.5f;
  EXPECT_EQ(head.Decode(low, half, RowState{}).status.message(),
            "logits[1] / temperature = -3.00000001e+38 / 0.5 overflows float");
  half.top_k = 2;
  half.order = {Stage::kTopK, Stage::kTemperature};
  EXPECT_EQ(head.Decode(low, half, RowState{}).status.code(), StatusCode::kInvalidArgument);
  // A token the processors ban cannot fail the row, whatever its logit / T.
  const std::vector<float> huge = {3e38f, 1.0f, 0.0f};
  SamplerParams ban;
  ban.temperature = 0.5f;
  ban.banned_tokens = {0};
  const DecodeResult banned = head.Decode(huge, ban, RowState{});
  ASSERT_TRUE(banned.status.ok()) << banned.status.ToString();
  EXPECT_NE(banned.token, 0);
}

TEST(DecodeHead, ProcessorsComposeWithTemperatureAndSixteenBitRows) {
  // The chain with processors at T = 0.7 against the stand-alone stages.
  std::mt19937_64 rng(700);
  const size_t n = 4000;
  std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kNormal5);
  std::vector<uint16_t> bf16(n);
  for (size_t i = 0; i < n; ++i) {  // round to bfloat16 so both rows hold the same values
    uint32_t u;
    std::memcpy(&u, &z[i], 4);
    bf16[i] = static_cast<uint16_t>(u >> 16);
    z[i] = Bf16ToFloat(bf16[i]);
  }
  const std::vector<int32_t> history = {3, 3, 17, 99, 3};
  SamplerParams p;
  p.temperature = 0.7f;
  p.repetition_penalty = 1.2f;
  p.presence_penalty = 0.4f;
  p.logit_bias = {{5, 2.5f}, {6, -1.0f}};
  p.banned_tokens = {7};
  p.top_logprobs = static_cast<int32_t>(n);
  p.alternatives_from = Alternatives::kFinal;
  p.outputs = kOutputLogprob;
  RowState state = State(3, 4, 5);
  state.history = history;
  std::vector<float> processed = z;
  ASSERT_TRUE(ApplyProcessors(processed, p, state).ok());
  std::vector<float> expected(n);
  ASSERT_TRUE(LogSoftmax(processed, 0.7f, expected).ok());
  DecodeHead head;
  std::vector<DecodeResult> results;
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::BF16(bf16, 1, n), std::span(&p, 1),
                               std::span(&state, 1), results).ok());
  for (const DecodeResult& r : {head.Decode(z, p, state), results[0]}) {
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    ASSERT_EQ(r.top.size(), n - 1);  // all but the banned token
    for (const TokenLogprob& t : r.top) {
      ASSERT_NE(t.token, 7);
      ASSERT_NEAR(t.logprob, expected[t.token], 2e-5 * (1 + std::fabs(expected[t.token])))
          << "token " << t.token;
    }
    EXPECT_NEAR(r.logprob, expected[r.token], 2e-5 * (1 + std::fabs(expected[r.token])));
  }
}

// The caller's row is read in place when nothing must rewrite it; every stage
// that writes works on a copy. Whatever the settings, the input is untouched.
TEST(DecodeHead, NeverWritesTheCallersLogits) {
  std::mt19937_64 rng(800);
  const std::vector<float> z = testing::RandomRow(rng, 6000, testing::RowKind::kPeaked);
  std::vector<SamplerParams> settings(12);
  settings[0].temperature = 0;
  settings[2].top_k = 50;
  settings[3].top_k = 10000;  // k >= V: the dense row stays borrowed into later stages
  settings[3].min_p = 0.01f;
  settings[4].top_p = 0.9f;
  settings[5].min_p = 0.1f;
  settings[6].typical_p = 0.9f;
  settings[7].top_n_sigma = 1.0f;
  settings[8].top_k = 40, settings[8].top_p = 0.95f, settings[8].min_p = 0.05f;
  settings[8].temperature = 0.8f;
  settings[8].order = {Stage::kTopK, Stage::kTopP, Stage::kMinP, Stage::kTemperature};
  settings[9].temperature = 0.7f, settings[9].top_p = 0.5f;
  settings[10].top_k = 6000, settings[10].temperature = 2.0f;
  settings[10].order = {Stage::kTopK, Stage::kTemperature};
  settings[11].logit_bias = {{1, 5.0f}};
  DecodeHead head;
  for (size_t i = 0; i < settings.size(); ++i) {
    std::vector<float> x = z;
    settings[i].outputs = kOutputAll;
    settings[i].top_logprobs = 5;
    const DecodeResult r = head.Decode(x, settings[i], State(1, 2, 3));
    ASSERT_TRUE(r.status.ok()) << "setting " << i << ": " << r.status.ToString();
    ASSERT_EQ(std::memcmp(x.data(), z.data(), z.size() * 4), 0) << "setting " << i;
  }
}

TEST(DecodeHead, ComputesOnlyTheOutputsAskedFor) {
  const std::vector<float> z = {1, 2, 3};
  DecodeHead head;
  DecodeResult r = head.Decode(z, SamplerParams{}, RowState{});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(std::isnan(r.raw_logprob) && std::isnan(r.logprob));
  EXPECT_TRUE(std::isnan(r.raw_entropy) && std::isnan(r.entropy));
  EXPECT_EQ(r.rank, 0);
  EXPECT_EQ(r.n_kept, 0);
  EXPECT_TRUE(r.top.empty());
  SamplerParams p;
  p.outputs = kOutputRank;
  r = head.Decode(z, p, RowState{});
  EXPECT_GE(r.rank, 1);
  EXPECT_TRUE(std::isnan(r.logprob));
}

TEST(DecodeHead, TypicalPBreaksTiesInDistanceTowardsLowerIds) {
  // Logits symmetric around the entropy point: tokens 0 and 3 are equally far
  // from it, so are 1 and 2; the lower id of each pair ranks first.
  // q = (0.134, 0.366, 0.366, 0.134) and H = 1.277: tokens 1, 2 are 0.267
  // from it, tokens 0, 3 are 0.733 from it.
  const std::vector<float> z = {0.0f, 1.0f, 1.0f, 0.0f};
  std::vector<float> x = z;
  ASSERT_EQ(*TypicalP(x, 0.3f), 1u);  // token 1 alone reaches 0.3; 2 ties with it and loses
  EXPECT_EQ(x, (std::vector<float>{kNegInf, 1.0f, kNegInf, kNegInf}));
  x = z;
  ASSERT_EQ(*TypicalP(x, 0.8f), 3u);  // 1 and 2 hold 0.732; then 0 before 3
  EXPECT_EQ(x, (std::vector<float>{0.0f, 1.0f, 1.0f, kNegInf}));
}

TEST(DecodeHead, BatchShapeErrorsNameTheMismatch) {
  DecodeHead head;
  std::vector<float> logits(30, 0.0f);
  std::vector<SamplerParams> params(2);
  std::vector<RowState> states(3);
  std::vector<DecodeResult> results;
  EXPECT_EQ(head.DecodeBatch(LogitsBatch::F32(logits, 3, 10), params, states, results).message(),
            "params has 2 entries; expected 1 or n_rows = 3");
  params.resize(1);
  states.resize(2);
  EXPECT_EQ(head.DecodeBatch(LogitsBatch::F32(logits, 3, 10), params, states, results).message(),
            "states has 2 entries; expected n_rows = 3");
  EXPECT_EQ(head.DecodeBatch(LogitsBatch::F32(logits, 3, 0), params, states, results).message(),
            "n_vocab = 0: rows need at least one logit");
  LogitsBatch strided = LogitsBatch::F32(logits, 2, 10);
  strided.row_stride = 5;
  EXPECT_EQ(head.DecodeBatch(strided, params, states, results).message(),
            "row_stride = 5 is less than n_vocab = 10");
  states.resize(4);  // 4 rows of 10 do not fit in 30 floats: refused, not read past the end
  EXPECT_EQ(head.DecodeBatch(LogitsBatch::F32(logits, 4, 10), params, states, results).message(),
            "logits hold 30 elements; 4 rows of n_vocab = 10 at row_stride = 10 need more");
  LogitsBatch wide = LogitsBatch::F32(logits, 2, 10);
  wide.row_stride = 20;  // rows at 0 and 20: 30 elements suffice
  states.resize(2);
  EXPECT_TRUE(head.DecodeBatch(wide, params, states, results).ok());
  wide.n_rows = 3;
  states.resize(3);
  EXPECT_FALSE(head.DecodeBatch(wide, params, states, results).ok());
  EXPECT_EQ(head.Decode(std::span<const float>(), SamplerParams{}, RowState{}).status.message(),
            "n_vocab = 0: a row needs at least one logit");
}

TEST(DecodeHead, HandlesVocabulariesFromOneToTwoHundredSixtyTwoThousand) {
  DecodeHead head;
  std::mt19937_64 rng(600);
  for (size_t n : {1, 2, 262144}) {
    const std::vector<float> z = testing::RandomRow(rng, n, testing::RowKind::kPeaked);
    SamplerParams p;
    p.top_p = 0.99f;
    p.outputs = kOutputAll;
    const DecodeResult r = head.Decode(z, p, State(1, 1, 1));
    ASSERT_TRUE(r.status.ok());
    EXPECT_LT(static_cast<size_t>(r.token), n);
    if (n == 1) {
      EXPECT_EQ(r.logprob, 0.0f);
    }
  }
}

// alternatives_from = kFinal lists the kept set only: with filters, greedy
// (its token alone) and with every token kept.
TEST(DecodeHead, FinalAlternativesComeFromTheKeptSetOnly) {
  std::mt19937_64 rng(230);
  const std::vector<float> z = testing::RandomRow(rng, 5000, testing::RowKind::kNormal5);
  DecodeHead head;
  SamplerParams p;
  p.top_k = 7;
  p.top_logprobs = 20;
  p.alternatives_from = Alternatives::kFinal;
  p.outputs = kOutputKept | kOutputLogprob;
  DecodeResult r = head.Decode(z, p, State(1, 2, 3));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.top.size(), 7u);
  for (const TokenLogprob& t : r.top) EXPECT_GT(t.logprob, kNegInf);

  p.temperature = 0;
  r = head.Decode(z, p, State(1, 2, 3));
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.top.size(), 1u);
  EXPECT_EQ(r.top[0].token, r.token);
  EXPECT_EQ(r.top[0].logprob, 0.0f);
  EXPECT_EQ(r.n_kept, 1);
  // Raw alternatives are the raw top 20 whatever was kept.
  p.alternatives_from = Alternatives::kRaw;
  r = head.Decode(z, p, State(1, 2, 3));
  EXPECT_EQ(r.top.size(), 20u);
}

// A batch of rows anywhere in memory decodes as the same rows back to back.
TEST(DecodeHead, RowPointerBatchEqualsContiguousBatch) {
  std::mt19937_64 rng(231);
  const size_t n = 3000, rows = 5;
  std::vector<std::vector<float>> separate;
  std::vector<float> contiguous;
  for (size_t r = 0; r < rows; ++r) {
    separate.push_back(testing::RandomRow(rng, n, testing::RowKind::kPeaked));
    contiguous.insert(contiguous.end(), separate.back().begin(), separate.back().end());
  }
  std::vector<const float*> pointers;
  for (auto it = separate.rbegin(); it != separate.rend(); ++it) pointers.push_back(it->data());
  std::reverse(pointers.begin(), pointers.end());
  SamplerParams p;
  p.temperature = 0.9f;
  p.top_p = 0.9f;
  p.outputs = kOutputAll;
  p.top_logprobs = 3;
  std::vector<RowState> states(rows);
  for (size_t r = 0; r < rows; ++r) states[r] = State(5, r, 9);
  ThreadPool pool(2);
  DecodeHead head(&pool);
  std::vector<DecodeResult> a, b;
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::F32(contiguous, rows, n), std::span(&p, 1), states, a).ok());
  ASSERT_TRUE(head.DecodeBatch(LogitsBatch::F32Rows(pointers, n), std::span(&p, 1), states, b).ok());
  for (size_t r = 0; r < rows; ++r) {
    EXPECT_EQ(a[r].token, b[r].token);
    EXPECT_EQ(a[r].logprob, b[r].logprob);
    EXPECT_EQ(a[r].raw_logprob, b[r].raw_logprob);
  }
  pointers[2] = nullptr;
  EXPECT_EQ(head.DecodeBatch(LogitsBatch::F32Rows(pointers, n), std::span(&p, 1), states, b).message(),
            "logits.rows[2] is null");
}

}  // namespace
}  // namespace logitkit
