// Stage 1 of the decode head: logit processors, and the validation of every
// per-row parameter.
#ifndef LOGITKIT_HEAD_PROCESSORS_H_
#define LOGITKIT_HEAD_PROCESSORS_H_

#include <cstddef>

#include "head/candidates.h"
#include "logitkit/head.h"

namespace logitkit::head {

// Checks every parameter of `params` and every token id in `state` against
// n_vocab. The message names the parameter and the value (the caller adds the row).
Status ValidateParams(const SamplerParams& params, const RowState& state, size_t n_vocab);

// Whether any processor would change a logit.
bool HasProcessors(const SamplerParams& params, const RowState& state);

// Whether a stage would change anything with these parameters.
bool StageActive(Stage stage, const SamplerParams& params);

// Applies the processors to logits[0, n_vocab) in place; masks set -inf. A
// processed value that is NaN or +inf (a bias or penalty that overflows float)
// is an error naming the token, and logits are then unchanged.
// REQUIRES: ValidateParams(...) is OK.
Status ApplyProcessorsToRow(float* logits, size_t n_vocab, const SamplerParams& params,
                            const RowState& state, RowScratch& s);

}  // namespace logitkit::head

#endif  // LOGITKIT_HEAD_PROCESSORS_H_
