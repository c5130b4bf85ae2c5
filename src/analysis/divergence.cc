// Divergence: per-position measures in parallel, sums and histograms in row order.
#include "logitkit/divergence.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "analysis/rows.h"
#include "ops/row_ops.h"

namespace logitkit::analysis {
namespace {

constexpr double kPercents[] = {100, 99.9, 99, 95, 90, 50, 10, 5, 1, 0.1, 0};
constexpr int kKlDecadeLo = -12, kKlDecades = 16, kKlPerDecade = 100;
constexpr size_t kKlBins = size_t(kKlDecades) * kKlPerDecade + 2;  // [0]: < 1e-12, last: >= 1e4
constexpr size_t kDpBins = size_t{1} << 16;

struct Measure {
  double kl = 0, dp = 0, nll_a = 0, nll_b = 0;
  bool agree = false;
  int32_t top_a = 0, top_b = 0;
  double p_top_a = 0, p_top_b = 0;
};

// A row's log-softmax normaliser (max + log Σ exp(z - max)) and argmax.
struct RowNorm {
  float max = 0;
  double log_z = 0;
  size_t argmax = 0;
};

StatusOr<RowNorm> Normalise(std::span<const float> row, std::vector<float>& e, const std::string& where) {
  const ops::LoadStats load = ops::LoadRow(row.data(), FloatType::kF32, row.size(), 1.0f, nullptr);
  if (load.has_invalid) {
    size_t i = 0;
    while (i < row.size() && !std::isnan(row[i]) && row[i] != INFINITY) ++i;
    return InvalidArgumentError(where + ": logit " + std::to_string(i) + " is " + std::to_string(row[i]) +
                                " (NaN and +inf are not logits)");
  }
  if (load.max == -INFINITY) return InvalidArgumentError(where + ": every logit is -inf");
  e.resize(row.size());
  const double sum = ops::ExpShifted(row.data(), row.size(), load.max, e.data(), false).sum;
  return RowNorm{load.max, double(load.max) + std::log(sum), ops::ArgMax(row.data(), row.size())};
}

size_t KlBin(double kl) {  // kl is finite (AddRows rejects infinite KL)
  if (!(kl >= 1e-12)) return 0;
  if (kl >= 1e4) return kKlBins - 1;
  const double pos = (std::log10(kl) - kKlDecadeLo) * kKlPerDecade;
  return std::min(kKlBins - 1, size_t(pos) + 1);
}
double KlEdge(size_t i) { return std::pow(10.0, kKlDecadeLo + double(i) / kKlPerDecade); }  // bin i+1's low edge

size_t DpBin(double dp) {
  return std::min(kDpBins - 1, size_t(std::max(0.0, (dp + 1) * 0.5 * double(kDpBins))));
}

// The value at `percent` from a histogram: the rank's bin, interpolated by edge(i, t).
template <typename Edge>
double FromHistogram(const std::vector<int64_t>& h, int64_t n, double percent, double lo, double hi, Edge edge) {
  if (percent <= 0) return lo;
  if (percent >= 100) return hi;
  const double rank = percent / 100 * double(n - 1);  // 0-based, as numpy's "linear"
  int64_t below = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    if (h[i] == 0) continue;
    if (double(below + h[i]) > rank) {
      const double t = (rank - double(below) + 0.5) / double(h[i]);
      return std::clamp(edge(i, t), lo, hi);
    }
    below += h[i];
  }
  return hi;
}

}  // namespace

struct Divergence::State {
  size_t n_vocab = 0;
  int64_t n = 0;
  double kl_sum = 0, kl_sq = 0, dp_sum = 0, dp_sq = 0, nll_a = 0, nll_b = 0;
  int64_t agree = 0;
  double kl_min = std::numeric_limits<double>::infinity(), kl_max = 0;
  double dp_min = std::numeric_limits<double>::infinity(), dp_max = -std::numeric_limits<double>::infinity();
  std::vector<int64_t> kl_hist = std::vector<int64_t>(kKlBins), dp_hist = std::vector<int64_t>(kDpBins);
  std::vector<std::vector<float>> scratch_a, scratch_b;
  std::vector<Measure> measures;
};

Divergence::Divergence(std::unique_ptr<State> state) : state_(std::move(state)) {}
Divergence::Divergence(Divergence&&) noexcept = default;
Divergence& Divergence::operator=(Divergence&&) noexcept = default;
Divergence::~Divergence() = default;

StatusOr<Divergence> Divergence::Create(size_t n_vocab) {
  if (n_vocab == 0) return InvalidArgumentError("divergence: the vocabulary is empty");
  auto state = std::make_unique<State>();
  state->n_vocab = n_vocab;
  return Divergence(std::move(state));
}

Status Divergence::AddRows(std::span<const float> a, std::span<const float> b, std::span<const int32_t> targets,
                           ThreadPool* pool, uint64_t first_row, std::vector<RowDivergence>* rows) {
  State& st = *state_;
  const size_t V = st.n_vocab, n = targets.size();
  if (a.size() / V != n || a.size() % V != 0 || b.size() != a.size()) {
    return InvalidArgumentError("divergence: " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                                " logits for " + std::to_string(n) + " rows of " + std::to_string(V));
  }
  const size_t threads = pool ? pool->num_threads() : 1;
  st.scratch_a.resize(std::max(st.scratch_a.size(), threads));
  st.scratch_b.resize(std::max(st.scratch_b.size(), threads));
  st.measures.resize(std::max(st.measures.size(), n));
  Status status = MeasureRows(pool, n, [&](size_t r, size_t thread) -> Status {
    const std::string where = "row " + std::to_string(first_row + r);
    const int32_t y = targets[r];
    if (y < 0 || size_t(y) >= V) {
      return OutOfRangeError(where + ": next token " + std::to_string(y) + " outside [0, " + std::to_string(V) +
                             ")");
    }
    const std::span<const float> za = a.subspan(r * V, V), zb = b.subspan(r * V, V);
    StatusOr<RowNorm> na = Normalise(za, st.scratch_a[thread], where + " of model A");
    StatusOr<RowNorm> nb = Normalise(zb, st.scratch_b[thread], where + " of model B");
    if (!na.ok() || !nb.ok()) {
      return na.ok() ? nb.status() : na.status();
    }
    // KL = Σ P_j (lp_a - lp_b), P_j = exp(lp_a): terms with P_j = 0 add nothing.
    const std::vector<float>& ea = st.scratch_a[thread];
    const double inv_sum = std::exp(double(na->max) - na->log_z);  // 1 / Σ exp(z - max)
    double kl = 0;
    for (size_t j = 0; j < V; ++j) {
      if (ea[j] == 0) continue;
      if (zb[j] == -INFINITY) {
        return InvalidArgumentError(where + ": model B gives token " + std::to_string(j) +
                                    " probability 0 where A does not: KL is infinite");
      }
      kl += double(ea[j]) * ((double(za[j]) - na->log_z) - (double(zb[j]) - nb->log_z));
    }
    if (za[y] == -INFINITY || zb[y] == -INFINITY) {
      return InvalidArgumentError(where + ": model " + (za[y] == -INFINITY ? "A" : "B") +
                                  " gives the next token " + std::to_string(y) + " probability 0: its NLL is infinite");
    }
    Measure& m = st.measures[r];
    m.kl = std::max(0.0, kl * inv_sum);
    m.nll_a = na->log_z - za[y];
    m.nll_b = nb->log_z - zb[y];
    m.dp = std::exp(-m.nll_b) - std::exp(-m.nll_a);
    m.agree = na->argmax == nb->argmax;
    m.top_a = int32_t(na->argmax), m.top_b = int32_t(nb->argmax);
    m.p_top_a = std::exp(double(za[na->argmax]) - na->log_z);
    m.p_top_b = std::exp(double(zb[nb->argmax]) - nb->log_z);
    return OkStatus();
  });
  if (!status.ok()) return status;
  if (rows) {
    rows->resize(n);
    for (size_t r = 0; r < n; ++r) {
      const Measure& m = st.measures[r];
      (*rows)[r] = {m.kl, m.nll_a, m.nll_b, m.top_a, m.top_b, m.p_top_a, m.p_top_b};
    }
  }
  for (size_t r = 0; r < n; ++r) {
    const Measure& m = st.measures[r];
    st.n += 1;
    st.kl_sum += m.kl, st.kl_sq += m.kl * m.kl;
    st.dp_sum += m.dp, st.dp_sq += m.dp * m.dp;
    st.nll_a += m.nll_a, st.nll_b += m.nll_b;
    st.agree += m.agree;
    st.kl_min = std::min(st.kl_min, m.kl), st.kl_max = std::max(st.kl_max, m.kl);
    st.dp_min = std::min(st.dp_min, m.dp), st.dp_max = std::max(st.dp_max, m.dp);
    st.kl_hist[KlBin(m.kl)] += 1;
    st.dp_hist[DpBin(m.dp)] += 1;
  }
  return OkStatus();
}

int64_t Divergence::positions() const { return state_->n; }

DivergenceSummary Divergence::Summary() const {
  const State& st = *state_;
  DivergenceSummary s;
  s.positions = st.n;
  s.n_vocab = int64_t(st.n_vocab);
  if (st.n == 0) return s;
  const double n = double(st.n);
  s.kl_mean = st.kl_sum / n;
  const double var = st.n > 1 ? std::max(0.0, (st.kl_sq - st.kl_sum * st.kl_sum / n) / (n - 1)) : 0.0;
  s.kl_standard_error = std::sqrt(var / n);
  s.top_agreement = double(st.agree) / n;
  s.dp_mean = st.dp_sum / n;
  s.dp_rms = std::sqrt(st.dp_sq / n);
  s.nll_a = st.nll_a / n, s.nll_b = st.nll_b / n;
  s.perplexity_a = std::exp(s.nll_a), s.perplexity_b = std::exp(s.nll_b);
  s.perplexity_ratio = s.perplexity_b / s.perplexity_a;
  for (double p : kPercents) {
    s.kl.push_back({p, FromHistogram(st.kl_hist, st.n, p, st.kl_min, st.kl_max, [](size_t i, double t) {
                      if (i == 0) return 0.0;
                      return KlEdge(i - 1) * std::pow(KlEdge(i) / KlEdge(i - 1), t);
                    })});
    s.dp.push_back({p, FromHistogram(st.dp_hist, st.n, p, st.dp_min, st.dp_max, [](size_t i, double t) {
                      return -1 + 2 * (double(i) + t) / double(kDpBins);
                    })});
    const bool inside = p > 0 && p < 100;
    s.kl.back().below_resolution = inside && s.kl.back().value < 1e-12;
    s.dp.back().below_resolution = inside && std::abs(s.dp.back().value) < 2.0 / double(kDpBins);
  }
  return s;
}

}  // namespace logitkit::analysis
