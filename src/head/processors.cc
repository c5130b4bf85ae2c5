#include "head/processors.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "base/format.h"

namespace logitkit::head {
namespace {

using base::Num;

Status CheckTokens(std::span<const int32_t> tokens, const char* name, size_t n_vocab) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= n_vocab) {
      return OutOfRangeError(std::string(name) + "[" + std::to_string(i) + "] = " +
                             std::to_string(tokens[i]) + " is outside [0, n_vocab = " +
                             std::to_string(n_vocab) + ")");
    }
  }
  return OkStatus();
}

Status Bad(const char* name, double value, const char* expected) {
  return InvalidArgumentError(std::string(name) + " = " + Num(value) + " " + expected);
}

}  // namespace

Status ValidateParams(const SamplerParams& p, const RowState& state, size_t n_vocab) {
  if (!(p.repetition_penalty > 0) || !std::isfinite(p.repetition_penalty)) {
    return Bad("repetition_penalty", p.repetition_penalty, "must be finite and > 0");
  }
  if (!std::isfinite(p.frequency_penalty)) {
    return Bad("frequency_penalty", p.frequency_penalty, "must be finite");
  }
  if (!std::isfinite(p.presence_penalty)) {
    return Bad("presence_penalty", p.presence_penalty, "must be finite");
  }
  if (p.penalty_window < 0) return Bad("penalty_window", p.penalty_window, "must be >= 0");
  if (p.min_tokens < 0) return Bad("min_tokens", p.min_tokens, "must be >= 0");
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) {
    return Bad("temperature", p.temperature, "must be finite and >= 0 (0 = greedy)");
  }
  if (p.top_k < 0) return Bad("top_k", p.top_k, "must be >= 0 (0 = off)");
  if (!(p.top_p > 0 && p.top_p <= 1)) return Bad("top_p", p.top_p, "is outside (0, 1]");
  if (!(p.min_p >= 0 && p.min_p <= 1)) return Bad("min_p", p.min_p, "is outside [0, 1]");
  if (!(p.typical_p > 0 && p.typical_p <= 1)) {
    return Bad("typical_p", p.typical_p, "is outside (0, 1]");
  }
  if (!(p.top_n_sigma >= 0) || !std::isfinite(p.top_n_sigma)) {
    return Bad("top_n_sigma", p.top_n_sigma, "must be finite and >= 0 (0 = off)");
  }
  if (p.top_logprobs < 0) return Bad("top_logprobs", p.top_logprobs, "must be >= 0");
  for (size_t i = 0; i < p.logit_bias.size(); ++i) {
    const TokenBias& b = p.logit_bias[i];
    if (b.token < 0 || static_cast<size_t>(b.token) >= n_vocab) {
      return OutOfRangeError("logit_bias[" + std::to_string(i) + "].token = " +
                             std::to_string(b.token) + " is outside [0, n_vocab = " +
                             std::to_string(n_vocab) + ")");
    }
    if (std::isnan(b.bias) || b.bias == INFINITY) {
      return InvalidArgumentError("logit_bias[" + std::to_string(i) + "].bias = " + Num(b.bias) +
                                  " must be finite or -inf");
    }
  }
  LOGITKIT_RETURN_IF_ERROR(CheckTokens(p.allowed_tokens, "allowed_tokens", n_vocab));
  LOGITKIT_RETURN_IF_ERROR(CheckTokens(p.banned_tokens, "banned_tokens", n_vocab));
  LOGITKIT_RETURN_IF_ERROR(CheckTokens(p.eos_tokens, "eos_tokens", n_vocab));
  LOGITKIT_RETURN_IF_ERROR(CheckTokens(state.history, "history", n_vocab));
  // Every stage at most once, and every active stage present.
  bool seen[6] = {};
  for (Stage stage : p.order) {
    const auto i = static_cast<size_t>(stage);
    if (i >= 6) return InvalidArgumentError("order holds an unknown stage " + std::to_string(i));
    if (seen[i]) return InvalidArgumentError(std::string("order lists ") + StageName(stage) + " twice");
    seen[i] = true;
  }
  for (size_t i = 0; i < 6; ++i) {
    const auto stage = static_cast<Stage>(i);
    if (!seen[i] && StageActive(stage, p) && p.temperature != 0) {
      return InvalidArgumentError(std::string(StageName(stage)) +
                                  " is set but missing from order");
    }
  }
  return OkStatus();
}

bool HasProcessors(const SamplerParams& p, const RowState& state) {
  const bool penalties = !state.history.empty() &&
                         (p.repetition_penalty != 1 || p.frequency_penalty != 0 ||
                          p.presence_penalty != 0);
  return penalties || !p.logit_bias.empty() || !p.allowed_tokens.empty() ||
         !p.banned_tokens.empty() || (state.n_generated < p.min_tokens && !p.eos_tokens.empty());
}

bool StageActive(Stage stage, const SamplerParams& p) {
  switch (stage) {
    case Stage::kTemperature: return p.temperature != 1.0f;
    case Stage::kTopK: return p.top_k > 0;
    case Stage::kTopP: return p.top_p < 1.0f;
    case Stage::kMinP: return p.min_p > 0.0f;
    case Stage::kTypicalP: return p.typical_p < 1.0f;
    case Stage::kTopNSigma: return p.top_n_sigma > 0.0f;
  }
  return false;
}

Status ApplyProcessorsToRow(float* logits, size_t n_vocab, const SamplerParams& p,
                            const RowState& state, RowScratch& s) {
  // Every edited value is computed from the unmodified logits first and
  // written after, so the order of the edits cannot matter.
  const float* raw = logits;
  float* work = logits;
  std::unordered_map<int32_t, float> edits;
  const bool penalties =
      p.repetition_penalty != 1 || p.frequency_penalty != 0 || p.presence_penalty != 0;
  if (penalties && !state.history.empty()) {
    std::span<const int32_t> window = state.history;
    if (p.penalty_window > 0 && window.size() > static_cast<size_t>(p.penalty_window)) {
      window = window.last(static_cast<size_t>(p.penalty_window));
    }
    s.window.assign(window.begin(), window.end());
    std::sort(s.window.begin(), s.window.end());
    for (size_t i = 0; i < s.window.size();) {
      const int32_t token = s.window[i];
      size_t count = 0;
      while (i < s.window.size() && s.window[i] == token) ++i, ++count;
      float v = raw[token];
      if (p.repetition_penalty != 1) {
        v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
      }
      v -= static_cast<float>(count) * p.frequency_penalty + p.presence_penalty;
      edits[token] = v;
    }
  }
  for (const TokenBias& b : p.logit_bias) {  // repeated tokens add up
    auto [it, inserted] = edits.try_emplace(b.token, raw[b.token]);
    it->second += b.bias;
  }
  for (const auto& [token, value] : edits) {
    if (std::isnan(value) || value == INFINITY) {
      return InvalidArgumentError("token " + std::to_string(token) + ": logit " + Num(raw[token]) +
                                  " after penalties and logit_bias is " + Num(value) +
                                  ", not finite");
    }
  }
  for (const auto& [token, value] : edits) work[token] = value;
  for (int32_t token : p.banned_tokens) work[token] = kNegInf;
  if (!p.allowed_tokens.empty()) {
    s.allowed.assign(n_vocab, 0);
    for (int32_t token : p.allowed_tokens) s.allowed[token] = 1;
    for (size_t i = 0; i < n_vocab; ++i) {
      if (!s.allowed[i]) work[i] = kNegInf;
    }
  }
  if (state.n_generated < p.min_tokens) {
    for (int32_t token : p.eos_tokens) work[token] = kNegInf;
  }
  return OkStatus();
}

}  // namespace logitkit::head
