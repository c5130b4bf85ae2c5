// `logitkit calibrate`: how well the model's probabilities match how often
// it is right, over a corpus (or over logits saved as .npy).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "corpus.h"
#include "flags.h"
#include "logitkit/calibration.h"
#include "npy.h"
#include "reliability_svg.h"
#include "runtime.h"
#include "svg.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

using analysis::Bin;
using analysis::Calibration;
using analysis::CalibrationSummary;
using analysis::Split;

constexpr const char* kHelp = R"(usage: logitkit calibrate --corpus FILE [options]
       logitkit calibrate --logits LOGITS.npy --targets TARGETS.npy [options]

Token-level calibration of the model's next-token distribution over a corpus
(scripts/fetch-corpus writes the King James Bible): at every position, the
probabilities the model gives (T = 1) against the token that came next.

  top label    confidence = the top token's probability, correct = it came
               next: ECE (L1), RMS (L2) and MCE (max) over equal-width and
               equal-mass bins; accuracy, Brier score, NLL
  full         every probability of every position against its outcome (full
               ECE), in equal-width bins and in octaves [2^-(i+1), 2^-i)
  sampling     for each --sampling setting: the share of positions whose kept
               set (what the decode head samples from) holds the next token,
               against the set's nominal mass
  temperature  the T minimising NLL on the first --fit-fraction of positions
               (the NLL's exact slope and curvature in 1/T on a grid of 40
               temperatures from 0.25 to 10, then the root of the slope's
               cubic interpolant), and NLL, ECE and Brier before and after
               on the other positions

Bins: bin i of B covers [i/B, (i+1)/B); 1.0 falls in the last, 0 in the
first. Equal-mass bins are merged from 65,536 fine bins (edges at multiples of
2^-16). The corpus is read in pieces, tokenized, and cut into windows of --ctx
tokens; every token but the first is scored once, from the tokens before it in
its window (each window starts with BOS, or with the last token of the window
before). Memory does not grow with the corpus.

options:
  --corpus FILE       UTF-8 text
  --logits FILE       instead of a model: an N x V float32 (or float16) .npy of logits
  --targets FILE      with --logits: the N next tokens, an int32 or int64 .npy
  --ctx N             tokens per window (default 512, at most the model's context)
  --max-tokens N      read only the first N tokens of the corpus (default: all)
  --bins N            bins (default 15)
  --fit-fraction F    share of positions, the first ones, that fit T (default 0.5;
                      0: no fit, 1: fit on all, nothing left to evaluate)
  --sampling SPEC     a setting for the sampling-set check, repeatable: keys t,
                      top_k, top_p, min_p, e.g. "t=0.7,top_p=0.9" (default:
                      top_p=0.9, top_p=0.95, min_p=0.05, min_p=0.1, t=0.7,top_p=0.95)
  --count             only tokenize the corpus and print its positions and windows
                      (what a full run would score; no model run)
  --svg FILE          the reliability diagram (and the NLL curve over T)
  --json              one JSON object with every metric and every bin table
%s  --help              this text
)";

constexpr const char* kCommand = "calibrate";

// Feeds rows to the calibration, fitting T once `fit_positions` rows are in.
class Feeder {
 public:
  Feeder(Calibration& c, uint64_t fit_positions, ThreadPool* pool)
      : c_(c), fit_positions_(fit_positions), pool_(pool) {}
  Status Add(std::span<const float> logits, std::span<const int32_t> targets, size_t V) {
    while (!targets.empty()) {
      const bool fitting = added_ < fit_positions_;
      const size_t n = fitting ? std::min<uint64_t>(targets.size(), fit_positions_ - added_) : targets.size();
      if (Status s = c_.AddRows(logits.first(n * V), targets.first(n), fitting ? Split::kFit : Split::kEval, pool_,
                                added_);
          !s.ok()) {
        return s;
      }
      added_ += n;
      if (fitting && added_ == fit_positions_) {
        if (Status s = c_.FitTemperature(); !s.ok()) return s;
      }
      logits = logits.subspan(n * V), targets = targets.subspan(n);
    }
    return OkStatus();
  }
  uint64_t added() const { return added_; }

 private:
  Calibration& c_;
  uint64_t fit_positions_, added_ = 0;
  ThreadPool* pool_;
};

nlohmann::json BinsJson(const std::vector<Bin>& bins) {
  nlohmann::json o = nlohmann::json::array();
  for (const Bin& b : bins) {
    o.push_back({{"lo", b.lo},
                 {"hi", b.hi},
                 {"count", b.count},
                 {"confidence", b.confidence()},
                 {"accuracy", b.accuracy()}});
  }
  return o;
}

nlohmann::json ErrorsJson(const analysis::CalibrationErrors& e) {
  return {{"ece", e.ece}, {"rms", e.rms}, {"mce", e.mce}};
}

nlohmann::json TopJson(const analysis::TopLabelSummary& t) {
  return {{"positions", t.positions},
          {"nll", t.nll},
          {"perplexity", std::exp(t.nll)},
          {"accuracy", t.accuracy},
          {"brier", t.brier},
          {"equal_width", ErrorsJson(t.errors)},
          {"bins", BinsJson(t.bins)}};
}

nlohmann::json SummaryJson(const CalibrationSummary& s, const std::string& source, const std::string& model,
                           size_t ctx, double seconds) {
  nlohmann::json sampling = nlohmann::json::array();
  for (const analysis::SamplingSetSummary& set : s.sampling) {
    const analysis::SamplingSetting& k = set.setting;
    sampling.push_back({{"label", k.Label()},
                        {"temperature", k.temperature},
                        {"top_k", k.top_k},
                        {"top_p", k.top_p},
                        {"min_p", k.min_p},
                        {"positions", set.positions},
                        {"mean_mass", set.mean_mass},
                        {"coverage", set.coverage},
                        {"mean_kept", set.mean_kept},
                        {"errors", ErrorsJson(set.errors)},
                        {"bins", BinsJson(set.bins)}});
  }
  const analysis::TemperatureFit& t = s.temperature;
  nlohmann::json temperature = {{"fitted", t.fitted}};
  if (t.fitted) {
    nlohmann::json curve = nlohmann::json::array();
    for (size_t i = 0; i < t.curve_temperature.size(); ++i) {
      curve.push_back({{"t", t.curve_temperature[i]}, {"nll", t.curve_nll[i]}});
    }
    temperature["fit_positions"] = t.fit_positions;
    temperature["temperature"] = t.temperature;
    temperature["at_grid_edge"] = t.at_grid_edge;
    temperature["fit_nll_at_1"] = t.fit_nll_at_1;
    temperature["fit_nll_at_fit"] = t.fit_nll_at_fit;
    temperature["curve"] = std::move(curve);
    if (t.after.positions > 0) {
      temperature["before"] = TopJson(t.before);
      temperature["after"] = TopJson(t.after);
    }
  }
  return {{"source", source},
          {"model", model},
          {"ctx", ctx},
          {"n_vocab", s.n_vocab},
          {"bins", s.bins},
          {"seconds", seconds},
          {"positions_per_second", s.top.positions / std::max(seconds, 1e-9)},
          {"peak_rss_mib", PeakRssMiB()},
          {"top", TopJson(s.top)},
          {"equal_mass", ErrorsJson(s.equal_mass_errors)},
          {"equal_mass_bins", BinsJson(s.equal_mass)},
          {"full", ErrorsJson(s.full_errors)},
          {"full_bins", BinsJson(s.full_bins)},
          {"full_octaves", BinsJson(s.full_octaves)},
          {"sampling", std::move(sampling)},
          {"temperature", std::move(temperature)}};
}

void PrintText(const CalibrationSummary& s, const std::string& title) {
  std::printf("%s\n\n", title.c_str());
  std::printf("top label, T = 1: NLL %.4f (perplexity %.3f), accuracy %.4f, Brier %.4f\n", s.top.nll,
              std::exp(s.top.nll), s.top.accuracy, s.top.brier);
  auto errors = [](const char* what, const analysis::CalibrationErrors& e) {
    std::printf("  %-28s ECE %.5f  RMS %.5f  MCE %.5f\n", what, e.ece, e.rms, e.mce);
  };
  errors(("equal-width bins (" + std::to_string(s.bins) + "):").c_str(), s.top.errors);
  errors(("equal-mass bins (" + std::to_string(s.equal_mass.size()) + "):").c_str(), s.equal_mass_errors);
  // Full ECE weighs each bin by its share of all N x V probabilities: tiny, so in scientific notation.
  std::printf("  %-28s ECE %.3e  RMS %.3e  MCE %.5f\n", "full (every probability):", s.full_errors.ece,
              s.full_errors.rms, s.full_errors.mce);
  std::printf("\n  %-15s %10s %10s %10s %9s\n", "bin", "positions", "confidence", "accuracy", "gap");
  for (const Bin& b : s.top.bins) {
    if (b.count == 0) continue;
    std::printf("  [%.3f, %.3f) %10lld %10.4f %10.4f %+9.4f\n", b.lo, b.hi, static_cast<long long>(b.count),
                b.confidence(), b.accuracy(), b.accuracy() - b.confidence());
  }
  if (!s.full_octaves.empty()) {
    // Octaves down to the last one where a token came next; the rest in one line.
    std::printf("\nevery probability, by octave: how often does a token given p come next?\n");
    std::printf("  %-22s %14s %8s %11s %11s %8s\n", "p in", "probabilities", "hits", "mean p", "hit rate",
                "ratio");
    auto row = [](double lo, double hi, const Bin& b) {
      char range[48];
      std::snprintf(range, sizeof(range), "[%.2e, %.2e)", lo, hi);
      std::printf("  %-22s %14lld %8.0f %11.3e %11.3e %8.3f\n", range, static_cast<long long>(b.count),
                  b.outcome_sum, b.confidence(), b.accuracy(), b.confidence() > 0 ? b.accuracy() / b.confidence() : 0.0);
    };
    size_t last_hit = 0;
    for (size_t i = 0; i < s.full_octaves.size(); ++i) {
      if (s.full_octaves[i].outcome_sum > 0) last_hit = i;
    }
    Bin tail;
    for (size_t i = 0; i < s.full_octaves.size(); ++i) {
      const Bin& b = s.full_octaves[i];
      if (i <= last_hit) {
        if (b.count > 0) row(b.lo, b.hi, b);
        continue;
      }
      tail.count += b.count, tail.value_sum += b.value_sum, tail.outcome_sum += b.outcome_sum;
    }
    if (tail.count > 0) row(0.0, s.full_octaves[last_hit].lo, tail);
  }
  if (!s.sampling.empty()) {
    std::printf("\nsampling sets: does the kept set hold the next token as often as its mass says?\n");
    std::printf("  %-26s %10s %10s %9s %10s %9s\n", "setting", "mean mass", "coverage", "gap", "mean kept", "set ECE");
    for (const analysis::SamplingSetSummary& set : s.sampling) {
      std::printf("  %-26s %10.4f %10.4f %+9.4f %10.1f %9.4f\n", set.setting.Label().c_str(), set.mean_mass,
                  set.coverage, set.coverage - set.mean_mass, set.mean_kept, set.errors.ece);
    }
  }
  const analysis::TemperatureFit& t = s.temperature;
  if (t.fitted) {
    std::printf("\ntemperature scaling: T = %.4f%s, fitted on the first %lld positions (their NLL %.4f at T = 1, "
                "%.4f at T)\n",
                t.temperature, t.at_grid_edge ? " (the edge of the grid [0.25, 10])" : "",
                static_cast<long long>(t.fit_positions), t.fit_nll_at_1, t.fit_nll_at_fit);
    if (t.after.positions > 0) {
      std::printf("  on the other %lld positions: NLL %.4f -> %.4f, ECE %.5f -> %.5f, Brier %.4f -> %.4f\n",
                  static_cast<long long>(t.after.positions), t.before.nll, t.after.nll, t.before.errors.ece,
                  t.after.errors.ece, t.before.brier, t.after.brier);
    }
    std::printf("  NLL over T (fit split):");
    for (size_t i = 0; i < t.curve_temperature.size(); ++i) {
      const double T = t.curve_temperature[i];
      for (double show : {4.0, 2.0, 1.25, 1.0, 0.8, 0.5, 0.25}) {
        if (std::abs(T - show) < 1e-9) std::printf("  T=%g %.4f", T, t.curve_nll[i]);
      }
    }
    std::printf("\n");
  }
}

}  // namespace

int RunCalibrate(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"corpus", "logits", "targets", "ctx", "max-tokens", "bins",
                                      "fit-fraction", "sampling", "svg"};
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"json", "help", "count"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::printf(kHelp, kRuntimeFlagsHelp);
    return 0;
  }
  if (!flags->positional().empty()) {
    return Fail(kCommand, InvalidArgumentError("unexpected argument '" + flags->positional()[0] + "' (the corpus is --corpus FILE)"));
  }
  const bool from_npy = flags->Has("logits") || flags->Has("targets");
  if (from_npy && !(flags->Has("logits") && flags->Has("targets"))) {
    return Fail(kCommand, InvalidArgumentError("--logits and --targets go together"));
  }
  if (from_npy == flags->Has("corpus")) {
    return Fail(kCommand, InvalidArgumentError("give --corpus FILE, or --logits and --targets (see --help)"));
  }
  StatusOr<long long> bins = flags->GetInt("bins", 15);
  StatusOr<long long> ctx = flags->GetInt("ctx", 512);
  StatusOr<long long> max_tokens = flags->GetInt("max-tokens", 0);
  StatusOr<double> fit_fraction = flags->GetDouble("fit-fraction", 0.5);
  for (const Status& s : {bins.status(), ctx.status(), max_tokens.status(), fit_fraction.status()}) {
    if (!s.ok()) return Fail(kCommand, s);
  }
  if (*bins <= 0 || *bins > 10000) {
    return Fail(kCommand, InvalidArgumentError("--bins " + std::to_string(*bins) + " must be in [1, 10000]"));
  }
  if (!(*fit_fraction >= 0 && *fit_fraction <= 1)) {
    return Fail(kCommand, InvalidArgumentError("--fit-fraction " + flags->Get("fit-fraction", "") + " must be in [0, 1]"));
  }
  if (*max_tokens < 0) return Fail(kCommand, InvalidArgumentError("--max-tokens " + std::to_string(*max_tokens) + " must be >= 0"));
  StatusOr<long long> threads = flags->GetInt("threads", 0);
  if (!threads.ok()) return Fail(kCommand, threads.status());
  if (*threads < 0 || *threads > 256) {
    return Fail(kCommand, InvalidArgumentError("--threads " + std::to_string(*threads) + " is outside [0, 256]"));
  }
  analysis::CalibrationOptions options;
  options.bins = int(*bins);
  std::vector<std::string> specs = flags->GetAll("sampling");
  if (specs.empty()) specs = {"top_p=0.9", "top_p=0.95", "min_p=0.05", "min_p=0.1", "t=0.7,top_p=0.95"};
  for (const std::string& spec : specs) {
    StatusOr<analysis::SamplingSetting> setting = analysis::ParseSamplingSetting(spec);
    if (!setting.ok()) return Fail(kCommand, InvalidArgumentError("--sampling: " + setting.status().message()));
    options.sampling.push_back(*setting);
  }

  const auto start = std::chrono::steady_clock::now();
  std::string source, model_path;
  std::optional<Calibration> calibration;
  size_t window = 0;
  if (from_npy) {
    source = flags->Get("logits", "");
    StatusOr<NpyReader> logits = NpyReader::Open(source);
    if (!logits.ok()) return Fail(kCommand, logits.status());
    StatusOr<NpyReader> targets = NpyReader::Open(flags->Get("targets", ""));
    if (!targets.ok()) return Fail(kCommand, targets.status());
    if (logits->shape().size() != 2 || logits->shape()[1] == 0) {
      return Fail(kCommand, InvalidArgumentError("--logits: expected an N x V matrix, not shape of " +
                                       std::to_string(logits->shape().size()) + " dims"));
    }
    const size_t N = logits->shape()[0], V = logits->shape()[1];
    if (targets->shape().size() != 1 || targets->shape()[0] != N) {
      return Fail(kCommand, InvalidArgumentError("--targets: expected " + std::to_string(N) + " next tokens (one per row of --logits)"));
    }
    if (N == 0) return Fail(kCommand, InvalidArgumentError("--logits has no rows"));
    StatusOr<Calibration> c = Calibration::Create(V, options);
    if (!c.ok()) return Fail(kCommand, c.status());
    calibration.emplace(std::move(*c));
    ThreadPool pool{static_cast<size_t>(*threads)};
    const uint64_t fit = uint64_t(std::floor(*fit_fraction * double(N)));
    if (*fit_fraction > 0 && fit == 0) {
      return Fail(kCommand, InvalidArgumentError("--fit-fraction " + flags->Get("fit-fraction", "") + " of " +
                                       std::to_string(N) + " rows leaves no row to fit the temperature on"));
    }
    Feeder feeder(*calibration, fit, &pool);
    std::vector<float> rows;
    std::vector<int64_t> ids;
    std::vector<int32_t> ids32;
    constexpr size_t kRows = 64;
    Progress progress("calibrating", N);
    for (size_t r = 0; r < N; r += kRows) {
      const size_t n = std::min(kRows, N - r);
      if (Status s = logits->ReadFloats(n * V, &rows); !s.ok()) return Fail(kCommand, s.WithContext("--logits "));
      if (Status s = targets->ReadInts(n, &ids); !s.ok()) return Fail(kCommand, s.WithContext("--targets "));
      ids32.clear();
      for (size_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || ids[i] >= int64_t(V)) {
          return Fail(kCommand, OutOfRangeError("--targets: row " + std::to_string(r + i) + ": token " + std::to_string(ids[i]) +
                                      " outside [0, " + std::to_string(V) + ")"));
        }
        ids32.push_back(int32_t(ids[i]));
      }
      if (Status s = feeder.Add(rows, ids32, V); !s.ok()) return Fail(kCommand, s.WithContext("--logits: "));
      progress.Update(r + n);
    }
  } else {
    source = flags->Get("corpus", "");
    StatusOr<Runtime> runtime = LoadRuntime(*flags);
    if (!runtime.ok()) return Fail(kCommand, runtime.status());
    model_path = runtime->path;
    const size_t context = runtime->model->config().context_length, V = runtime->model->config().n_vocab;
    if (*ctx < 2 || size_t(*ctx) > context) {
      return Fail(kCommand, OutOfRangeError("--ctx " + std::to_string(*ctx) + " must be in [2, " + std::to_string(context) +
                                  "] (the model's context)"));
    }
    window = size_t(*ctx);
    StatusOr<CorpusCount> count = CountCorpus(*runtime->tokenizer, source, window, uint64_t(*max_tokens));
    if (!count.ok()) return Fail(kCommand, count.status());
    if (flags->Has("count")) {
      const nlohmann::json o = {{"positions", count->scored}, {"windows", count->windows}, {"ctx", window}};
      std::printf("%s\n", o.dump().c_str());
      return 0;
    }
    StatusOr<Calibration> c = Calibration::Create(V, options);
    if (!c.ok()) return Fail(kCommand, c.status());
    calibration.emplace(std::move(*c));
    StatusOr<CorpusReader> reader = CorpusReader::Open(source);
    if (!reader.ok()) return Fail(kCommand, reader.status());
    TokenWindows windows(*runtime->tokenizer, std::move(*reader), window, uint64_t(*max_tokens));
    Context model_context(*runtime->model, window, runtime->pool.get());
    const uint64_t fit = uint64_t(std::floor(*fit_fraction * double(count->scored)));
    if (*fit_fraction > 0 && fit == 0) {
      return Fail(kCommand, InvalidArgumentError("--fit-fraction " + flags->Get("fit-fraction", "") + " of " +
                                       std::to_string(count->scored) +
                                       " positions leaves no position to fit the temperature on"));
    }
    Feeder feeder(*calibration, fit, runtime->pool.get());
    Progress progress("calibrating (tokens)", count->scored);
    std::vector<int32_t> tokens;
    for (;;) {
      StatusOr<bool> more = windows.Next(&tokens);
      if (!more.ok()) return Fail(kCommand, more.status());
      if (!*more) break;
      model_context.Rewind(0);
      // Position t predicts token t + 1: the window's last token predicts nothing here.
      const std::span<const int32_t> inputs(tokens.data(), tokens.size() - 1);
      Status s = model_context.EvalEach(inputs, [&](size_t at, std::span<const float> logits) -> Status {
        const size_t n = logits.size() / V;
        LOGITKIT_RETURN_IF_ERROR(feeder.Add(logits, std::span<const int32_t>(tokens.data() + at + 1, n), V)
                                     .WithContext("corpus position " + std::to_string(feeder.added()) + "+, "));
        progress.Update(feeder.added());
        return OkStatus();
      });
      if (!s.ok()) return Fail(kCommand, s);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const CalibrationSummary summary = calibration->Summary();
  auto base = [](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };
  const std::string title = (model_path.empty() ? "logits " + base(source) : base(model_path) + " on " + base(source)) +
                            ": " + std::to_string(summary.top.positions) + " positions" +
                            (window ? " (windows of " + std::to_string(window) + " tokens)" : "");
  if (flags->Has("svg")) {
    if (Status s = WriteText(flags->Get("svg", ""), ReliabilitySvg(summary, title)); !s.ok()) return Fail(kCommand, s);
  }
  if (flags->Has("json")) {
    PrintJson(SummaryJson(summary, source, model_path, window, seconds));
  } else {
    PrintText(summary, title);
    std::printf("\n%.1f s, %.1f positions/s, peak memory %.0f MiB\n", seconds,
                double(summary.top.positions) / std::max(seconds, 1e-9), PeakRssMiB());
  }
  return 0;
}

}  // namespace logitkit::cli
