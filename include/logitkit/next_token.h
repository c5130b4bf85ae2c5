// The next-token distribution at one temperature, and what the decode head's
// filters keep of it: the table `logitkit top` prints (one per temperature)
// and the server's /next_token returns. Everything comes from the decode
// head itself (DecodeHead, Softmax), so the kept set is exactly the one a
// draw with the same parameters would use.
#ifndef LOGITKIT_NEXT_TOKEN_H_
#define LOGITKIT_NEXT_TOKEN_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "logitkit/head.h"
#include "logitkit/status.h"

namespace logitkit::analysis {

struct NextTokenRow {
  int32_t token = 0;
  float logit = 0;
  float logprob = 0;          // log softmax(z)[token]: T = 1, no processor or filter
  float p = 0;                // softmax(z / T)[token]; T = 0: 1 for the argmax, else 0
  double cumulative_p = 0;    // Σ p over this row and the rows above it (in double)
  bool kept = false;          // in the kept set of the processors, T and the filters
  float kept_logprob = 0;     // log of its probability renormalised over the kept set; -inf if cut
  double kept_p() const { return kept ? std::exp(double(kept_logprob)) : 0.0; }  // that probability
};

struct NextTokenView {
  double temperature = 1;
  std::vector<NextTokenRow> top;  // the n most likely tokens, by logit (ties: lower id first)
  float entropy = 0;              // of softmax(z / T), nats (T = 0: 0)
  int32_t n_kept = 0;             // the kept set's size
  double kept_mass = 1;           // Σ softmax(z / T) over the kept set
  float kept_entropy = 0;         // of the renormalised kept distribution, nats
};

// One row of V logits at temperature T (>= 0, finite; 0 = greedy), with
// `filters` (processors, filters and order; its temperature and output fields
// are ignored) and `state` (the history the penalties count, n_generated for
// min_tokens: a generation's first draw has the prompt and 0), the n
// (1 <= n <= V) most likely tokens. Errors: the head's (bad logits, a
// parameter out of range), naming the parameter and value.
StatusOr<NextTokenView> ViewNextToken(DecodeHead& head, std::span<const float> logits,
                                      const SamplerParams& filters, const RowState& state, double temperature,
                                      size_t n);

}  // namespace logitkit::analysis

#endif  // LOGITKIT_NEXT_TOKEN_H_
