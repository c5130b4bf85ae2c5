// The forward pass on tiny llama-, qwen2- and GPT-2-style models written with
// the GGUF writer:
// batch against one-at-a-time, several sequences in one step (EvalBatch)
// against each alone, rewinding, the residual taps against the
// logits, int8 activations against float32, and every bad input named.
// (Logits against an independent numpy implementation: tests/model.)
#include "logitkit/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "logitkit/quant.h"
#include "model/testing/tiny_model.h"
#include "model/weights.h"

namespace logitkit {
namespace {

using testing::Build;
using testing::Tiny;

StatusOr<std::unique_ptr<Model>> Load(const Tiny& m, std::vector<uint8_t>* storage) {
  return Model::FromFile(Build(m, storage));
}

const std::vector<int32_t> kTokens = {3, 14, 15, 92, 65, 35, 89, 79};

// One batch of all positions equals the same tokens fed one at a time, bitwise.
void ExpectBatchEqualsSteps(const Tiny& m, Activations activations) {
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(m, &storage);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ThreadPool pool(2);
  Context batch(**model, 16, &pool, activations);
  std::vector<float> all;
  ASSERT_TRUE(batch.Eval(kTokens, Logits::kAll, &all).ok());
  ASSERT_EQ(all.size(), kTokens.size() * m.vocab);
  Context steps(**model, 16, &pool, activations);
  for (size_t t = 0; t < kTokens.size(); ++t) {
    std::vector<float> one;
    ASSERT_TRUE(steps.Eval(std::span<const int32_t>(&kTokens[t], 1), Logits::kLast, &one).ok());
    ASSERT_EQ(0, std::memcmp(one.data(), all.data() + t * m.vocab, m.vocab * sizeof(float))) << "position " << t;
  }
  EXPECT_EQ(steps.n_past(), kTokens.size());
}

TEST(Model, ABatchEqualsOneTokenAtATime) {
  Tiny m;
  ExpectBatchEqualsSteps(m, Activations::kFloat32);  // float32 weights: the same sums
  m.matrix_type = quant::TensorType::kQ8_0;  // each block decoded once for several tokens
  ExpectBatchEqualsSteps(m, Activations::kFloat32);
  ExpectBatchEqualsSteps(m, Activations::kInt8);  // batch-invariant by construction
  m.biases = true;
  m.architecture = "qwen2";
  ExpectBatchEqualsSteps(m, Activations::kFloat32);
  Tiny gpt2;
  gpt2.architecture = "gpt2";
  gpt2.kv_heads = gpt2.heads;
  ExpectBatchEqualsSteps(gpt2, Activations::kFloat32);
  gpt2.matrix_type = quant::TensorType::kQ8_0;
  ExpectBatchEqualsSteps(gpt2, Activations::kInt8);
}

// Sequences of different lengths stepped together give bitwise the logits
// each gets alone, whatever shares its step (the server's seeded determinism).
void ExpectEvalBatchEqualsAlone(const Tiny& m, Activations activations) {
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(m, &storage);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ThreadPool pool(2);
  // Sequence i starts with a prompt of i + 1 tokens of kTokens, then steps.
  constexpr size_t kSequences = 3, kSteps = 4;
  std::vector<std::unique_ptr<Context>> together, alone;
  std::vector<int32_t> next(kSequences);
  std::vector<std::vector<float>> alone_logits(kSequences);
  for (size_t i = 0; i < kSequences; ++i) {
    const std::span<const int32_t> prompt(kTokens.data(), i + 1);
    std::vector<float> unused;
    together.push_back(std::make_unique<Context>(**model, 16, &pool, activations));
    alone.push_back(std::make_unique<Context>(**model, 16, &pool, activations));
    ASSERT_TRUE(together[i]->Eval(prompt, Logits::kNone, &unused).ok());
    ASSERT_TRUE(alone[i]->Eval(prompt, Logits::kNone, &unused).ok());
  }
  for (size_t step = 0; step < kSteps; ++step) {
    // Each step, a different subset shares the batch: all, then leaving one out.
    std::vector<Context*> batch;
    std::vector<int32_t> tokens;
    std::vector<size_t> members;
    for (size_t i = 0; i < kSequences; ++i) {
      if (step > 0 && i == step % kSequences) continue;
      members.push_back(i);
      batch.push_back(together[i].get());
      tokens.push_back(kTokens[(3 * step + i) % kTokens.size()]);
    }
    std::vector<float> logits;
    ASSERT_TRUE(Context::EvalBatch(batch, tokens, &logits).ok());
    ASSERT_EQ(logits.size(), members.size() * m.vocab);
    for (size_t b = 0; b < members.size(); ++b) {
      const size_t i = members[b];
      std::vector<float> one;
      ASSERT_TRUE(alone[i]->Eval(std::span<const int32_t>(&tokens[b], 1), Logits::kLast, &one).ok());
      ASSERT_EQ(0, std::memcmp(one.data(), logits.data() + b * m.vocab, m.vocab * sizeof(float)))
          << m.architecture << " step " << step << " sequence " << i;
      ASSERT_EQ(together[i]->n_past(), alone[i]->n_past());
    }
  }
}

TEST(Model, EvalBatchGivesEachSequenceItsOwnLogitsBitwise) {
  Tiny m;
  ExpectEvalBatchEqualsAlone(m, Activations::kFloat32);
  m.matrix_type = quant::TensorType::kQ8_0;
  ExpectEvalBatchEqualsAlone(m, Activations::kFloat32);
  ExpectEvalBatchEqualsAlone(m, Activations::kInt8);
  Tiny gpt2;
  gpt2.architecture = "gpt2";
  gpt2.kv_heads = gpt2.heads;
  gpt2.matrix_type = quant::TensorType::kQ8_0;
  ExpectEvalBatchEqualsAlone(gpt2, Activations::kFloat32);
}

TEST(Model, EvalBatchErrorsNameTheContextAndChangeNothing) {
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(Tiny{}, &storage);
  ASSERT_TRUE(model.ok());
  ThreadPool pool(1), other_pool(1);
  Context a(**model, 2, &pool), b(**model, 8, &pool), c(**model, 8, &other_pool);
  std::vector<float> logits;
  std::vector<int32_t> two = {1, 2};
  std::vector<Context*> ab = {&a, &b};
  EXPECT_FALSE(Context::EvalBatch({}, {}, &logits).ok());
  Status s = Context::EvalBatch(ab, std::vector<int32_t>{1}, &logits);
  EXPECT_NE(s.message().find("2 contexts but 1 tokens"), std::string::npos) << s.message();
  s = Context::EvalBatch(ab, std::vector<int32_t>{1, 100}, &logits);
  EXPECT_NE(s.message().find("context 1 = 100 is outside [0, 100)"), std::string::npos) << s.message();
  std::vector<Context*> aa = {&a, &a};
  s = Context::EvalBatch(aa, two, &logits);
  EXPECT_NE(s.message().find("context 1 is context 0 again"), std::string::npos) << s.message();
  std::vector<Context*> ac = {&a, &c};
  s = Context::EvalBatch(ac, two, &logits);
  EXPECT_NE(s.message().find("context 1 has another model, pool"), std::string::npos) << s.message();
  ASSERT_TRUE(a.Eval(two, Logits::kNone, &logits).ok());
  s = Context::EvalBatch(ab, two, &logits);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("context 0 is full (2 tokens)"), std::string::npos) << s.message();
  EXPECT_EQ(a.n_past(), 2u);
  EXPECT_EQ(b.n_past(), 0u);
}

TEST(Model, Int8ActivationsStayCloseToFloat32) {
  Tiny m;
  m.matrix_type = quant::TensorType::kQ8_0;
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(m, &storage);
  ASSERT_TRUE(model.ok());
  ThreadPool pool(1);
  Context exact(**model, 16, &pool), coarse(**model, 16, &pool, Activations::kInt8);
  std::vector<float> a, b;
  ASSERT_TRUE(exact.Eval(kTokens, Logits::kAll, &a).ok());
  ASSERT_TRUE(coarse.Eval(kTokens, Logits::kAll, &b).ok());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, double(std::fabs(a[i] - b[i])));
    max_abs = std::max(max_abs, double(std::fabs(a[i])));
  }
  EXPECT_GT(max_diff, 0.0);  // the int8 path really ran
  EXPECT_LT(max_diff, 0.05 * max_abs);
}

TEST(Model, RewindForgetsPositions) {
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(Tiny{}, &storage);
  ASSERT_TRUE(model.ok());
  ThreadPool pool(2);
  Context c(**model, 16, &pool);
  std::vector<float> first, again;
  ASSERT_TRUE(c.Eval(kTokens, Logits::kLast, &first).ok());
  c.Rewind(4);
  EXPECT_EQ(c.n_past(), 4u);
  ASSERT_TRUE(c.Eval(std::span<const int32_t>(kTokens).subspan(4), Logits::kLast, &again).ok());
  EXPECT_EQ(first, again);
}

// Unembed() on the last tap gives Eval's logits bit for bit, for both families.
TEST(Model, UnembedOnTheLastTapGivesTheLogitsExactly) {
  for (const char* arch : {"llama", "gpt2"}) {
    Tiny m;
    m.architecture = arch;
    m.kv_heads = std::string(arch) == "gpt2" ? m.heads : m.kv_heads;
    std::vector<uint8_t> storage;
    StatusOr<std::unique_ptr<Model>> model = Load(m, &storage);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ThreadPool pool(2);
    Context c(**model, 16, &pool);
    std::vector<float> logits, again;
    ResidualTap tap;
    ASSERT_TRUE(c.Eval(kTokens, Logits::kAll, &logits, &tap).ok());
    ASSERT_TRUE(c.Unembed(tap.residual.back(), &again).ok());
    EXPECT_EQ(logits, again) << arch;
    std::vector<float> first_layer;
    ASSERT_TRUE(c.Unembed(tap.residual.front(), &first_layer).ok());
    EXPECT_NE(first_layer, logits);  // an earlier layer is another distribution
    EXPECT_FALSE(c.Unembed(std::span<const float>(tap.residual.back()).first(m.d - 1), &again).ok());
  }
}

// The last tap, through the final norm and the LM head, gives the logits.
TEST(Model, TheLastResidualTapGivesTheLogits) {
  Tiny m;
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(m, &storage);
  ASSERT_TRUE(model.ok());
  ThreadPool pool(1);
  Context c(**model, 16, &pool);
  std::vector<float> logits;
  ResidualTap tap;
  ASSERT_TRUE(c.Eval(kTokens, Logits::kAll, &logits, &tap).ok());
  ASSERT_EQ(tap.residual.size(), m.layers);
  ASSERT_EQ(tap.residual.back().size(), kTokens.size() * m.d);
  const ModelWeights& w = WeightsOf(**model);
  // The embedding tap: each position's token embedding row, as stored (float32 here).
  ASSERT_EQ(w.token_embd.type, quant::TensorType::kF32);
  ASSERT_EQ(tap.embedding.size(), kTokens.size() * m.d);
  for (size_t t = 0; t < kTokens.size(); ++t) {
    const float* row = reinterpret_cast<const float*>(w.token_embd.Row(size_t(kTokens[t])));
    EXPECT_EQ(std::vector<float>(row, row + m.d),
              std::vector<float>(tap.embedding.begin() + t * m.d, tap.embedding.begin() + (t + 1) * m.d)) << t;
  }
  for (size_t t = 0; t < kTokens.size(); ++t) {
    const float* x = &tap.residual.back()[t * m.d];
    double ss = 0;
    for (size_t i = 0; i < m.d; ++i) ss += double(x[i]) * x[i];
    const double scale = 1.0 / std::sqrt(ss / m.d + 1e-5);
    for (size_t v = 0; v < m.vocab; ++v) {
      double z = 0;
      const float* row = reinterpret_cast<const float*>(w.unembedding.Row(v));
      for (size_t i = 0; i < m.d; ++i) z += double(x[i]) * scale * w.output_norm.weight[i] * row[i];
      ASSERT_NEAR(logits[t * m.vocab + v], z, 1e-4 * (1 + std::fabs(z))) << t << " " << v;
    }
  }
}

// Inputs longer than one pass run in chunks of kMaxBatch inside Eval and
// EvalEach; every form gives the one-token-at-a-time logits bitwise, and the
// taps and progress cover every position.
TEST(Model, LongInputsRunInChunksWithTheSameLogits) {
  Tiny m;
  m.matrix_type = quant::TensorType::kQ8_0;
  m.context = 256;
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(m, &storage);
  ASSERT_TRUE(model.ok());
  ThreadPool pool(2);
  const size_t T = 2 * Context::kMaxBatch + 7;
  std::vector<int32_t> tokens(T);
  for (size_t t = 0; t < T; ++t) tokens[t] = int32_t((t * 37 + 11) % m.vocab);
  Context steps(**model, T, &pool);
  std::vector<float> expected;
  for (size_t t = 0; t < T; ++t) {
    std::vector<float> one;
    ASSERT_TRUE(steps.Eval(std::span<const int32_t>(&tokens[t], 1), Logits::kLast, &one).ok());
    expected.insert(expected.end(), one.begin(), one.end());
  }
  Context all(**model, T, &pool);
  std::vector<float> logits;
  ResidualTap tap;
  std::vector<size_t> progress;
  ASSERT_TRUE(all.Eval(tokens, Logits::kAll, &logits, &tap, [&](size_t n) {
    progress.push_back(n);
    return true;
  }).ok());
  EXPECT_EQ(logits, expected);
  EXPECT_EQ(progress, (std::vector<size_t>{64, 128, T}));
  ASSERT_EQ(tap.residual.size(), m.layers);
  EXPECT_EQ(tap.residual[0].size(), T * m.d);
  EXPECT_EQ(tap.embedding.size(), T * m.d);

  Context last(**model, T, &pool);
  // A progress callback that says stop after the first pass: kCancelled, and
  // the context is as it was (the full evaluation after it is unchanged).
  const Status cancelled =
      last.Eval(tokens, Logits::kLast, &logits, nullptr, [](size_t n) { return n < Context::kMaxBatch; });
  EXPECT_EQ(cancelled.code(), StatusCode::kCancelled) << cancelled.ToString();
  EXPECT_NE(cancelled.message().find("64 of " + std::to_string(T)), std::string::npos) << cancelled.message();
  EXPECT_EQ(last.n_past(), 0u);
  ASSERT_TRUE(last.Eval(tokens, Logits::kLast, &logits).ok());
  EXPECT_EQ(logits, std::vector<float>(expected.end() - m.vocab, expected.end()));
  EXPECT_EQ(last.n_past(), T);

  Context each(**model, T, &pool);
  std::vector<float> streamed;
  std::vector<size_t> firsts;
  ASSERT_TRUE(each.EvalEach(tokens, [&](size_t first, std::span<const float> rows) {
    EXPECT_LE(rows.size(), Context::kMaxBatch * m.vocab);
    firsts.push_back(first);
    streamed.insert(streamed.end(), rows.begin(), rows.end());
    return OkStatus();
  }).ok());
  EXPECT_EQ(streamed, expected);
  EXPECT_EQ(firsts, (std::vector<size_t>{0, 64, 128}));
  // A sink's error stops the pass and comes back.
  Context stopped(**model, T, &pool);
  const Status s = stopped.EvalEach(tokens, [](size_t first, std::span<const float>) {
    return first == 64 ? InvalidArgumentError("enough") : OkStatus();
  });
  EXPECT_EQ(s.message(), "enough");
  EXPECT_EQ(stopped.n_past(), 128u);
  // Input errors come before any pass.
  Context small(**model, 8, &pool);
  EXPECT_EQ(small.EvalEach(tokens, [](size_t, std::span<const float>) { return OkStatus(); }).code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(small.n_past(), 0u);
}

void ExpectLoadError(const Tiny& m, const std::vector<std::string>& parts) {
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(m, &storage);
  ASSERT_FALSE(model.ok());
  for (const std::string& p : parts) {
    EXPECT_NE(model.status().message().find(p), std::string::npos) << model.status().message() << " lacks " << p;
  }
}

TEST(Model, BadModelsAreNamedErrors) {
  Tiny m;
  m.architecture = "mamba";
  ExpectLoadError(m, {"architecture 'mamba' is not supported"});
  m = Tiny{};
  m.architecture = "gpt2";
  m.kv_heads = m.heads;
  m.drop_tensor = "blk.0.attn_qkv.bias";
  ExpectLoadError(m, {"blk.0.attn_qkv.bias is missing"});
  m = Tiny{};
  m.drop_tensor = "blk.1.ffn_up.weight";
  ExpectLoadError(m, {"blk.1.ffn_up.weight is missing"});
  m = Tiny{};
  m.misshape_tensor = "blk.0.attn_k.weight";
  ExpectLoadError(m, {"blk.0.attn_k.weight has shape [32, 32]", "expected [64, 32]"});
  m = Tiny{};
  m.matrix_type = quant::TensorType::kQ2_K;
  m.d = 256;
  m.ff = 256;
  ExpectLoadError(m, {"blk.0.attn_q.weight", "Q2_K"});
  m = Tiny{};
  m.drop_tensor = "output_norm.weight";
  ExpectLoadError(m, {"output_norm.weight is missing"});
}

TEST(Model, BadInputsAreNamedErrorsAndLeaveTheContextAlone) {
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Load(Tiny{}, &storage);
  ASSERT_TRUE(model.ok());
  ThreadPool pool(1);
  Context c(**model, 8, &pool);
  std::vector<float> logits;
  Status s = c.Eval({}, Logits::kLast, &logits);
  EXPECT_NE(s.message().find("empty prompt"), std::string::npos) << s.message();
  const std::vector<int32_t> bad = {1, 100};
  s = c.Eval(bad, Logits::kLast, &logits);
  EXPECT_NE(s.message().find("token 1 = 100 is outside [0, 100)"), std::string::npos) << s.message();
  const std::vector<int32_t> negative = {-1};
  EXPECT_FALSE(c.Eval(negative, Logits::kLast, &logits).ok());
  const std::vector<int32_t> nine(9, 1);
  s = c.Eval(nine, Logits::kLast, &logits);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("exceed the context of 8"), std::string::npos) << s.message();
  EXPECT_EQ(c.n_past(), 0u);
  ASSERT_TRUE(c.Eval(std::vector<int32_t>(8, 1), Logits::kNone, &logits).ok());
  EXPECT_EQ(c.n_past(), 8u);
}

}  // namespace
}  // namespace logitkit
