// How far one model's next-token distributions are from another's over the
// same positions (e.g. a quantized model against a higher-precision copy),
// accumulated row by row with memory that does not grow with the corpus.
//
// Per position, with P = softmax(logits A), Q = softmax(logits B) (T = 1)
// and y the token that came next:
//   KL(P || Q) = Σ_j P_j (log P_j - log Q_j)  (nats, in double; A is the
//       reference; a rounding result below 0 is 0, so identical rows give 0)
//   top agreement: argmax P == argmax Q (lowest index among ties)
//   Δp = Q_y - P_y
//   NLL_A = -log P_y, NLL_B = -log Q_y
// Means are exact sums; the standard error of the mean KL is sqrt(var / N).
// Percentiles come from fixed histograms: KL in 100 log-spaced bins per
// decade over [1e-12, 1e4] (relative resolution 2.3%; below 1e-12, 0), Δp in
// 65,536 equal bins over [-1, 1] (resolution 3.1e-5), the rank interpolated
// linearly (in log for KL) inside its bin; the minimum and maximum are exact.
#ifndef LOGITKIT_DIVERGENCE_H_
#define LOGITKIT_DIVERGENCE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "logitkit/status.h"
#include "logitkit/thread_pool.h"

namespace logitkit::analysis {

struct Percentile {
  double percent;  // 100 = the maximum, 0 = the minimum
  double value;
  // A percentile strictly between 0 and 100 whose value is within the
  // histogram's resolution of 0 (KL below 1e-12; |Δp| below one bin, 3.1e-5):
  // it says "this small or smaller", not a measured value. The minimum and
  // maximum are exact and never flagged.
  bool below_resolution = false;
};

// One position's measures, as AddRows computes them (its `rows` output).
struct RowDivergence {
  double kl = 0;                    // KL(P || Q), nats
  double nll_a = 0, nll_b = 0;      // -log P_y, -log Q_y
  int32_t top_a = 0, top_b = 0;     // argmax P, argmax Q (lowest index among ties)
  double p_top_a = 0, p_top_b = 0;  // P of A's top token, Q of B's
};

struct DivergenceSummary {
  int64_t positions = 0;
  int64_t n_vocab = 0;
  double kl_mean = 0, kl_standard_error = 0;
  std::vector<Percentile> kl;  // 100, 99.9, 99, 95, 90, 50, 10, 5, 1, 0.1, 0
  double top_agreement = 0;    // share of positions
  double dp_mean = 0, dp_rms = 0;
  std::vector<Percentile> dp;  // the same percents
  double nll_a = 0, nll_b = 0;  // mean, nats
  double perplexity_a = 0, perplexity_b = 0, perplexity_ratio = 0;  // ratio = B / A
};

class Divergence {
 public:
  static StatusOr<Divergence> Create(size_t n_vocab);
  Divergence(Divergence&&) noexcept;
  Divergence& operator=(Divergence&&) noexcept;
  ~Divergence();

  // n = targets.size() positions: a and b hold n rows of n_vocab logits each.
  // Rows are measured in parallel on pool (null: this thread) and added in
  // row order: results do not depend on the thread count. Errors (nothing is
  // added) name the row (first_row + its index), the model (A or B) and the
  // token: invalid logits, and probability 0 where it makes a measure
  // infinite (B's, of a token A gives mass; either's, of the next token).
  // rows, when not null, is resized to n and receives each row's measures
  // (e.g. to find the positions where the models differ most).
  Status AddRows(std::span<const float> a, std::span<const float> b, std::span<const int32_t> targets,
                 ThreadPool* pool, uint64_t first_row = 0, std::vector<RowDivergence>* rows = nullptr);
  int64_t positions() const;
  DivergenceSummary Summary() const;

 private:
  struct State;
  explicit Divergence(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace logitkit::analysis

#endif  // LOGITKIT_DIVERGENCE_H_
