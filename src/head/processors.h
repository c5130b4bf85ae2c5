// Stage 1 of the decode head: logit processors, and the validation of every
// per-row parameter.
#ifndef LOGITKIT_HEAD_PROCESSORS_H_
#define LOGITKIT_HEAD_PROCESSORS_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "head/candidates.h"
#include "logitkit/head.h"

namespace logitkit::head {

// Checks every parameter of `params` (the entries of SamplerParamTable(), then
// top_logprobs and eos_tokens) and `state` (history ids against n_vocab,
// n_generated >= 0). The message names the parameter and the value (the
// caller adds the row).
Status ValidateParams(const SamplerParams& params, const RowState& state, size_t n_vocab);

// Every id in [0, n_vocab), else kOutOfRange: "name[i] = id is outside [0, n_vocab = V)".
Status CheckTokenIds(std::span<const int32_t> ids, const char* name, size_t n_vocab);

// Whether any processor would change a logit.
bool HasProcessors(const SamplerParams& params, const RowState& state);

// Whether a stage would change anything with these parameters.
bool StageActive(Stage stage, const SamplerParams& params);

// Applies the processors to logits[0, n_vocab) in place; masks set -inf. A
// processed value that leaves float (NaN, +inf, or -inf from a finite logit:
// a bias or penalty that overflows) is an error naming the token, and logits
// are then unchanged; except on a token the masks remove anyway (banned, not
// allowed, an end token before min_tokens), whose value does not matter.
// REQUIRES: ValidateParams(...) is OK.
Status ApplyProcessorsToRow(float* logits, size_t n_vocab, const SamplerParams& params,
                            const RowState& state, RowScratch& s);

}  // namespace logitkit::head

#endif  // LOGITKIT_HEAD_PROCESSORS_H_
