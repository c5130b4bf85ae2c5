// The decode head's stages as stand-alone functions on one float32 row.
#include <cmath>
#include <new>
#include <string>

#include "base/format.h"
#include "head/candidates.h"
#include "head/filters.h"
#include "head/processors.h"
#include "logitkit/head.h"
#include "ops/row_ops.h"

namespace logitkit {
namespace {

using base::Num;

using head::Candidates;
using head::kNegInf;
using head::RowScratch;

Status CheckVocab(size_t n_vocab) {
  if (n_vocab == 0) return InvalidArgumentError("n_vocab = 0: a row needs at least one logit");
  if (n_vocab > kMaxVocab) {
    return InvalidArgumentError("n_vocab = " + std::to_string(n_vocab) +
                                " exceeds the supported maximum " + std::to_string(kMaxVocab));
  }
  return OkStatus();
}

// Checks the row (no NaN, no +inf, at least one finite value) and returns its
// max: one SIMD pass, and a scalar scan for the culprit on the error path only.
StatusOr<float> CheckRow(std::span<const float> logits) {
  LOGITKIT_RETURN_IF_ERROR(CheckVocab(logits.size()));
  const ops::LoadStats load =
      ops::LoadRow(logits.data(), FloatType::kF32, logits.size(), 1.0f, nullptr);
  if (load.has_invalid) {
    for (size_t i = 0; i < logits.size(); ++i) {
      const float v = logits[i];
      if (std::isnan(v) || v == INFINITY) {
        return InvalidArgumentError("logits[" + std::to_string(i) + "] = " + Num(v) +
                                    ": logits must be finite or -inf");
      }
    }
  }
  if (load.max == kNegInf) return FailedPreconditionError("every logit is -inf: no token to keep");
  return load.max;
}

Status CheckTemperature(float t) {
  if (!(t > 0) || !std::isfinite(t)) {
    return InvalidArgumentError("temperature = " + Num(t) + " must be finite and > 0");
  }
  return OkStatus();
}

// Runs one filter on a dense row and writes the kept set back into `logits`.
template <typename Filter>
StatusOr<size_t> RunFilterOrThrow(std::span<float> logits, Filter filter) {
  StatusOr<float> max = CheckRow(logits);
  if (!max.ok()) return max.status();
  RowScratch s;
  Candidates c;
  c.vals = logits.data();
  c.exps = s.exps.Get(logits.size());
  c.n = logits.size();
  c.max = *max;
  filter(c, s);
  if (c.ids != nullptr) {  // the filter compacted: write the kept set back
    std::vector<float> kept(c.vals, c.vals + c.n);
    std::vector<int32_t> ids(c.ids, c.ids + c.n);
    std::fill(logits.begin(), logits.end(), kNegInf);
    for (size_t j = 0; j < kept.size(); ++j) logits[ids[j]] = kept[j];
  }
  return logits.size() - ops::CountEqual(logits.data(), logits.size(), kNegInf);
}

// Scratch memory may run out on huge rows: that is a status, never an exception.
template <typename Filter>
StatusOr<size_t> RunFilter(std::span<float> logits, Filter filter) {
  try {
    return RunFilterOrThrow(logits, filter);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kResourceExhausted,
                  "out of memory filtering a row of n_vocab = " + std::to_string(logits.size()));
  }
}


// Three passes: check the row and find max(z) / T (division by T > 0 is
// monotone, so that is the max of z / T); exp(z / T - max) with the sum in
// double; then the scale (softmax) or the shift (log-softmax).
StatusOr<ops::ExpSums> ExpPass(std::span<const float> logits, float temperature, float* exps,
                               float& max) {
  LOGITKIT_RETURN_IF_ERROR(CheckTemperature(temperature));
  LOGITKIT_RETURN_IF_ERROR(CheckVocab(logits.size()));
  const ops::LoadStats load =
      ops::LoadRow(logits.data(), FloatType::kF32, logits.size(), temperature, nullptr);
  if (load.has_invalid) {  // NaN / +inf in the row, or an overflow in the division
    StatusOr<float> checked = CheckRow(logits);
    if (!checked.ok()) return checked.status();
    return InvalidArgumentError("logits / temperature overflows float at temperature = " +
                                Num(temperature));
  }
  if (load.max == kNegInf) return FailedPreconditionError("every logit is -inf: no token to keep");
  max = load.max;
  return ops::ExpShifted(logits.data(), logits.size(), max, exps, false, temperature);
}

Status CheckSizes(size_t logits, size_t out) {
  if (logits == out) return OkStatus();
  return InvalidArgumentError("output size " + std::to_string(out) + " != logits size " +
                              std::to_string(logits));
}

}  // namespace

Status Softmax(std::span<const float> logits, float temperature, std::span<float> probs) {
  LOGITKIT_RETURN_IF_ERROR(CheckSizes(logits.size(), probs.size()));
  float max;
  StatusOr<ops::ExpSums> sums = ExpPass(logits, temperature, probs.data(), max);
  if (!sums.ok()) return sums.status();
  ops::Multiply(probs.data(), probs.size(), static_cast<float>(1.0 / sums->sum));
  return OkStatus();
}

Status LogSoftmax(std::span<const float> logits, float temperature, std::span<float> logprobs) {
  LOGITKIT_RETURN_IF_ERROR(CheckSizes(logits.size(), logprobs.size()));
  float max;
  StatusOr<ops::ExpSums> sums = ExpPass(logits, temperature, nullptr, max);
  if (!sums.ok()) return sums.status();
  // log p = (z / T - max) - log S, subtracting the max first so huge logits
  // keep their differences; the division is the same IEEE one.
  const double log_sum = std::log(sums->sum);
  for (size_t i = 0; i < logits.size(); ++i) {
    const double shifted = static_cast<double>(logits[i] / temperature) - max;
    logprobs[i] = static_cast<float>(shifted - log_sum);
  }
  return OkStatus();
}

Status ApplyProcessors(std::span<float> logits, const SamplerParams& params,
                       const RowState& state) {
  StatusOr<float> max = CheckRow(logits);
  if (!max.ok() && max.status().code() != StatusCode::kFailedPrecondition) return max.status();
  LOGITKIT_RETURN_IF_ERROR(head::ValidateParams(params, state, logits.size()));
  try {
    RowScratch s;
    if (!state.allowed_mask.empty()) {  // the chain applies it as it loads the row
      ops::LoadRowMasked(logits.data(), FloatType::kF32, logits.size(), 1.0f,
                         state.allowed_mask.data(), logits.data());
    }
    return head::ApplyProcessorsToRow(logits.data(), logits.size(), params, state, s);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kResourceExhausted, "out of memory applying the processors");
  }
}

StatusOr<size_t> TopK(std::span<float> logits, int32_t k) {
  if (k < 0) return InvalidArgumentError("top_k = " + std::to_string(k) + " must be >= 0");
  return RunFilter(logits, [k](Candidates& c, RowScratch& s) {
    if (k > 0) head::FilterTopK(c, static_cast<size_t>(k), s);
  });
}

StatusOr<size_t> TopP(std::span<float> logits, float p) {
  if (!(p > 0 && p <= 1)) return InvalidArgumentError("top_p = " + Num(p) + " is outside (0, 1]");
  return RunFilter(logits, [p](Candidates& c, RowScratch& s) {
    if (p < 1) head::FilterTopP(c, p, s);
  });
}

StatusOr<size_t> MinP(std::span<float> logits, float min_p) {
  if (!(min_p >= 0 && min_p <= 1)) {
    return InvalidArgumentError("min_p = " + Num(min_p) + " is outside [0, 1]");
  }
  return RunFilter(logits, [min_p](Candidates& c, RowScratch& s) {
    if (min_p > 0) head::FilterMinP(c, min_p, s);
  });
}

StatusOr<size_t> TypicalP(std::span<float> logits, float p) {
  if (!(p > 0 && p <= 1)) {
    return InvalidArgumentError("typical_p = " + Num(p) + " is outside (0, 1]");
  }
  return RunFilter(logits, [p](Candidates& c, RowScratch& s) {
    if (p < 1) head::FilterTypicalP(c, p, s);
  });
}

StatusOr<size_t> TopNSigma(std::span<float> logits, float n) {
  if (!(n >= 0) || !std::isfinite(n)) {
    return InvalidArgumentError("top_n_sigma = " + Num(n) + " must be finite and >= 0");
  }
  return RunFilter(logits, [n](Candidates& c, RowScratch& s) {
    if (n > 0) head::FilterTopNSigma(c, n, s);
  });
}

StatusOr<int32_t> Sample(std::span<const float> logits, uint64_t seed, uint64_t stream,
                         uint64_t step) {
  SamplerParams params;  // T = 1, no filters: the draw alone
  DecodeHead head;
  RowState state;
  state.seed = seed;
  state.stream = stream;
  state.step = step;
  DecodeResult r = head.Decode(logits, params, state);
  if (!r.status.ok()) return r.status;
  return r.token;
}

}  // namespace logitkit
