// Generation on the default model (SmolLM2-135M-Instruct): a sequence's
// tokens and logprobs against a plain loop over Context and DecodeHead that
// follows the documented semantics, batching invariance, stops, limits,
// prompt records and errors. Skipped without the model unless
// LOGITKIT_REQUIRE_MODEL=1.
#include "logitkit/generate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "logitkit/loaded_model.h"
#include "model/testing/tiny_model.h"

namespace logitkit {
namespace {

class Generate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(DefaultModelPath())) return;
    StatusOr<LoadedModel> m = LoadModel("", 2);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = new LoadedModel(std::move(*m));
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (model_ != nullptr) return;
    if (const char* need = std::getenv("LOGITKIT_REQUIRE_MODEL"); need && std::string(need) == "1") {
      FAIL() << DefaultModelPath() << " is missing: run scripts/fetch-model";
    }
    GTEST_SKIP() << DefaultModelPath() << " is missing: run scripts/fetch-model";
  }
  static std::vector<int32_t> Encode(const std::string& text) { return *model_->EncodePrompt(text, false); }
  static Sequence Started(const std::string& prompt, GenerateOptions options) {
    Sequence seq(*model_->tokenizer, Encode(prompt), std::move(options));
    const Status s = seq.Start(*model_->model, model_->pool.get());
    EXPECT_TRUE(s.ok()) << s.ToString();
    return seq;
  }
  static LoadedModel* model_;
};
LoadedModel* Generate::model_ = nullptr;

// Settings that use every kind of stage: penalties over a window, min_tokens,
// typical-p, top-nσ and a custom order.
GenerateOptions Busy(uint64_t seed) {
  GenerateOptions o;
  SamplerParams& p = o.sampler;
  p.temperature = 0.9f;
  p.top_k = 60;
  p.top_p = 0.95f;
  p.typical_p = 0.9f;
  p.top_n_sigma = 2.5f;
  p.frequency_penalty = 0.3f;
  p.presence_penalty = 0.2f;
  p.repetition_penalty = 1.1f;
  p.penalty_window = 8;
  p.min_tokens = 6;
  p.order = {Stage::kTopK, Stage::kTemperature, Stage::kTopNSigma, Stage::kTypicalP, Stage::kTopP,
             Stage::kMinP};
  p.top_logprobs = 3;
  o.seed = seed;
  o.max_tokens = 12;
  return o;
}

// The documented semantics, written out: draw i sees history = prompt + i
// tokens, n_generated = i, step = prompt.size() + i; an end token ends it.
std::vector<DecodeResult> ReferenceLoop(const LoadedModel& m, std::vector<int32_t> tokens,
                                        const GenerateOptions& o, std::vector<std::vector<float>>* rows = nullptr) {
  Context context(*m.model, tokens.size() + o.max_tokens, m.pool.get());
  std::vector<float> logits;
  EXPECT_TRUE(context.Eval(tokens, Logits::kLast, &logits).ok());
  DecodeHead head;
  SamplerParams p = o.sampler;
  p.outputs |= kOutputRawLogprob | kOutputLogprob;
  for (int32_t id : {m.tokenizer->eos(), m.tokenizer->eot(), m.tokenizer->eom()}) {
    if (id >= 0 && std::find(p.eos_tokens.begin(), p.eos_tokens.end(), id) == p.eos_tokens.end()) p.eos_tokens.push_back(id);
  }
  const size_t n_prompt = tokens.size();
  std::vector<DecodeResult> out;
  while (out.size() < o.max_tokens) {
    RowState state;
    state.history = tokens;
    state.n_generated = int64_t(out.size());
    state.seed = o.seed;
    state.stream = o.stream;
    state.step = n_prompt + out.size();
    DecodeResult r = head.Decode(logits, p, state);
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    if (rows) rows->push_back(logits);
    if (m.tokenizer->IsEndOfGeneration(r.token) && !o.ignore_eos) break;
    tokens.push_back(r.token);
    out.push_back(r);
    if (out.size() == o.max_tokens) break;
    EXPECT_TRUE(context.Eval(std::span<const int32_t>(&r.token, 1), Logits::kLast, &logits).ok());
  }
  return out;
}

void ExpectSameRecords(const std::vector<DecodeResult>& a, const std::vector<DecodeResult>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].token, b[i].token) << "token " << i;
    EXPECT_EQ(a[i].logprob, b[i].logprob) << "token " << i;  // bitwise: the same floats
    EXPECT_EQ(a[i].raw_logprob, b[i].raw_logprob) << "token " << i;
    ASSERT_EQ(a[i].top.size(), b[i].top.size());
    for (size_t k = 0; k < a[i].top.size(); ++k) {
      EXPECT_EQ(a[i].top[k].token, b[i].top[k].token);
      EXPECT_EQ(a[i].top[k].raw_logprob, b[i].top[k].raw_logprob);
    }
  }
}

TEST_F(Generate, ASequenceFollowsTheDocumentedDraws) {
  for (uint64_t seed : {1, 2}) {
    GenerateOptions o = Busy(seed);
    Sequence seq = Started("Once upon a time", o);
    std::vector<std::vector<float>> drawn_from;  // last_row() after each step with a token
    ASSERT_TRUE(RunToEnd(seq, model_->pool.get(), [&](const StepOutput& out) {
      if (out.has_token) drawn_from.emplace_back(seq.last_row().begin(), seq.last_row().end());
    }).ok());
    std::vector<std::vector<float>> rows;
    ExpectSameRecords(seq.records(), ReferenceLoop(*model_, Encode("Once upon a time"), o, &rows));
    rows.resize(seq.records().size());  // the reference's end token, if any, was drawn too
    EXPECT_TRUE(drawn_from == rows) << "last_row() is not the row each token was drawn from";
    EXPECT_EQ(seq.records().size(), seq.generated().size());
    EXPECT_EQ(seq.finish_reason(), seq.records().size() == o.max_tokens ? FinishReason::kLength : FinishReason::kStop);
    // The text is the decoded tokens.
    StatusOr<std::string> text = model_->tokenizer->Decode(seq.generated());
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(seq.text(), *text);
  }
}

// Sequences stepped together, one joining late, give what each gives alone.
TEST_F(Generate, StepsTogetherGiveWhatEachGivesAlone) {
  const char* prompts[] = {"The capital of France is", "Once upon a time", "1, 2, 3,", "def main():"};
  std::vector<Sequence> alone, together;
  for (size_t i = 0; i < 4; ++i) {
    GenerateOptions o = Busy(40 + i);
    o.stream = i;
    o.sampler.min_p = i == 3 ? 0.05f : 0.0f;
    alone.push_back(Started(prompts[i], o));
    ASSERT_TRUE(RunToEnd(alone.back(), model_->pool.get()).ok());
    together.emplace_back(*model_->tokenizer, Encode(prompts[i]), o);
  }
  Stepper stepper(model_->pool.get());
  std::vector<Sequence*> all;
  for (Sequence& s : together) all.push_back(&s);
  std::vector<StepOutput> outputs;
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(together[i].Start(*model_->model, model_->pool.get()).ok());
  for (int step = 0; step < 40; ++step) {
    if (step == 3) {
      ASSERT_TRUE(together[3].Start(*model_->model, model_->pool.get()).ok());
    }
    stepper.Step(all, &outputs);
    if (step < 3) {
      EXPECT_FALSE(outputs[3].stepped);  // not started yet
    }
  }
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(together[i].done());
    ExpectSameRecords(together[i].records(), alone[i].records());
    EXPECT_EQ(together[i].text(), alone[i].text());
  }
}

TEST_F(Generate, StopStringsCutTheTextAndNameTheStop) {
  GenerateOptions o;
  o.sampler.temperature = 0;
  o.max_tokens = 20;
  o.stop = {"\n\n", "."};  // greedy: " Paris.\n\nThe answer ..."
  Sequence seq = Started("The capital of France is", o);
  std::string streamed;
  ASSERT_TRUE(RunToEnd(seq, model_->pool.get(), [&](const StepOutput& out) { streamed += out.text; }).ok());
  EXPECT_EQ(seq.finish_reason(), FinishReason::kStop);
  EXPECT_FALSE(seq.stop_string().empty());
  EXPECT_EQ(streamed, seq.text());
  StatusOr<std::string> all = model_->tokenizer->Decode(seq.generated());
  ASSERT_TRUE(all.ok());
  // The text is the decoded tokens up to the stop string, which the last token completed.
  EXPECT_EQ(all->substr(0, seq.text().size()), seq.text());
  EXPECT_EQ(all->find(seq.stop_string()), seq.text().size()) << *all;
  StatusOr<std::string> before = model_->tokenizer->Decode(seq.generated().first(seq.generated().size() - 1));
  EXPECT_EQ(before->find(seq.stop_string()), std::string::npos);
}

TEST_F(Generate, EndTokensStopUnlessIgnored) {
  GenerateOptions o;
  o.sampler.temperature = 0;
  o.max_tokens = 64;
  const std::vector<int32_t> chat = *model_->EncodePrompt("Say hi.", true);
  Sequence seq(*model_->tokenizer, chat, o);
  ASSERT_TRUE(seq.Start(*model_->model, model_->pool.get()).ok());
  ASSERT_TRUE(RunToEnd(seq, model_->pool.get()).ok());
  ASSERT_EQ(seq.finish_reason(), FinishReason::kStop);
  EXPECT_TRUE(seq.stop_string().empty());
  EXPECT_LT(seq.generated().size(), 64u);
  for (int32_t t : seq.generated()) EXPECT_FALSE(model_->tokenizer->IsEndOfGeneration(t));
  const size_t n = seq.generated().size();
  o.ignore_eos = true;
  o.max_tokens = n + 3;
  Sequence on(*model_->tokenizer, chat, o);
  ASSERT_TRUE(on.Start(*model_->model, model_->pool.get()).ok());
  ASSERT_TRUE(RunToEnd(on, model_->pool.get()).ok());
  EXPECT_EQ(on.finish_reason(), FinishReason::kLength);
  ASSERT_EQ(on.generated().size(), n + 3);
  EXPECT_TRUE(model_->tokenizer->IsEndOfGeneration(on.generated()[n]));
  // min_tokens bans the end tokens until then.
  o.ignore_eos = false;
  o.sampler.min_tokens = int32_t(n + 2);
  Sequence later(*model_->tokenizer, chat, o);
  ASSERT_TRUE(later.Start(*model_->model, model_->pool.get()).ok());
  ASSERT_TRUE(RunToEnd(later, model_->pool.get()).ok());
  EXPECT_GE(later.generated().size(), n + 2);
}

TEST_F(Generate, PromptRecordsAreTheRawLogprobsOfEachPromptToken) {
  GenerateOptions o;
  o.max_tokens = 0;
  o.prompt_logprobs = 2;
  const std::vector<int32_t> prompt = Encode("The capital of France is Paris, and");
  Sequence seq(*model_->tokenizer, prompt, o);
  ASSERT_TRUE(seq.Start(*model_->model, model_->pool.get()).ok());
  EXPECT_TRUE(seq.done());
  EXPECT_EQ(seq.finish_reason(), FinishReason::kLength);
  ASSERT_EQ(seq.prompt_records().size(), prompt.size());
  EXPECT_TRUE(std::isnan(seq.prompt_records()[0].logprob));
  Context context(*model_->model, prompt.size(), model_->pool.get());
  std::vector<float> logits, lp(model_->config().n_vocab);
  ASSERT_TRUE(context.Eval(prompt, Logits::kAll, &logits).ok());
  const size_t V = model_->config().n_vocab;
  for (size_t t = 1; t < prompt.size(); ++t) {
    const std::span<const float> z(logits.data() + (t - 1) * V, V);
    ASSERT_TRUE(LogSoftmax(z, 1.0f, lp).ok());
    const PromptToken& r = seq.prompt_records()[t];
    EXPECT_EQ(r.token, prompt[t]);
    EXPECT_EQ(r.logprob, lp[prompt[t]]);
    EXPECT_EQ(r.logit, z[prompt[t]]);
    ASSERT_EQ(r.top.size(), 2u);
    const size_t best = size_t(std::max_element(z.begin(), z.end()) - z.begin());
    EXPECT_EQ(r.top[0].token, int32_t(best));
    EXPECT_GE(r.top[0].logit, r.top[1].logit);
  }
}

TEST_F(Generate, BadInputsAreNamedErrors) {
  auto start = [&](std::vector<int32_t> prompt, GenerateOptions o) {
    Sequence seq(*model_->tokenizer, std::move(prompt), std::move(o));
    Status s = seq.Start(*model_->model, model_->pool.get());
    EXPECT_TRUE(seq.done());
    EXPECT_EQ(seq.status().message(), s.message());
    return s.message();
  };
  EXPECT_EQ(start({}, {}), "the prompt is empty (no tokens)");
  EXPECT_EQ(start({1, 49152}, {}), "prompt token 1 = 49152 is outside [0, 49152)");
  GenerateOptions o;
  o.stop = {"x", ""};
  EXPECT_EQ(start({1}, o), "stop[1] is empty");
  o = {};
  o.sampler.top_p = 2;
  EXPECT_EQ(start({1}, o), "top_p = 2 is outside (0, 1]");
  o = {};
  o.sampler.banned_tokens = {60000};
  EXPECT_EQ(start({1}, o), "banned_tokens[0] = 60000 is outside [0, n_vocab = 49152)");
  EXPECT_EQ(start(std::vector<int32_t>(8192, 1), {}), "the prompt has 8192 tokens; the model's context holds 8192");
  // A row error during a step (here: every token banned) ends that sequence with the head's message.
  o = {};
  o.sampler.allowed_tokens = {5};
  o.sampler.banned_tokens = {5};
  Sequence seq(*model_->tokenizer, {1, 2}, o);
  ASSERT_TRUE(seq.Start(*model_->model, model_->pool.get()).ok());
  EXPECT_EQ(RunToEnd(seq, model_->pool.get()).message(),
            "no token left to choose: every logit is -inf or masked by the processors");
}

std::shared_ptr<const CompiledConstraint> Compiled(const LoadedModel& m, Constraint::Kind kind,
                                                   std::string source,
                                                   std::vector<std::string> choices = {}) {
  Constraint c;
  c.kind = kind;
  c.source = std::move(source);
  c.choices = std::move(choices);
  StatusOr<std::shared_ptr<const CompiledConstraint>> compiled = m.constraints->Compile(c);
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  return compiled.ok() ? *compiled : nullptr;
}

// A constrained sequence: every draw's mask is the matcher's, so the text
// matches and ends "stop"; every token's logprob is under the mask (<= 0 and
// >= its raw logprob, the mask only removing mass), the raw one the model's.
TEST_F(Generate, ConstrainedTextMatchesAndEndsWithStop) {
  const std::vector<std::string> choices = {"Paris", "London", "Rome", "Berlin"};
  GenerateOptions o;
  o.max_tokens = 20;
  o.constraint = Compiled(*model_, Constraint::Kind::kChoice, "", choices);
  for (uint64_t seed = 0; seed < 6; ++seed) {
    o.seed = seed;
    Sequence seq = Started("The capital of France is", o);
    ASSERT_TRUE(RunToEnd(seq, model_->pool.get()).ok()) << seq.status().ToString();
    EXPECT_EQ(seq.finish_reason(), FinishReason::kStop);
    EXPECT_NE(std::find(choices.begin(), choices.end(), seq.text()), choices.end()) << seq.text();
    for (const DecodeResult& r : seq.records()) {
      EXPECT_LE(r.logprob, 0.0f);
      EXPECT_GE(r.logprob, r.raw_logprob);
    }
  }
  o.constraint = Compiled(*model_, Constraint::Kind::kRegex, "[0-9]{3}-[a-z]{2}");
  o.sampler.temperature = 0;
  Sequence code = Started("A product code:", o);
  ASSERT_TRUE(RunToEnd(code, model_->pool.get()).ok());
  EXPECT_EQ(code.finish_reason(), FinishReason::kStop);
  ASSERT_EQ(code.text().size(), 6u) << code.text();
  for (size_t i = 0; i < 6; ++i) {
    const char ch = code.text()[i];
    EXPECT_TRUE(i < 3 ? (ch >= '0' && ch <= '9') : i == 3 ? ch == '-' : (ch >= 'a' && ch <= 'z')) << code.text();
  }
}

// The same seed gives the same tokens with the mask built each step, and a
// constrained sequence stepped beside free ones gives what it gives alone.
TEST_F(Generate, ConstrainedSequencesStepWithFreeOnes) {
  GenerateOptions json;
  json.max_tokens = 40;
  json.seed = 7;
  json.constraint = Compiled(*model_, Constraint::Kind::kJsonObject, "");
  GenerateOptions free_text = json;
  free_text.constraint = nullptr;
  Sequence a = Started("Describe a cat as JSON:", json);
  ASSERT_TRUE(RunToEnd(a, model_->pool.get()).ok());
  Sequence b = Started("Describe a cat as JSON:", json);
  Sequence c = Started("Describe a cat as JSON:", free_text);
  Stepper stepper(model_->pool.get());
  std::vector<StepOutput> outputs;
  Sequence* both[] = {&c, &b};
  while (!b.done() || !c.done()) stepper.Step(both, &outputs);
  EXPECT_EQ(std::vector<int32_t>(a.generated().begin(), a.generated().end()),
            std::vector<int32_t>(b.generated().begin(), b.generated().end()));
  EXPECT_EQ(a.text(), b.text());
  ASSERT_FALSE(a.text().empty());
  EXPECT_EQ(a.text()[0], '{');
  if (a.finish_reason() == FinishReason::kStop) {
    EXPECT_EQ(a.text().back(), '}');
  }
}

// min_tokens that bans the end token the constraint needs: an error naming it.
TEST_F(Generate, MinTokensAgainstACompleteConstraintIsAnError) {
  GenerateOptions o;
  o.max_tokens = 10;
  o.sampler.min_tokens = 5;
  o.constraint = Compiled(*model_, Constraint::Kind::kChoice, "", {" yes"});
  Sequence seq = Started("Answer:", o);
  const Status s = RunToEnd(seq, model_->pool.get());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("min_tokens = 5 bans end token"), std::string::npos) << s.ToString();
}

// A context that fills up ends the sequence with "length": a tiny model of 16
// positions with GPT-2's vocabulary (no model file needed).
TEST(GenerateTiny, AFullContextEndsWithLength) {
  StatusOr<gguf::File> vocab =
      gguf::File::Open(std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(vocab.ok()) << vocab.status().ToString();
  StatusOr<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::FromGguf(*vocab);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  testing::Tiny tiny;
  tiny.vocab = uint32_t(tok->n_vocab());
  tiny.context = 16;
  std::vector<uint8_t> storage;
  StatusOr<std::unique_ptr<Model>> model = Model::FromFile(testing::Build(tiny, &storage));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ThreadPool pool(2);
  GenerateOptions o;
  o.max_tokens = 100;
  o.ignore_eos = true;
  o.seed = 3;
  Sequence seq(*tok, std::vector<int32_t>(10, 42), o);
  ASSERT_TRUE(seq.Start(**model, &pool).ok());
  ASSERT_TRUE(RunToEnd(seq, &pool).ok());
  EXPECT_EQ(seq.finish_reason(), FinishReason::kLength);
  EXPECT_EQ(seq.generated().size(), 16u - 10u + 1u);  // the last token is drawn, never evaluated
  // A prompt that fills the context leaves no room for a token.
  Sequence full(*tok, std::vector<int32_t>(16, 42), o);
  EXPECT_EQ(full.Start(**model, &pool).message(), "the prompt has 16 tokens; the model's context holds 16");
  o.max_tokens = 0;  // ... but can be scored
  Sequence scored(*tok, std::vector<int32_t>(16, 42), o);
  EXPECT_TRUE(scored.Start(**model, &pool).ok());
}

}  // namespace
}  // namespace logitkit
