#include "head/processors.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "base/format.h"
#include "logitkit/sampler_table.h"

namespace logitkit::head {
namespace {

using base::Num;

Status Bad(const char* name, double value, const char* expected) {
  return InvalidArgumentError(std::string(name) + " = " + Num(value) + " " + expected);
}

bool Contains(std::span<const int32_t> tokens, int32_t token) {
  return std::find(tokens.begin(), tokens.end(), token) != tokens.end();
}

// Whether a -inf bias is among the token's biases (it bans the token).
bool BiasBans(const SamplerParams& p, int32_t token) {
  return std::any_of(p.logit_bias.begin(), p.logit_bias.end(),
                     [&](const TokenBias& b) { return b.token == token && b.bias == kNegInf; });
}

// Whether the masks set the token to -inf whatever its processed value.
bool IsMasked(const SamplerParams& p, const RowState& state, int32_t token) {
  const std::span<const uint32_t> mask = state.allowed_mask;
  if (!mask.empty() && ((mask[static_cast<size_t>(token) / 32] >> (token % 32)) & 1u) == 0) {
    return true;
  }
  if (Contains(p.banned_tokens, token)) return true;
  if (!p.allowed_tokens.empty() && !Contains(p.allowed_tokens, token)) return true;
  return state.n_generated < p.min_tokens && Contains(p.eos_tokens, token);
}

}  // namespace

Status CheckTokenIds(std::span<const int32_t> tokens, const char* name, size_t n_vocab) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= n_vocab) {
      return OutOfRangeError(std::string(name) + "[" + std::to_string(i) + "] = " +
                             std::to_string(tokens[i]) + " is outside [0, n_vocab = " +
                             std::to_string(n_vocab) + ")");
    }
  }
  return OkStatus();
}

Status ValidateParams(const SamplerParams& p, const RowState& state, size_t n_vocab) {
  LOGITKIT_RETURN_IF_ERROR(CheckSamplerParams(p, n_vocab));
  if (p.top_logprobs < 0) return Bad("top_logprobs", p.top_logprobs, "must be >= 0");
  LOGITKIT_RETURN_IF_ERROR(CheckTokenIds(p.eos_tokens, "eos_tokens", n_vocab));
  LOGITKIT_RETURN_IF_ERROR(CheckTokenIds(state.history, "history", n_vocab));
  const size_t mask_words = (n_vocab + 31) / 32;
  if (!state.allowed_mask.empty() && state.allowed_mask.size() != mask_words) {
    return InvalidArgumentError("allowed_mask has " + std::to_string(state.allowed_mask.size()) +
                                " words; n_vocab = " + std::to_string(n_vocab) + " needs " +
                                std::to_string(mask_words) + " (32 tokens per word)");
  }
  if (state.n_generated < 0) {
    return InvalidArgumentError("n_generated = " + std::to_string(state.n_generated) +
                                " must be >= 0");
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
  // An edit that leaves float (NaN, +inf, or -inf from a finite logit that a
  // penalty or bias pushed below -FLT_MAX) is an error, unless the token is
  // masked below anyway: banned, not allowed, or an end token before
  // min_tokens. A -inf bias bans its token, and a -inf logit stays -inf.
  for (const auto& [token, value] : edits) {
    const bool overflow_down = value == kNegInf && raw[token] != kNegInf && !BiasBans(p, token);
    if (!std::isnan(value) && value != INFINITY && !overflow_down) continue;
    if (IsMasked(p, state, token)) continue;
    return InvalidArgumentError("token " + std::to_string(token) + ": logit " + Num(raw[token]) +
                                " after penalties and logit_bias is " + Num(value) +
                                ", not finite");
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
