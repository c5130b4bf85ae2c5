// The sampling parameters' table; see include/logitkit/sampler_table.h.
#include "logitkit/sampler_table.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "base/format.h"
#include "head/processors.h"

namespace logitkit {
namespace {

using base::Num;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The table. Defaults are SamplerParams{}'s own; ranges are what the head
// accepts. Keep the order of the head's stages (the order of the checks, and
// of every front end's help).
const SamplerParam kTable[] = {
    {"repetition_penalty", ParamType::kFloat, &SamplerParams::repetition_penalty,
     "divide seen tokens' positive logits by R, multiply negative ones (1: off)", "R", 0, kInf, true},
    {"frequency_penalty", ParamType::kFloat, &SamplerParams::frequency_penalty,
     "subtract F x the count of each seen token (0: off)", "F", -kInf, kInf},
    {"presence_penalty", ParamType::kFloat, &SamplerParams::presence_penalty,
     "subtract P from each seen token (0: off)", "P", -kInf, kInf},
    {"penalty_window", ParamType::kInt, &SamplerParams::penalty_window,
     "the penalties count the last N tokens of the history (0: all)", "N", 0, kInf},
    {"logit_bias", ParamType::kTokenBias, &SamplerParams::logit_bias,
     "add a bias to token ids' logits (-inf bans)", "ID:BIAS,..."},
    {"allowed_tokens", ParamType::kTokens, &SamplerParams::allowed_tokens,
     "only these token ids may be drawn (empty: all)", "IDS"},
    {"banned_tokens", ParamType::kTokens, &SamplerParams::banned_tokens,
     "these token ids are never drawn", "IDS"},
    {"min_tokens", ParamType::kInt, &SamplerParams::min_tokens,
     "no end-of-generation token before N tokens are generated (0: off)", "N", 0, kInf},
    {"temperature", ParamType::kFloat, &SamplerParams::temperature,
     "divide the logits by T before the softmax (0: greedy, the most likely token)", "T", 0, kInf,
     false, false, "0 = greedy"},
    {"top_k", ParamType::kInt, &SamplerParams::top_k, "keep the K most likely tokens (0: off)", "K",
     0, kInf, false, false, "0 = off"},
    {"top_p", ParamType::kFloat, &SamplerParams::top_p,
     "keep the smallest set of most likely tokens whose mass reaches P (1: off)", "P", 0, 1, true},
    {"min_p", ParamType::kFloat, &SamplerParams::min_p,
     "keep tokens with p >= P x the largest p (0: off)", "P", 0, 1},
    {"typical_p", ParamType::kFloat, &SamplerParams::typical_p,
     "locally typical sampling: keep the tokens nearest the entropy up to mass P (1: off)", "P", 0,
     1, true},
    {"top_n_sigma", ParamType::kFloat, &SamplerParams::top_n_sigma,
     "keep logits within N standard deviations of the largest (0: off)", "N", 0, kInf, false,
     false, "0 = off"},
    {"order", ParamType::kStages, &SamplerParams::order,
     "the order of temperature and the filters", "STAGES"},
};

template <typename T>
T& Get(const SamplerParam& e, SamplerParams* p) {
  return p->*std::get<T SamplerParams::*>(e.field);
}
template <typename T>
const T& Get(const SamplerParam& e, const SamplerParams& p) {
  return p.*std::get<T SamplerParams::*>(e.field);
}

std::string ShowNumber(const SamplerParam& e, double v) {
  if (e.type == ParamType::kInt && std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e18) {
    return std::to_string(static_cast<long long>(v));
  }
  return Num(v);
}

// The range check of a number, with the message every front end shows. v is
// the value as stored (a float for kFloat); shown, the value as given.
Status CheckNumber(const SamplerParam& e, double v, double shown) {
  const bool is_int = e.type == ParamType::kInt;
  const double hi = is_int ? std::min(e.hi, double(std::numeric_limits<int32_t>::max())) : e.hi;
  const bool above_lo = e.lo_open ? v > e.lo : v >= e.lo;
  const bool below_hi = e.hi_open ? v < hi : v <= hi;
  if (std::isfinite(v) && above_lo && below_hi) return OkStatus();
  const std::string head = std::string(e.name) + " = " + ShowNumber(e, shown);
  const bool bounded = std::isfinite(e.lo) && std::isfinite(e.hi);
  if (bounded || v > hi) {
    return InvalidArgumentError(head + " is outside " + (e.lo_open ? "(" : "[") +
                                ShowNumber(e, e.lo) + ", " + ShowNumber(e, hi) +
                                (e.hi_open ? ")" : "]"));
  }
  if (!std::isfinite(e.lo)) return InvalidArgumentError(head + " must be finite");
  std::string message = head + " must be " + (is_int ? "" : "finite and ") +
                        (e.lo_open ? "> " : ">= ") + ShowNumber(e, e.lo);
  if (*e.note) message += std::string(" (") + e.note + ")";
  return InvalidArgumentError(message);
}

// The biases (finite or -inf) and, when n_vocab > 0, their token ids.
Status CheckBias(std::span<const TokenBias> bias, size_t n_vocab) {
  for (const TokenBias& b : bias) {
    if (n_vocab > 0 && (b.token < 0 || static_cast<size_t>(b.token) >= n_vocab)) {
      return OutOfRangeError("logit_bias: token " + std::to_string(b.token) +
                             " is outside [0, n_vocab = " + std::to_string(n_vocab) + ")");
    }
    if (std::isnan(b.bias) || b.bias == INFINITY) {
      return InvalidArgumentError("logit_bias[" + std::to_string(b.token) + "] = " + Num(b.bias) +
                                  " must be finite or -inf");
    }
  }
  return OkStatus();
}

// Every stage at most once, and every active filter present (greedy applies none).
Status CheckStages(const SamplerParams& p) {
  bool seen[kStageCount] = {};
  for (Stage stage : p.order) {
    const auto i = static_cast<size_t>(stage);
    if (i >= kStageCount) {
      return InvalidArgumentError("order holds an unknown stage " + std::to_string(i));
    }
    if (seen[i]) return InvalidArgumentError(std::string("order lists ") + StageName(stage) + " twice");
    seen[i] = true;
  }
  for (size_t i = 0; i < kStageCount; ++i) {
    const auto stage = static_cast<Stage>(i);
    if (!seen[i] && head::StageActive(stage, p) && p.temperature != 0) {
      return InvalidArgumentError(std::string(StageName(stage)) + " is set but missing from order");
    }
  }
  return OkStatus();
}

// Splits "a,b,c" (no empty items; "" is no item).
StatusOr<std::vector<std::string_view>> SplitList(std::string_view text, const char* name) {
  std::vector<std::string_view> items;
  if (text.empty()) return items;
  for (size_t start = 0;;) {
    const size_t comma = text.find(',', start);
    const std::string_view item = text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (item.empty()) {
      return InvalidArgumentError(std::string(name) + " = '" + std::string(text) +
                                  "' has an empty item (write items separated by commas)");
    }
    items.push_back(item);
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

StatusOr<double> ParseNumber(std::string_view text, const char* name) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    return InvalidArgumentError(std::string(name) + " = '" + s + "' is not a number");
  }
  if (errno == ERANGE && std::fabs(v) < 1) {  // 1e-400: not 0, which could mean "off"
    return InvalidArgumentError(std::string(name) + " = '" + s + "' is too small for a double");
  }
  return v;
}

// A token id's text; its range [0, n_vocab) is Check's (the model decides it).
StatusOr<int32_t> ParseId(std::string_view text, const char* name) {
  int32_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgumentError(std::string(name) + ": '" + std::string(text) + "' is not a token id");
  }
  return v;
}

}  // namespace

std::span<const SamplerParam> SamplerParamTable() { return kTable; }

Status CheckSamplerParams(const SamplerParams& params, size_t n_vocab) {
  for (const SamplerParam& e : kTable) LOGITKIT_RETURN_IF_ERROR(e.Check(params, n_vocab));
  return OkStatus();
}

const SamplerParam* FindSamplerParam(std::string_view name) {
  for (const SamplerParam& e : kTable) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

StatusOr<Stage> ParseStage(std::string_view name) {
  std::string names;
  for (size_t i = 0; i < kStageCount; ++i) {
    const Stage stage = static_cast<Stage>(i);
    if (name == StageName(stage)) return stage;
    names += std::string(i ? ", " : "") + StageName(stage);
  }
  return InvalidArgumentError("order: unknown stage '" + std::string(name) + "' (the stages: " +
                              names + ")");
}

std::string SamplerParam::Flag() const {
  std::string flag = std::string("--") + name;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string SamplerParam::DefaultText() const {
  const SamplerParams defaults;
  switch (type) {
    case ParamType::kFloat:
    case ParamType::kInt: return ShowNumber(*this, Number(defaults));
    case ParamType::kTokens: return "";
    case ParamType::kTokenBias: return "";
    case ParamType::kStages: {
      std::string text;
      for (Stage stage : Get<std::vector<Stage>>(*this, defaults)) {
        text += std::string(text.empty() ? "" : ",") + StageName(stage);
      }
      return text;
    }
  }
  return "";
}

double SamplerParam::Number(const SamplerParams& p) const {
  if (type == ParamType::kFloat) return Get<float>(*this, p);
  if (type == ParamType::kInt) return Get<int32_t>(*this, p);
  return 0;
}

Status SamplerParam::SetNumber(double value, SamplerParams* p) const {
  if (type == ParamType::kInt) {
    if (std::isfinite(value) && value != std::floor(value)) {
      return InvalidArgumentError(std::string(name) + " = " + Num(value) + " is not an integer");
    }
    LOGITKIT_RETURN_IF_ERROR(CheckNumber(*this, value, value));
    Get<int32_t>(*this, p) = static_cast<int32_t>(value);
    return OkStatus();
  }
  if (type != ParamType::kFloat) {
    return InvalidArgumentError(std::string(name) + " takes a list, not a number");
  }
  // The check is on the float the head will see (0.1 + a float's rounding stays in range).
  LOGITKIT_RETURN_IF_ERROR(CheckNumber(*this, static_cast<float>(value), value));
  Get<float>(*this, p) = static_cast<float>(value);
  return OkStatus();
}

Status SamplerParam::SetTokens(std::vector<int32_t> ids, SamplerParams* p) const {
  if (type != ParamType::kTokens) return InvalidArgumentError(std::string(name) + " takes no token list");
  Get<std::vector<int32_t>>(*this, p) = std::move(ids);
  return OkStatus();
}

Status SamplerParam::SetBias(std::vector<TokenBias> bias, SamplerParams* p) const {
  if (type != ParamType::kTokenBias) return InvalidArgumentError(std::string(name) + " takes no biases");
  LOGITKIT_RETURN_IF_ERROR(CheckBias(bias, /*n_vocab=*/0));  // the ids are Check's
  Get<std::vector<TokenBias>>(*this, p) = std::move(bias);
  return OkStatus();
}

Status SamplerParam::SetStages(std::vector<Stage> stages, SamplerParams* p) const {
  if (type != ParamType::kStages) return InvalidArgumentError(std::string(name) + " takes no stages");
  Get<std::vector<Stage>>(*this, p) = std::move(stages);
  return OkStatus();
}

Status SamplerParam::SetText(std::string_view text, SamplerParams* p) const {
  switch (type) {
    case ParamType::kFloat:
    case ParamType::kInt: {
      StatusOr<double> v = ParseNumber(text, name);
      if (!v.ok()) return v.status();
      return SetNumber(*v, p);
    }
    case ParamType::kTokens: {
      StatusOr<std::vector<std::string_view>> items = SplitList(text, name);
      if (!items.ok()) return items.status();
      std::vector<int32_t> ids;
      for (std::string_view item : *items) {
        StatusOr<int32_t> id = ParseId(item, name);
        if (!id.ok()) return id.status();
        ids.push_back(*id);
      }
      return SetTokens(std::move(ids), p);
    }
    case ParamType::kTokenBias: {
      StatusOr<std::vector<std::string_view>> items = SplitList(text, name);
      if (!items.ok()) return items.status();
      std::vector<TokenBias> bias;
      for (std::string_view item : *items) {
        const size_t colon = item.find(':');
        if (colon == std::string_view::npos) {
          return InvalidArgumentError(std::string(name) + ": '" + std::string(item) +
                                      "' is not ID:BIAS");
        }
        StatusOr<int32_t> id = ParseId(item.substr(0, colon), name);
        if (!id.ok()) return id.status();
        StatusOr<double> b = ParseNumber(item.substr(colon + 1), name);
        if (!b.ok()) return b.status();
        bias.push_back({*id, static_cast<float>(*b)});
      }
      return SetBias(std::move(bias), p);
    }
    case ParamType::kStages: {
      StatusOr<std::vector<std::string_view>> items = SplitList(text, name);
      if (!items.ok()) return items.status();
      std::vector<Stage> stages;
      for (std::string_view item : *items) {
        StatusOr<Stage> stage = ParseStage(item);
        if (!stage.ok()) return stage.status();
        stages.push_back(*stage);
      }
      return SetStages(std::move(stages), p);
    }
  }
  return InternalError("unknown parameter type");
}

Status SamplerParam::Check(const SamplerParams& p, size_t n_vocab) const {
  switch (type) {
    case ParamType::kFloat:
    case ParamType::kInt: return CheckNumber(*this, Number(p), Number(p));
    case ParamType::kTokens: return head::CheckTokenIds(Get<std::vector<int32_t>>(*this, p), name, n_vocab);
    case ParamType::kTokenBias: return CheckBias(Get<std::vector<TokenBias>>(*this, p), n_vocab);
    case ParamType::kStages: return CheckStages(p);
  }
  return OkStatus();
}

}  // namespace logitkit
