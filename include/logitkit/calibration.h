// Calibration of a model's next-token distribution, measured position by
// position over a corpus with memory that does not grow with it: every
// statistic is a sum or a fixed-size histogram. Knows nothing of models: it
// takes rows of logits (the model's own, T = 1) and the token that came next.
//
// What is measured at each position (p = softmax(logits), y = the next token):
// - top label: confidence c = max p, correct = (argmax p == y), the argmax
//   being the lowest index among equal largest logits; NLL = -log p_y;
//   Brier = Σ_j (p_j - [j == y])^2 (the multi-class score, in [0, 2]).
// - full calibration: every p_j with outcome [j == y], V per position.
// - sampling sets: for each SamplingSetting, the set the decode head would
//   sample from (temperature, then top-k, top-p, min-p, as DecodeHead
//   orders them), its nominal mass (Σ of the tempered probabilities it
//   keeps, before renormalisation) and whether it holds y.
// - temperature: on positions of the fit split, the NLL at T = 1 / beta for
//   beta on a grid, with its first two derivatives in beta (exact, per
//   position; see FitTemperature).
//
// Bins: bin i of B covers [i/B, (i+1)/B); the last one also holds 1 exactly,
// and 0 falls in the first. Values are doubles computed from float logits.
// ECE = Σ_b (n_b / N) |acc_b - conf_b|, RMS = sqrt(Σ_b (n_b / N) (acc_b - conf_b)^2),
// MCE = max over non-empty bins of |acc_b - conf_b|.
// Equal-mass bins are merged from a fine histogram of 65,536 equal-width
// bins: they partition [0, 1], their inner edges are multiples of 2^-16 and
// their counts as equal as that resolution allows (a fine bin is never split).
#ifndef LOGITKIT_CALIBRATION_H_
#define LOGITKIT_CALIBRATION_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "logitkit/status.h"
#include "logitkit/thread_pool.h"

namespace logitkit::analysis {

// A sampling configuration whose kept set is measured. Defaults: no filter.
struct SamplingSetting {
  float temperature = 1.0f;  // > 0
  int32_t top_k = 0;         // >= 0; 0 = off
  float top_p = 1.0f;        // (0, 1]
  float min_p = 0.0f;        // [0, 1]

  std::string Label() const;  // e.g. "T=0.7 top_p=0.9"
};
// Parses "top_p=0.9", "t=0.7,top_p=0.9", "min_p=0.05,top_k=40" (keys t or
// temperature, top_k, top_p, min_p). Errors name the key and the value.
StatusOr<SamplingSetting> ParseSamplingSetting(std::string_view spec);

struct CalibrationOptions {
  int bins = 15;                          // 1 .. 10,000
  std::vector<SamplingSetting> sampling;  // may be empty
  double beta_step = 0.1;                 // temperature grid: beta = 1/T = k * beta_step,
  int grid_points = 40;                   // k = 1 .. grid_points (<= 64): T in [0.25, 10]
};

// Which split a position belongs to: the temperature is fitted on kFit
// positions; kEval positions measure it (every position counts in the T = 1
// statistics).
enum class Split { kFit, kEval };

// One reliability bin: predictions with value in [lo, hi).
struct Bin {
  double lo = 0, hi = 0;
  int64_t count = 0;
  double value_sum = 0;    // Σ predicted probability (the confidence)
  double outcome_sum = 0;  // Σ outcome (1 if the prediction came true)
  double confidence() const { return count ? value_sum / count : 0.0; }
  double accuracy() const { return count ? outcome_sum / count : 0.0; }
};

struct CalibrationErrors {
  double ece = 0, rms = 0, mce = 0;
};
CalibrationErrors ErrorsOf(std::span<const Bin> bins);

// Top-label statistics of a set of positions at one temperature.
struct TopLabelSummary {
  int64_t positions = 0;
  double nll = 0;       // mean -log p_y (nats)
  double accuracy = 0;  // share with argmax == y
  double brier = 0;     // mean multi-class Brier score
  std::vector<Bin> bins;  // equal-width
  CalibrationErrors errors;
};

struct SamplingSetSummary {
  SamplingSetting setting;
  int64_t positions = 0;
  double mean_mass = 0;   // mean nominal mass of the kept set
  double coverage = 0;    // share of positions whose kept set holds y
  double mean_kept = 0;   // mean number of tokens kept
  std::vector<Bin> bins;  // by nominal mass; outcome = y kept
  CalibrationErrors errors;
};

struct TemperatureFit {
  bool fitted = false;
  int64_t fit_positions = 0;
  double temperature = 1.0;  // the fitted T
  bool at_grid_edge = false; // the minimum lies outside the grid; T is the edge
  double fit_nll_at_1 = 0, fit_nll_at_fit = 0;  // mean NLL of the fit split
  // The fit split's mean NLL at each grid temperature, T descending.
  std::vector<double> curve_temperature, curve_nll;
  // The eval positions added after FitTemperature, at T = 1 and at the fit.
  TopLabelSummary before, after;
};

struct CalibrationSummary {
  int bins = 0;
  int64_t n_vocab = 0;
  TopLabelSummary top;         // every position, T = 1, equal-width bins
  std::vector<Bin> equal_mass;
  CalibrationErrors equal_mass_errors;
  // Full calibration: every probability of every position.
  std::vector<Bin> full_bins;  // equal-width
  CalibrationErrors full_errors;  // full ECE weighs bins by n_b / (N V)
  std::vector<Bin> full_octaves;  // [2^-(i+1), 2^-i), the last down to 0
  std::vector<SamplingSetSummary> sampling;
  TemperatureFit temperature;
};

class Calibration {
 public:
  static StatusOr<Calibration> Create(size_t n_vocab, CalibrationOptions options);
  Calibration(Calibration&&) noexcept;
  Calibration& operator=(Calibration&&) noexcept;
  ~Calibration();

  // Measures n_rows = targets.size() positions: logits holds n_rows rows of
  // n_vocab floats, row r followed by token targets[r]. Rows are measured in
  // parallel on pool (null: this thread) and added in row order, so results
  // do not depend on the number of threads. Errors (nothing is added): a
  // target outside [0, n_vocab), a NaN or +inf logit, a row of -inf, a
  // target whose logit is -inf (probability 0: an infinite NLL); each names
  // the row (first_row + its index) and the token.
  Status AddRows(std::span<const float> logits, std::span<const int32_t> targets, Split split,
                 ThreadPool* pool, uint64_t first_row = 0);

  // Fits T on the kFit positions added so far: the minimum over beta = 1/T of
  // the summed NLL, which is convex in beta. The grid brackets the root of
  // dNLL/dbeta; inside the bracket, the root of the cubic Hermite interpolant
  // of dNLL/dbeta (its value and slope are known exactly at both ends) is
  // found by bisection (to 1e-12 in beta; the interpolation itself is within
  // ~1e-5 of the exact minimiser, relative). kEval positions added afterwards are also
  // measured at the fitted T. Error: no kFit position, or fitted already.
  Status FitTemperature();

  int64_t positions() const;
  CalibrationSummary Summary() const;

 private:
  struct State;
  explicit Calibration(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace logitkit::analysis

#endif  // LOGITKIT_CALIBRATION_H_
