#include "logitkit/next_token.h"

#include <cmath>
#include <string>

#include "base/format.h"

namespace logitkit::analysis {

StatusOr<NextTokenView> ViewNextToken(DecodeHead& head, std::span<const float> logits,
                                      const SamplerParams& filters, const RowState& state, double temperature,
                                      size_t n) {
  const size_t V = logits.size();
  if (n < 1 || n > V) {
    return InvalidArgumentError("n = " + std::to_string(n) + " is outside [1, " + std::to_string(V) + "]");
  }
  if (!(temperature >= 0) || !std::isfinite(temperature)) {
    return InvalidArgumentError("temperature = " + base::Num(temperature) + " must be finite and >= 0 (0 = greedy)");
  }
  const float T = float(temperature);
  NextTokenView view;
  view.temperature = temperature;

  // p at T: the head's Softmax; its entropy and the argmax from the head with no filter.
  SamplerParams plain;
  plain.temperature = T;
  plain.outputs = kOutputEntropy;
  plain.top_logprobs = 1;
  const DecodeResult unfiltered = head.Decode(logits, plain, RowState{});
  if (!unfiltered.status.ok()) return unfiltered.status;
  view.entropy = unfiltered.entropy;
  std::vector<float> p(V, 0.0f);
  if (T == 0) {
    p[unfiltered.top[0].token] = 1.0f;
  } else {
    LOGITKIT_RETURN_IF_ERROR(Softmax(logits, T, p));
  }

  // The filtered distribution: the n most likely raw tokens with both logprobs.
  SamplerParams params = filters;
  params.temperature = T;
  params.outputs = kOutputEntropy | kOutputKept;
  params.top_logprobs = int32_t(n);
  params.alternatives_from = Alternatives::kRaw;
  const DecodeResult filtered = head.Decode(logits, params, state);
  if (!filtered.status.ok()) return filtered.status;
  view.n_kept = filtered.n_kept;
  view.kept_entropy = filtered.entropy;
  double cumulative = 0;
  for (const TokenLogprob& t : filtered.top) {
    cumulative += p[t.token];
    view.top.push_back({t.token, logits[t.token], t.raw_logprob, p[t.token], cumulative, t.logprob != -INFINITY,
                        t.logprob});
  }
  // The kept set's mass: its tokens are the final distribution's.
  if (size_t(filtered.n_kept) < V) {
    params.outputs = kOutputNone;
    params.top_logprobs = filtered.n_kept;
    params.alternatives_from = Alternatives::kFinal;
    const DecodeResult kept = head.Decode(logits, params, state);
    if (!kept.status.ok()) return kept.status;
    double mass = 0;
    for (const TokenLogprob& t : kept.top) mass += p[t.token];
    view.kept_mass = mass;
  }
  return view;
}

}  // namespace logitkit::analysis
