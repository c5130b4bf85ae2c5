// Calibration: per-position measurements in parallel, sums in row order.
#include "logitkit/calibration.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "logitkit/head.h"
#include "analysis/rows.h"
#include "ops/row_ops.h"

namespace logitkit::analysis {
namespace {

constexpr size_t kFineBins = size_t{1} << 16;  // equal-mass bins are merged from these
constexpr size_t kOctaves = 40;                // full calibration down to 2^-39, then 0
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

size_t BinOf(double p, size_t bins) {
  return std::min(static_cast<size_t>(std::max(p, 0.0) * static_cast<double>(bins)), bins - 1);
}

// [2^-(i+1), 2^-i) for i < kOctaves - 1 (1 itself in octave 0); the rest and 0 last.
// The exponent is read from the bits (as std::ilogb, for normal doubles: a
// probability from float logits is at least 2^-149 / V, far above 2^-1022).
size_t OctaveOf(double p) {
  if (!(p > 0)) return kOctaves - 1;
  uint64_t bits;
  std::memcpy(&bits, &p, sizeof(bits));
  const int octave = 1023 - static_cast<int>((bits >> 52) & 0x7ff) - 1;  // -ilogb(p) - 1
  return static_cast<size_t>(std::clamp(octave, 0, static_cast<int>(kOctaves) - 1));
}

std::vector<Bin> EqualWidthBins(size_t n) {
  std::vector<Bin> bins(n);
  for (size_t i = 0; i < n; ++i) bins[i].lo = double(i) / double(n), bins[i].hi = double(i + 1) / double(n);
  return bins;
}

std::string Trimmed(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// What one position contributes, at one temperature.
struct TopLabelMeasure {
  float confidence = 0;
  bool correct = false;
  double nll = 0, sum_sq = 0, p_target = 0;
};

struct SetMeasure {
  double mass = 0;
  bool hit = false;
  size_t kept = 0;
};

struct PositionMeasure {
  TopLabelMeasure top, scaled;  // scaled: at the fitted T (kEval after the fit)
  bool has_scaled = false;
  std::vector<double> full_count, full_sum;      // per equal-width bin
  std::vector<double> octave_count, octave_sum;  // per octave
  size_t target_bin = 0, target_octave = 0;
  std::vector<SetMeasure> sets;
  std::vector<double> f0, f1, f2;  // NLL and its beta-derivatives on the grid (kFit)
};

struct Scratch {
  std::vector<float> e, z, e2;
  std::vector<double> s0, s1, s2;  // temperature moments
};

void Accumulate(TopLabelSummary& s, const TopLabelMeasure& m, size_t bins) {
  s.positions += 1;
  s.nll += m.nll;
  s.accuracy += m.correct;
  s.brier += m.sum_sq - 2 * m.p_target + 1;
  Bin& b = s.bins[BinOf(m.confidence, bins)];
  b.count += 1, b.value_sum += m.confidence, b.outcome_sum += m.correct;
}

void Finish(TopLabelSummary& s) {
  if (s.positions) s.nll /= s.positions, s.accuracy /= s.positions, s.brier /= s.positions;
  s.errors = ErrorsOf(s.bins);
}

// The cubic Hermite interpolant on [0, h] of a function with values y0, y1
// and slopes d0, d1 at the ends, at t in [0, h].
double Hermite(double y0, double d0, double y1, double d1, double h, double t) {
  const double s = t / h, s2 = s * s, s3 = s2 * s;
  return (2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * h * d0 + (-2 * s3 + 3 * s2) * y1 +
         (s3 - s2) * h * d1;
}

}  // namespace

std::string SamplingSetting::Label() const {
  std::string label;
  auto add = [&](const std::string& part) { label += (label.empty() ? "" : " ") + part; };
  if (temperature != 1.0f) add("T=" + Trimmed(temperature));
  if (top_k > 0) add("top_k=" + std::to_string(top_k));
  if (top_p < 1.0f) add("top_p=" + Trimmed(top_p));
  if (min_p > 0.0f) add("min_p=" + Trimmed(min_p));
  return label.empty() ? "full distribution" : label;
}

StatusOr<SamplingSetting> ParseSamplingSetting(std::string_view spec) {
  SamplingSetting s;
  if (spec.empty()) return InvalidArgumentError("empty sampling setting (expected e.g. 'top_p=0.9')");
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view part = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    const size_t eq = part.find('=');
    const std::string key(part.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(v)) {
      return InvalidArgumentError("sampling setting '" + std::string(part) + "': expected KEY=NUMBER");
    }
    if (key == "t" || key == "temperature") {
      if (!(v > 0)) return InvalidArgumentError("sampling setting: temperature " + value + " must be > 0");
      s.temperature = float(v);
    } else if (key == "top_k") {
      if (v < 0 || v != std::floor(v) || v > 1e9) {
        return InvalidArgumentError("sampling setting: top_k " + value + " must be an integer >= 0");
      }
      s.top_k = int32_t(v);
    } else if (key == "top_p") {
      if (!(v > 0 && v <= 1)) return InvalidArgumentError("sampling setting: top_p " + value + " must be in (0, 1]");
      s.top_p = float(v);
    } else if (key == "min_p") {
      if (!(v >= 0 && v <= 1)) return InvalidArgumentError("sampling setting: min_p " + value + " must be in [0, 1]");
      s.min_p = float(v);
    } else {
      return InvalidArgumentError("sampling setting: unknown key '" + key + "' (t, top_k, top_p, min_p)");
    }
  }
  return s;
}

CalibrationErrors ErrorsOf(std::span<const Bin> bins) {
  int64_t total = 0;
  for (const Bin& b : bins) total += b.count;
  CalibrationErrors e;
  if (total == 0) return e;
  double sq = 0;
  for (const Bin& b : bins) {
    if (b.count == 0) continue;
    const double gap = std::abs(b.accuracy() - b.confidence()), w = double(b.count) / double(total);
    e.ece += w * gap;
    sq += w * gap * gap;
    e.mce = std::max(e.mce, gap);
  }
  e.rms = std::sqrt(sq);
  return e;
}

struct Calibration::State {
  size_t n_vocab = 0;
  CalibrationOptions options;
  CalibrationSummary sum;                 // running sums; divided in Summary()
  std::vector<Bin> fine;                  // kFineBins top-label bins
  std::vector<double> full_count, full_sum, full_outcome;  // per equal-width bin
  std::vector<double> octave_count, octave_sum, octave_outcome;
  std::vector<double> sets_mass, sets_hits, sets_kept;
  std::vector<double> f0, f1, f2;  // Σ over kFit positions, per grid point
  bool fitted = false;
  double temperature = 1.0;
  std::vector<std::unique_ptr<Scratch>> scratch;
  std::vector<PositionMeasure> measures;

  Status Measure(std::span<const float> row, int32_t target, Split split, size_t row_index,
                 Scratch& s, PositionMeasure& m) const;
  void Add(const PositionMeasure& m, Split split);
};

Status Calibration::State::Measure(std::span<const float> row, int32_t target, Split split,
                                   size_t row_index, Scratch& s, PositionMeasure& m) const {
  const size_t V = n_vocab, B = size_t(options.bins);
  const std::string where = "row " + std::to_string(row_index);
  if (target < 0 || size_t(target) >= V) {
    return OutOfRangeError(where + ": next token " + std::to_string(target) + " outside [0, " +
                           std::to_string(V) + ")");
  }
  const ops::LoadStats load = ops::LoadRow(row.data(), FloatType::kF32, V, 1.0f, nullptr);
  if (load.has_invalid) {
    size_t i = 0;
    while (i < V && !std::isnan(row[i]) && row[i] != INFINITY) ++i;
    return InvalidArgumentError(where + ": logit " + std::to_string(i) + " is " + Trimmed(row[i]));
  }
  if (load.max == kNegInf) return InvalidArgumentError(where + ": every logit is -inf");
  if (row[target] == kNegInf) {
    return InvalidArgumentError(where + ": the next token " + std::to_string(target) +
                                " has logit -inf (probability 0): its NLL is infinite");
  }
  const float max = load.max;

  // T = 1: e = exp(z - max), p = e / S.
  s.e.resize(V);
  const double S = ops::ExpShifted(row.data(), V, max, s.e.data(), false).sum;
  const size_t argmax = ops::ArgMax(row.data(), V);
  auto top_label = [&](const float* e, double sum, double gap_target, TopLabelMeasure& t) {
    t.confidence = float(1.0 / sum);  // e[argmax] = exp(0) = 1
    t.correct = size_t(target) == argmax;
    t.nll = std::log(sum) + gap_target;
    t.p_target = double(e[target]) / sum;
    double sq = 0;
    for (size_t j = 0; j < V; ++j) sq += double(e[j]) * e[j];
    t.sum_sq = sq / (sum * sum);
  };
  top_label(s.e.data(), S, double(max) - row[target], m.top);

  // Full calibration: every probability into its equal-width bin and octave.
  m.full_count.assign(B, 0), m.full_sum.assign(B, 0);
  m.octave_count.assign(kOctaves, 0), m.octave_sum.assign(kOctaves, 0);
  const double inv_S = 1.0 / S;
  for (size_t j = 0; j < V; ++j) {
    const double p = s.e[j] * inv_S;
    const size_t b = BinOf(p, B), o = OctaveOf(p);
    m.full_count[b] += 1, m.full_sum[b] += p;
    m.octave_count[o] += 1, m.octave_sum[o] += p;
  }
  const double p_target = s.e[target] * inv_S;  // as the loop above computed it
  m.target_bin = BinOf(p_target, B);
  m.target_octave = OctaveOf(p_target);

  // Sampling sets: the head's filters on a tempered copy.
  m.sets.resize(options.sampling.size());
  for (size_t k = 0; k < options.sampling.size(); ++k) {
    const SamplingSetting& set = options.sampling[k];
    s.z.assign(row.begin(), row.end());
    const float* e = s.e.data();
    double total = S;
    if (set.temperature != 1.0f) {
      if (!ops::DivideInPlace(s.z.data(), V, set.temperature)) {
        return InvalidArgumentError(where + ": a logit overflows at temperature " + Trimmed(set.temperature));
      }
      s.e2.resize(V);
      total = ops::ExpShifted(s.z.data(), V, ops::Max(s.z.data(), V), s.e2.data(), false).sum;
      e = s.e2.data();
    }
    const std::span<float> z(s.z);
    StatusOr<size_t> filtered = V;
    if (set.top_k > 0 && filtered.ok()) filtered = TopK(z, set.top_k);
    if (set.top_p < 1.0f && filtered.ok()) filtered = TopP(z, set.top_p);
    if (set.min_p > 0.0f && filtered.ok()) filtered = MinP(z, set.min_p);
    if (!filtered.ok()) return filtered.status();
    double mass = 0;
    size_t kept = 0;
    for (size_t j = 0; j < V; ++j) {
      if (s.z[j] == kNegInf) continue;
      mass += e[j], ++kept;
    }
    m.sets[k] = {mass / total, s.z[target] != kNegInf, kept};
  }

  // The fit split: NLL(beta) = log Σ_j exp(-beta g_j) + beta g_y, g = max - z.
  const size_t K = size_t(options.grid_points);
  m.f0.assign(K, 0), m.f1.assign(K, 0), m.f2.assign(K, 0);
  if (split == Split::kFit && !fitted) {
    std::vector<double>&s0 = s.s0, &s1 = s.s1, &s2 = s.s2;
    s0.assign(K, 0), s1.assign(K, 0), s2.assign(K, 0);
    ops::TemperatureMoments(row.data(), V, max, options.beta_step, K, s0.data(), s1.data(), s2.data());
    const double gy = double(max) - row[target];
    for (size_t k = 0; k < K; ++k) {
      const double beta = double(k + 1) * options.beta_step, mean = s1[k] / s0[k];
      m.f0[k] = std::log(s0[k]) + beta * gy;
      m.f1[k] = gy - mean;
      m.f2[k] = std::max(0.0, s2[k] / s0[k] - mean * mean);
    }
  }

  // The eval split after the fit: the same top-label measures at T.
  m.has_scaled = split == Split::kEval && fitted;
  if (m.has_scaled) {
    s.z.resize(V), s.e2.resize(V);
    const ops::LoadStats scaled =
        ops::LoadRow(row.data(), FloatType::kF32, V, float(temperature), s.z.data());
    if (scaled.has_invalid) return InvalidArgumentError(where + ": a logit overflows at the fitted temperature");
    const double St = ops::ExpShifted(s.z.data(), V, scaled.max, s.e2.data(), false).sum;
    top_label(s.e2.data(), St, double(scaled.max) - s.z[target], m.scaled);
  }
  return Status();
}

void Calibration::State::Add(const PositionMeasure& m, Split split) {
  const size_t B = size_t(options.bins);
  Accumulate(sum.top, m.top, B);
  Bin& fine_bin = fine[BinOf(m.top.confidence, kFineBins)];
  fine_bin.count += 1, fine_bin.value_sum += m.top.confidence, fine_bin.outcome_sum += m.top.correct;
  for (size_t b = 0; b < B; ++b) full_count[b] += m.full_count[b], full_sum[b] += m.full_sum[b];
  full_outcome[m.target_bin] += 1;
  for (size_t o = 0; o < kOctaves; ++o) octave_count[o] += m.octave_count[o], octave_sum[o] += m.octave_sum[o];
  octave_outcome[m.target_octave] += 1;
  for (size_t k = 0; k < m.sets.size(); ++k) {
    SamplingSetSummary& set = sum.sampling[k];
    set.positions += 1;
    set.mean_mass += m.sets[k].mass, set.coverage += m.sets[k].hit, set.mean_kept += double(m.sets[k].kept);
    Bin& b = set.bins[BinOf(m.sets[k].mass, B)];
    b.count += 1, b.value_sum += m.sets[k].mass, b.outcome_sum += m.sets[k].hit;
  }
  if (split == Split::kFit && !fitted) {
    sum.temperature.fit_positions += 1;
    for (size_t k = 0; k < f0.size(); ++k) f0[k] += m.f0[k], f1[k] += m.f1[k], f2[k] += m.f2[k];
  }
  if (m.has_scaled) {
    Accumulate(sum.temperature.before, m.top, B);
    Accumulate(sum.temperature.after, m.scaled, B);
  }
}

Calibration::Calibration(std::unique_ptr<State> state) : state_(std::move(state)) {}
Calibration::Calibration(Calibration&&) noexcept = default;
Calibration& Calibration::operator=(Calibration&&) noexcept = default;
Calibration::~Calibration() = default;

StatusOr<Calibration> Calibration::Create(size_t n_vocab, CalibrationOptions options) {
  if (n_vocab == 0) return InvalidArgumentError("calibration: the vocabulary is empty");
  if (options.bins < 1 || options.bins > 10000) {
    return InvalidArgumentError("bins " + std::to_string(options.bins) + " must be in [1, 10000]");
  }
  if (options.grid_points < 2 || options.grid_points > int(ops::kMaxTemperatureMoments)) {
    return InvalidArgumentError("temperature grid points " + std::to_string(options.grid_points) +
                                " must be in [2, " + std::to_string(ops::kMaxTemperatureMoments) + "]");
  }
  if (!(options.beta_step > 0 && std::isfinite(options.beta_step))) {
    return InvalidArgumentError("temperature grid step must be > 0");
  }
  auto state = std::make_unique<State>();
  state->n_vocab = n_vocab;
  const size_t B = size_t(options.bins), K = size_t(options.grid_points);
  state->sum.bins = options.bins;
  state->sum.n_vocab = int64_t(n_vocab);
  state->sum.top.bins = state->sum.temperature.before.bins = state->sum.temperature.after.bins = EqualWidthBins(B);
  for (const SamplingSetting& s : options.sampling) {
    SamplingSetSummary set;
    set.setting = s;
    set.bins = EqualWidthBins(B);
    state->sum.sampling.push_back(set);
  }
  state->fine = EqualWidthBins(kFineBins);
  state->full_count.assign(B, 0), state->full_sum.assign(B, 0), state->full_outcome.assign(B, 0);
  state->octave_count.assign(kOctaves, 0), state->octave_sum.assign(kOctaves, 0);
  state->octave_outcome.assign(kOctaves, 0);
  state->f0.assign(K, 0), state->f1.assign(K, 0), state->f2.assign(K, 0);
  state->options = std::move(options);
  return Calibration(std::move(state));
}

Status Calibration::AddRows(std::span<const float> logits, std::span<const int32_t> targets, Split split,
                            ThreadPool* pool, uint64_t first_row) {
  State& st = *state_;
  const size_t V = st.n_vocab, n = targets.size();
  if (logits.size() / V != n || logits.size() % V != 0) {
    return InvalidArgumentError("calibration: " + std::to_string(logits.size()) + " logits for " +
                                std::to_string(n) + " rows of " + std::to_string(V));
  }
  const size_t threads = pool ? pool->num_threads() : 1;
  while (st.scratch.size() < threads) st.scratch.push_back(std::make_unique<Scratch>());
  if (st.measures.size() < n) st.measures.resize(n);
  Status status = MeasureRows(pool, n, [&](size_t r, size_t thread) {
    return st.Measure(logits.subspan(r * V, V), targets[r], split, first_row + r, *st.scratch[thread],
                      st.measures[r]);
  });
  if (!status.ok()) return status;
  for (size_t r = 0; r < n; ++r) st.Add(st.measures[r], split);
  return Status();
}

Status Calibration::FitTemperature() {
  State& st = *state_;
  TemperatureFit& fit = st.sum.temperature;
  if (st.fitted) return FailedPreconditionError("calibration: the temperature is fitted already");
  if (fit.fit_positions == 0) return FailedPreconditionError("calibration: no position in the fit split");
  const size_t K = st.f0.size();
  const double h = st.options.beta_step;
  auto beta = [&](size_t k) { return double(k + 1) * h; };
  // dNLL/dbeta is non-decreasing (the NLL is convex in beta): find its sign change.
  double beta_fit;
  if (st.f1[0] >= 0) {
    beta_fit = beta(0), fit.at_grid_edge = st.f1[0] > 0;
  } else if (st.f1[K - 1] <= 0) {
    beta_fit = beta(K - 1), fit.at_grid_edge = st.f1[K - 1] < 0;
  } else {
    size_t k = 0;
    while (st.f1[k + 1] <= 0) ++k;
    double lo = 0, hi = h;  // offsets from beta(k); the interpolant is <= 0 at lo, > 0 at hi
    for (int it = 0; it < 200 && hi - lo > 1e-12; ++it) {
      const double mid = 0.5 * (lo + hi);
      (Hermite(st.f1[k], st.f2[k], st.f1[k + 1], st.f2[k + 1], h, mid) <= 0 ? lo : hi) = mid;
    }
    beta_fit = beta(k) + 0.5 * (lo + hi);
  }
  // The fit split's mean NLL between grid points: the cubic Hermite of the
  // NLL itself (value and slope at both ends); NaN off the grid.
  const double n = double(fit.fit_positions);
  auto nll_at = [&](double b) {
    if (b < beta(0) - 1e-12 || b > beta(K - 1) + 1e-12) return std::numeric_limits<double>::quiet_NaN();
    const size_t k = std::min(K - 2, size_t(std::max(0.0, std::floor(b / h + 1e-9) - 1)));
    return Hermite(st.f0[k], st.f1[k], st.f0[k + 1], st.f1[k + 1], h, b - beta(k)) / n;
  };
  fit.fit_nll_at_fit = nll_at(beta_fit);
  fit.fit_nll_at_1 = nll_at(1.0);
  for (size_t i = 0; i < K; ++i) {
    fit.curve_temperature.push_back(1.0 / beta(i));
    fit.curve_nll.push_back(st.f0[i] / n);
  }
  fit.temperature = 1.0 / beta_fit;
  fit.fitted = true;
  st.temperature = fit.temperature;
  st.fitted = true;
  return Status();
}

int64_t Calibration::positions() const { return state_->sum.top.positions; }

CalibrationSummary Calibration::Summary() const {
  const State& st = *state_;
  CalibrationSummary s = st.sum;
  Finish(s.top);
  Finish(s.temperature.before);
  Finish(s.temperature.after);
  // Equal-mass bins: close a bin once the running count reaches its share.
  const int64_t N = s.top.positions;
  const size_t B = size_t(s.bins);
  int64_t running = 0;
  size_t next = 1;
  Bin current;
  bool open = false;
  for (const Bin& f : st.fine) {
    if (f.count == 0) continue;
    if (!open) current = Bin{s.equal_mass.empty() ? 0.0 : s.equal_mass.back().hi, f.hi, 0, 0, 0}, open = true;
    current.hi = f.hi, current.count += f.count;
    current.value_sum += f.value_sum, current.outcome_sum += f.outcome_sum;
    running += f.count;
    if (running * int64_t(B) >= int64_t(next) * N) {
      s.equal_mass.push_back(current);
      open = false;
      while (next <= B && running * int64_t(B) >= int64_t(next) * N) ++next;
    }
  }
  if (open) s.equal_mass.push_back(current);
  if (!s.equal_mass.empty()) s.equal_mass.back().hi = 1.0;  // the bins partition [0, 1]
  s.equal_mass_errors = ErrorsOf(s.equal_mass);
  // Full calibration.
  s.full_bins = EqualWidthBins(B);
  for (size_t b = 0; b < B; ++b) {
    s.full_bins[b].count = int64_t(st.full_count[b]);
    s.full_bins[b].value_sum = st.full_sum[b], s.full_bins[b].outcome_sum = st.full_outcome[b];
  }
  s.full_errors = ErrorsOf(s.full_bins);
  s.full_octaves.resize(kOctaves);
  for (size_t o = 0; o < kOctaves; ++o) {
    Bin& b = s.full_octaves[o];
    b.hi = std::ldexp(1.0, -int(o));
    b.lo = o + 1 < kOctaves ? std::ldexp(1.0, -int(o) - 1) : 0.0;
    b.count = int64_t(st.octave_count[o]), b.value_sum = st.octave_sum[o], b.outcome_sum = st.octave_outcome[o];
  }
  for (SamplingSetSummary& set : s.sampling) {
    if (set.positions) {
      set.mean_mass /= set.positions, set.coverage /= set.positions, set.mean_kept /= set.positions;
    }
    set.errors = ErrorsOf(set.bins);
  }
  return s;
}

}  // namespace logitkit::analysis
