// The parameter table: every entry reaches its SamplerParams field, parses
// its text form, and checks its range with the head's own messages.
#include "logitkit/sampler_table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

namespace logitkit {
namespace {

// A value inside the range and different from the default, in text form.
std::string OtherValue(const SamplerParam& e) {
  switch (e.type) {
    case ParamType::kFloat: return e.Number(SamplerParams{}) == 0.5 ? "0.25" : "0.5";
    case ParamType::kInt: return "3";
    case ParamType::kTokens: return "4,2";
    case ParamType::kTokenBias: return "4:-1.5,2:3";
    case ParamType::kStages: return "top_p,temperature,top_k,min_p,typical_p,top_n_sigma";
  }
  return "";
}

TEST(SamplerTable, NamesAreUniqueSnakeCaseAndFlagsUseDashes) {
  std::set<std::string> names;
  for (const SamplerParam& e : SamplerParamTable()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    for (const char* c = e.name; *c; ++c) EXPECT_TRUE((*c >= 'a' && *c <= 'z') || *c == '_') << e.name;
    EXPECT_EQ(FindSamplerParam(e.name), &e);
    std::string flag = e.Flag();
    EXPECT_EQ(flag.substr(0, 2), "--");
    EXPECT_EQ(flag.find('_'), std::string::npos);
    EXPECT_GT(std::string(e.doc).size(), 10u) << e.name;
  }
  EXPECT_EQ(FindSamplerParam("top_p")->Flag(), "--top-p");
  EXPECT_EQ(FindSamplerParam("nonsense"), nullptr);
  // Every stage's own parameter is in the table.
  for (Stage s : SamplerParams::DefaultOrder()) EXPECT_NE(FindSamplerParam(StageName(s)), nullptr);
}

// Every field of SamplerParams that the table may set, by its name: written
// out here, independently of the table.
std::map<std::string, std::string> Fields(const SamplerParams& p) {
  auto ids = [](const std::vector<int32_t>& v) {
    std::string s;
    for (int32_t id : v) s += std::to_string(id) + ",";
    return s;
  };
  std::string bias, order;
  for (const TokenBias& b : p.logit_bias) bias += std::to_string(b.token) + ":" + std::to_string(b.bias) + ",";
  for (Stage s : p.order) order += StageName(s) + std::string(",");
  return {{"repetition_penalty", std::to_string(p.repetition_penalty)},
          {"frequency_penalty", std::to_string(p.frequency_penalty)},
          {"presence_penalty", std::to_string(p.presence_penalty)},
          {"penalty_window", std::to_string(p.penalty_window)},
          {"logit_bias", bias},
          {"allowed_tokens", ids(p.allowed_tokens)},
          {"banned_tokens", ids(p.banned_tokens)},
          {"min_tokens", std::to_string(p.min_tokens)},
          {"temperature", std::to_string(p.temperature)},
          {"top_k", std::to_string(p.top_k)},
          {"top_p", std::to_string(p.top_p)},
          {"min_p", std::to_string(p.min_p)},
          {"typical_p", std::to_string(p.typical_p)},
          {"top_n_sigma", std::to_string(p.top_n_sigma)},
          {"order", order},
          {"eos_tokens", ids(p.eos_tokens)},
          {"top_logprobs", std::to_string(p.top_logprobs)},
          {"outputs", std::to_string(p.outputs)}};
}

// Each entry sets the field of its own name and nothing else, and its
// default text gives SamplerParams{}'s value back.
TEST(SamplerTable, EachEntrySetsItsOwnFieldOnly) {
  const SamplerParams defaults;
  const std::map<std::string, std::string> before = Fields(defaults);
  for (const SamplerParam& e : SamplerParamTable()) {
    ASSERT_TRUE(before.count(e.name)) << e.name << " is not a SamplerParams field this test knows";
    EXPECT_TRUE(e.Check(defaults, 10).ok()) << e.name << ": " << e.Check(defaults, 10).message();
    SamplerParams p;
    ASSERT_TRUE(e.SetText(OtherValue(e), &p).ok()) << e.name << ": " << e.SetText(OtherValue(e), &p).message();
    const std::map<std::string, std::string> after = Fields(p);
    for (const auto& [field, value] : before) {
      if (field == e.name) {
        EXPECT_NE(after.at(field), value) << e.name << " did not change its field";
      } else {
        EXPECT_EQ(after.at(field), value) << e.name << " changed " << field;
      }
    }
    ASSERT_TRUE(e.SetText(e.DefaultText(), &p).ok()) << e.name;
    EXPECT_EQ(Fields(p), before) << e.name << "'s default text is not its default";
  }
}

TEST(SamplerTable, TextFormsOfEveryType) {
  SamplerParams p;
  ASSERT_TRUE(FindSamplerParam("top_p")->SetText("0.9", &p).ok());
  EXPECT_EQ(p.top_p, 0.9f);
  ASSERT_TRUE(FindSamplerParam("top_k")->SetText("40", &p).ok());
  EXPECT_EQ(p.top_k, 40);
  ASSERT_TRUE(FindSamplerParam("banned_tokens")->SetText("5,0,7", &p).ok());
  EXPECT_EQ(p.banned_tokens, (std::vector<int32_t>{5, 0, 7}));
  ASSERT_TRUE(FindSamplerParam("logit_bias")->SetText("3:-2.5,9:-inf", &p).ok());
  ASSERT_EQ(p.logit_bias.size(), 2u);
  EXPECT_EQ(p.logit_bias[0].token, 3);
  EXPECT_EQ(p.logit_bias[0].bias, -2.5f);
  EXPECT_EQ(p.logit_bias[1].bias, -INFINITY);
  ASSERT_TRUE(FindSamplerParam("order")->SetText("top_k,temperature", &p).ok());
  EXPECT_EQ(p.order, (std::vector<Stage>{Stage::kTopK, Stage::kTemperature}));
  EXPECT_EQ(FindSamplerParam("order")->DefaultText(), "temperature,top_k,top_p,min_p,typical_p,top_n_sigma");
  EXPECT_EQ(FindSamplerParam("temperature")->DefaultText(), "1");
}

TEST(SamplerTable, BadValuesNameTheParameterAndTheValue) {
  SamplerParams p;
  auto set = [&](const char* name, const char* text) { return FindSamplerParam(name)->SetText(text, &p).message(); };
  EXPECT_EQ(set("top_p", "1.5"), "top_p = 1.5 is outside (0, 1]");
  EXPECT_EQ(set("top_p", "0"), "top_p = 0 is outside (0, 1]");
  EXPECT_EQ(set("min_p", "nan"), "min_p = nan is outside [0, 1]");
  EXPECT_EQ(set("temperature", "-1"), "temperature = -1 must be finite and >= 0 (0 = greedy)");
  EXPECT_EQ(set("temperature", "1e39"), "temperature = 1e+39 must be finite and >= 0 (0 = greedy)");
  EXPECT_EQ(set("temperature", "1e-400"), "temperature = '1e-400' is too small for a double");
  EXPECT_EQ(set("top_k", "-3"), "top_k = -3 must be >= 0 (0 = off)");
  EXPECT_EQ(set("top_k", "2.5"), "top_k = 2.5 is not an integer");
  EXPECT_EQ(set("top_k", "3000000000"), "top_k = 3000000000 is outside [0, 2147483647]");
  EXPECT_EQ(set("top_k", "inf"), "top_k = inf is outside [0, 2147483647]");
  EXPECT_EQ(set("top_k", "nan"), "top_k = nan must be >= 0 (0 = off)");
  EXPECT_EQ(set("repetition_penalty", "0"), "repetition_penalty = 0 must be finite and > 0");
  EXPECT_EQ(set("frequency_penalty", "inf"), "frequency_penalty = inf must be finite");
  EXPECT_EQ(set("penalty_window", "-1"), "penalty_window = -1 must be >= 0");
  EXPECT_EQ(set("top_p", "high"), "top_p = 'high' is not a number");
  EXPECT_EQ(set("banned_tokens", "1,,2"), "banned_tokens = '1,,2' has an empty item (write items separated by commas)");
  EXPECT_EQ(set("banned_tokens", "1,x"), "banned_tokens: 'x' is not a token id");
  ASSERT_TRUE(FindSamplerParam("banned_tokens")->SetText("1,-2", &p).ok());  // the range is the model's:
  EXPECT_EQ(FindSamplerParam("banned_tokens")->Check(p, 10).message(), "banned_tokens[1] = -2 is outside [0, n_vocab = 10)");
  EXPECT_EQ(set("logit_bias", "5"), "logit_bias: '5' is not ID:BIAS");
  EXPECT_EQ(set("logit_bias", "5:nan"), "logit_bias[5] = nan must be finite or -inf");
  EXPECT_EQ(set("order", "top_k,warmth"),
            "order: unknown stage 'warmth' (the stages: temperature, top_k, top_p, min_p, typical_p, top_n_sigma)");
  // The token ids and the order are checked with the row: n_vocab, and active filters.
  SamplerParams q;
  q.banned_tokens = {9};
  EXPECT_EQ(FindSamplerParam("banned_tokens")->Check(q, 9).message(), "banned_tokens[0] = 9 is outside [0, n_vocab = 9)");
  q.logit_bias = {{12, 1.0f}};
  EXPECT_EQ(FindSamplerParam("logit_bias")->Check(q, 9).message(), "logit_bias: token 12 is outside [0, n_vocab = 9)");
  q.top_p = 0.5f;
  q.order = {Stage::kTemperature};
  EXPECT_EQ(FindSamplerParam("order")->Check(q, 9).message(), "top_p is set but missing from order");
  q.order = {Stage::kTopP, Stage::kTopP};
  EXPECT_EQ(FindSamplerParam("order")->Check(q, 9).message(), "order lists top_p twice");
}

// The head validates with the table: a value the table refuses, the head refuses with the same words.
TEST(SamplerTable, TheHeadRefusesWhatTheTableRefuses) {
  DecodeHead head;
  const std::vector<float> z = {1, 2, 3};
  for (const SamplerParam& e : SamplerParamTable()) {
    if (e.type != ParamType::kFloat && e.type != ParamType::kInt) continue;
    SamplerParams p;
    const double bad = std::isfinite(e.lo) ? e.lo - 1 : NAN;
    const Status table = FindSamplerParam(e.name)->SetNumber(bad, &p);
    ASSERT_FALSE(table.ok()) << e.name;
    if (e.type == ParamType::kFloat) p.*std::get<float SamplerParams::*>(e.field) = float(bad);
    else p.*std::get<int32_t SamplerParams::*>(e.field) = int32_t(bad);
    EXPECT_EQ(head.Decode(z, p, RowState{}).status.message(), table.message()) << e.name;
  }
}

}  // namespace
}  // namespace logitkit
