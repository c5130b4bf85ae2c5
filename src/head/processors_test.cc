// Logit processors against a direct double-precision reference.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "head/testing/reference.h"
#include "logitkit/head.h"

namespace logitkit {
namespace {

using testing::kNegInf;

TEST(Processors, PenaltiesFollowTheirFormulasOverTheWindow) {
  std::mt19937_64 rng(70);
  std::vector<float> z = testing::RandomRow(rng, 300, testing::RowKind::kNormal5);
  const std::vector<int32_t> history = {5, 9, 5, 200, 5, 9, 17, 299, 0};
  for (int32_t window : {0, 1, 4, 100}) {
    SamplerParams p;
    p.repetition_penalty = 1.3f;
    p.frequency_penalty = 0.25f;
    p.presence_penalty = 0.5f;
    p.penalty_window = window;
    RowState state;
    state.history = history;
    std::vector<float> x = z;
    ASSERT_TRUE(ApplyProcessors(x, p, state).ok());
    // Reference: counts over the last `window` tokens (0 = all).
    std::map<int32_t, int> counts;
    const size_t start = window == 0 || history.size() <= size_t(window) ? 0 : history.size() - window;
    for (size_t i = start; i < history.size(); ++i) ++counts[history[i]];
    for (size_t t = 0; t < z.size(); ++t) {
      double expected = z[t];
      auto it = counts.find(static_cast<int32_t>(t));
      if (it != counts.end()) {
        expected = expected > 0 ? expected / 1.3 : expected * 1.3;
        expected -= it->second * 0.25 + 0.5;
      }
      ASSERT_NEAR(x[t], expected, 1e-5 * (1 + std::fabs(expected))) << "token " << t << " window " << window;
    }
  }
}

TEST(Processors, BiasMasksAndMinTokens) {
  std::vector<float> z = {1, 2, 3, 4, 5, 6};
  SamplerParams p;
  p.logit_bias = {{0, 10.0f}, {2, kNegInf}, {0, 1.0f}};  // repeated tokens add up
  p.banned_tokens = {5};
  p.min_tokens = 3;
  p.eos_tokens = {4};
  RowState state;
  state.n_generated = 2;
  std::vector<float> x = z;
  ASSERT_TRUE(ApplyProcessors(x, p, state).ok());
  EXPECT_EQ(x, (std::vector<float>{12, 2, kNegInf, 4, kNegInf, kNegInf}));

  state.n_generated = 3;  // min_tokens reached: EOS allowed again
  x = z;
  ASSERT_TRUE(ApplyProcessors(x, p, state).ok());
  EXPECT_EQ(x[4], 5.0f);

  SamplerParams allow;
  allow.allowed_tokens = {1, 3};
  x = z;
  ASSERT_TRUE(ApplyProcessors(x, allow, RowState{}).ok());
  EXPECT_EQ(x, (std::vector<float>{kNegInf, 2, kNegInf, 4, kNegInf, kNegInf}));
}

TEST(Processors, BiasAppliesAfterThePenalty) {
  std::vector<float> z = {2.0f, 1.0f};
  SamplerParams p;
  p.repetition_penalty = 2.0f;
  p.logit_bias = {{0, 1.0f}};
  const std::vector<int32_t> history = {0};
  RowState state;
  state.history = history;
  ASSERT_TRUE(ApplyProcessors(z, p, state).ok());
  EXPECT_EQ(z[0], 2.0f);  // 2 / 2 + 1, not (2 + 1) / 2
}

TEST(Processors, RejectOutOfRangeIdsNamingTheField) {
  std::vector<float> z(10, 0.0f);
  SamplerParams p;
  p.logit_bias = {{3, 1.0f}, {10, 1.0f}};
  EXPECT_EQ(ApplyProcessors(z, p, RowState{}).message(),
            "logit_bias: token 10 is outside [0, n_vocab = 10)");
  p = SamplerParams{};
  p.banned_tokens = {-1};
  EXPECT_EQ(ApplyProcessors(z, p, RowState{}).message(),
            "banned_tokens[0] = -1 is outside [0, n_vocab = 10)");
  p = SamplerParams{};
  p.allowed_tokens = {11};
  EXPECT_EQ(ApplyProcessors(z, p, RowState{}).code(), StatusCode::kOutOfRange);
  p = SamplerParams{};
  const std::vector<int32_t> history = {1, 2, 99};
  RowState state;
  state.history = history;
  EXPECT_EQ(ApplyProcessors(z, p, state).message(), "history[2] = 99 is outside [0, n_vocab = 10)");
  p = SamplerParams{};
  p.eos_tokens = {10};
  EXPECT_FALSE(ApplyProcessors(z, p, RowState{}).ok());
  p = SamplerParams{};
  p.repetition_penalty = 0.0f;
  EXPECT_EQ(ApplyProcessors(z, p, RowState{}).message(),
            "repetition_penalty = 0 must be finite and > 0");
  p = SamplerParams{};
  p.logit_bias = {{1, NAN}};
  EXPECT_EQ(ApplyProcessors(z, p, RowState{}).message(),
            "logit_bias[1] = nan must be finite or -inf");
  EXPECT_EQ(z, std::vector<float>(10, 0.0f));  // nothing changed on error
}

// A processor that pushes a finite logit below -FLT_MAX is an error, as one
// that overflows upward is; a -inf bias still bans, and -inf logits stay -inf.
TEST(Processors, OverflowDownwardIsAnErrorNamingTheToken) {
  const std::vector<float> z = {-3e38f, 1.0f, kNegInf};
  SamplerParams p;
  p.logit_bias = {{0, -3e38f}};
  std::vector<float> x = z;
  EXPECT_EQ(ApplyProcessors(x, p, RowState{}).message(),
            "token 0: logit -3.00000001e+38 after penalties and logit_bias is -inf, not finite");
  EXPECT_EQ(x, z);
  // A huge frequency penalty on a seen token, also alone in its row.
  const std::vector<float> one = {1.0f};
  const std::vector<int32_t> history = {0, 0};
  RowState state;
  state.history = history;
  SamplerParams f;
  f.frequency_penalty = 3e38f;
  x = one;
  EXPECT_EQ(ApplyProcessors(x, f, state).code(), StatusCode::kInvalidArgument);
  DecodeHead head;
  const DecodeResult r = head.Decode(one, f, state);
  EXPECT_NE(r.status.message().find("token 0: logit 1 after penalties and logit_bias is -inf"),
            std::string::npos) << r.status.message();
  // Not errors: a -inf bias (a ban), a bias on a -inf logit.
  SamplerParams ban;
  ban.logit_bias = {{1, kNegInf}, {2, 5.0f}};
  x = z;
  ASSERT_TRUE(ApplyProcessors(x, ban, RowState{}).ok());
  EXPECT_EQ(x, (std::vector<float>{-3e38f, kNegInf, kNegInf}));
}

// The rule for a value that leaves float on a token the masks remove anyway
// (banned, not allowed, an end token before min_tokens): no error, the token
// is -inf, as the temperature's overflow check looks at kept tokens only.
TEST(Processors, OverflowOnAMaskedTokenIsNoError) {
  const std::vector<float> z = {3e38f, 1.0f, 2.0f};
  SamplerParams banned;
  banned.logit_bias = {{0, 3e38f}};
  banned.banned_tokens = {0};
  std::vector<float> x = z;
  ASSERT_TRUE(ApplyProcessors(x, banned, RowState{}).ok());
  EXPECT_EQ(x, (std::vector<float>{kNegInf, 1.0f, 2.0f}));

  SamplerParams allowed;
  allowed.logit_bias = {{0, 3e38f}};
  allowed.allowed_tokens = {1, 2};
  x = z;
  ASSERT_TRUE(ApplyProcessors(x, allowed, RowState{}).ok());
  EXPECT_EQ(x, (std::vector<float>{kNegInf, 1.0f, 2.0f}));

  SamplerParams eos;
  eos.logit_bias = {{0, 3e38f}};
  eos.eos_tokens = {0};
  eos.min_tokens = 1;
  x = z;
  ASSERT_TRUE(ApplyProcessors(x, eos, RowState{}).ok());  // n_generated 0 < 1: masked
  RowState later;
  later.n_generated = 1;
  x = z;
  EXPECT_EQ(ApplyProcessors(x, eos, later).code(), StatusCode::kInvalidArgument);  // not masked now
}

TEST(Processors, NegativeGeneratedCountIsAnError) {
  std::vector<float> z(4, 0.0f);
  RowState state;
  state.n_generated = -1;
  EXPECT_EQ(ApplyProcessors(z, SamplerParams{}, state).message(), "n_generated = -1 must be >= 0");
}

}  // namespace
}  // namespace logitkit
