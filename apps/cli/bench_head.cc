// `logitkit bench head`: the decode head's benchmark matrix, the physical
// yardsticks (one SIMD exp pass, memory bandwidth) and the target ratios, all
// measured in one run. Medians of several repetitions; each repetition runs
// for at least --min-time-ms.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "base/format.h"
#include "head/synthetic.h"
#include "logitkit/head.h"
#include "logitkit/thread_pool.h"
#include "ops/row_ops.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit bench head [options]

Times the decode head on synthetic rows: every vocabulary size, batch size,
distribution and setting of the matrix below, plus the yardsticks (one SIMD exp
pass over the row, memory bandwidth) and the target ratios, in one run.

  vocab      32000 49152 50257 128256 151936 262144
  batch      1 16 64 (one thread; batch 64 also on --threads threads)
  dist       peaked (like a real model), normal σ=1 (flat), normal σ=5
  settings   greedy; T=1; top-k 50; top-p 0.9; llama.cpp default chain
             (top-k 40, top-p 0.95, min-p 0.05, T 0.8); min-p 0.1;
             top-p 0.99 with top-k off; top-20 logprobs

options:
  --vocab V        only this vocabulary size (repeatable)
  --batch B        only this batch size (repeatable)
  --quick          V = 128256 and batch 1 only (the targets' cases)
  --threads N      threads for the parallel batch case (default 2)
  --reps N         repetitions per case, median reported (default 5)
  --min-time-ms T  minimum time per repetition (default 20)
  --json           machine-readable output
  --help           this text
)";

using Clock = std::chrono::steady_clock;

struct Setting {
  const char* name;
  SamplerParams params;
};

std::vector<Setting> Settings() {
  std::vector<Setting> s;
  SamplerParams p;
  p.temperature = 0;
  s.push_back({"greedy", p});
  s.push_back({"T=1", SamplerParams{}});
  p = SamplerParams{};
  p.top_k = 50;
  s.push_back({"top-k 50", p});
  p = SamplerParams{};
  p.top_p = 0.9f;
  s.push_back({"top-p 0.9", p});
  p = SamplerParams{};  // llama.cpp's default chain, in its order (temperature last)
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.temperature = 0.8f;
  p.order = {Stage::kTopK, Stage::kTopP, Stage::kMinP, Stage::kTemperature};
  s.push_back({"llama.cpp chain", p});
  p = SamplerParams{};
  p.min_p = 0.1f;
  s.push_back({"min-p 0.1", p});
  p = SamplerParams{};
  p.top_p = 0.99f;
  s.push_back({"top-p 0.99", p});
  p = SamplerParams{};
  p.top_logprobs = 20;
  p.outputs = kOutputRawLogprob | kOutputLogprob;
  s.push_back({"top-20 logprobs", p});
  return s;
}

struct Dist {
  const char* name;
  head::RowKind kind;
};
constexpr Dist kDists[] = {{"peaked", head::RowKind::kPeaked},
                           {"normal1", head::RowKind::kNormal1},
                           {"normal5", head::RowKind::kNormal5}};

// Median seconds per call of fn, over `reps` repetitions of >= min_time each.
double MedianSeconds(const std::function<void()>& fn, int reps, double min_time) {
  fn();  // warm-up: caches, page faults, scratch buffers
  std::vector<double> per_call;
  for (int r = 0; r < reps; ++r) {
    size_t calls = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      fn();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_time);
    per_call.push_back(elapsed / calls);
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

std::string CpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

struct Case {
  size_t vocab, batch, threads;
  std::string dist, setting;
  double us_per_row;
};

constexpr const char* kCommand = "bench head";

}  // namespace

int RunBenchHead(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"vocab", "batch", "threads", "reps", "min-time-ms"},
                                       {"quick", "json", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  StatusOr<long long> threads = flags->GetInt("threads", 2);
  StatusOr<long long> reps = flags->GetInt("reps", 5);
  StatusOr<double> min_ms = flags->GetDouble("min-time-ms", 20);
  for (const Status* s : {&threads.status(), &reps.status(), &min_ms.status()}) {
    if (!s->ok()) return Fail(kCommand, *s);
  }
  if (*threads < 1 || *threads > 256) {
    return Fail(kCommand, InvalidArgumentError("--threads " + std::to_string(*threads) + " is outside [1, 256]"));
  }
  if (*reps < 1 || *reps > 1000) {
    return Fail(kCommand, InvalidArgumentError("--reps " + std::to_string(*reps) + " is outside [1, 1000]"));
  }
  if (!(*min_ms > 0 && *min_ms <= 10000)) {
    return Fail(kCommand, InvalidArgumentError("--min-time-ms " + base::Num(*min_ms) +
                                     " is outside (0, 10000]"));
  }
  std::vector<size_t> vocabs = {32000, 49152, 50257, 128256, 151936, 262144};
  std::vector<size_t> batches = {1, 16, 64};
  if (flags->Has("quick")) vocabs = {128256}, batches = {1};
  // Integer lists, each value range-checked before it is used.
  auto sizes = [&](const char* name, long long max, std::vector<size_t>& out) -> Status {
    const std::vector<std::string> texts = flags->GetAll(name);
    if (texts.empty()) return OkStatus();
    out.clear();
    for (const std::string& text : texts) {
      StatusOr<Flags> one = Flags::Parse({"--" + std::string(name), text}, {name}, {});
      StatusOr<long long> v = one.ok() ? one->GetInt(name, 0) : StatusOr<long long>(one.status());
      if (!v.ok()) return v.status();
      if (*v < 1 || *v > max) {
        return InvalidArgumentError("--" + std::string(name) + " " + text + " is outside [1, " +
                                    std::to_string(max) + "]");
      }
      out.push_back(static_cast<size_t>(*v));
    }
    return OkStatus();
  };
  if (Status st = sizes("vocab", 1 << 24, vocabs); !st.ok()) return Fail(kCommand, st);
  if (Status st = sizes("batch", 4096, batches); !st.ok()) return Fail(kCommand, st);
  const double min_time = *min_ms / 1000.0;
  const bool json = flags->Has("json");
  const bool progress = !json && isatty(fileno(stderr));

  const std::vector<Setting> settings = Settings();
  std::vector<Case> cases;
  ThreadPool one(1), many(static_cast<size_t>(*threads));
  DecodeHead head1(&one), head_many(&many);
  std::mt19937_64 rng(2024);
  size_t done = 0;
  const size_t total = vocabs.size() * batches.size() * std::size(kDists) * settings.size();
  for (size_t vocab : vocabs) {
    for (size_t batch : batches) {
      for (const Dist& dist : kDists) {
        std::vector<float> logits;
        logits.reserve(batch * vocab);
        for (size_t r = 0; r < batch; ++r) {
          const std::vector<float> z = head::RandomRow(rng, vocab, dist.kind);
          logits.insert(logits.end(), z.begin(), z.end());
        }
        std::vector<RowState> states(batch);
        for (size_t r = 0; r < batch; ++r) states[r].stream = r;
        std::vector<DecodeResult> results;
        for (const Setting& setting : settings) {
          for (int parallel = 0; parallel < (batch == 64 && *threads > 1 ? 2 : 1); ++parallel) {
            DecodeHead& head = parallel ? head_many : head1;
            uint64_t step = 0;
            const double seconds = MedianSeconds(
                [&] {
                  for (RowState& s : states) s.step = step;
                  ++step;
                  Status st = head.DecodeBatch(LogitsBatch::F32(logits, batch, vocab),
                                               std::span(&setting.params, 1), states, results);
                  if (!st.ok() || !results[0].status.ok()) std::abort();  // a bug: inputs are valid
                },
                static_cast<int>(*reps), min_time);
            cases.push_back({vocab, batch, parallel ? static_cast<size_t>(*threads) : 1, dist.name,
                             setting.name, seconds / batch * 1e6});
          }
          if (progress) {
            std::fprintf(stderr, "\r  %zu/%zu cases", ++done, total);
            std::fflush(stderr);
          }
        }
      }
    }
  }
  if (progress) std::fprintf(stderr, "\r%*s\r", 30, "");

  // Yardsticks and target ratios at V = 128256, row in cache. The cases of each
  // ratio run interleaved, repetition by repetition, and the ratio reported is
  // the median of the per-repetition ratios: drift on a shared machine hits
  // both sides of a ratio alike.
  const size_t kV = 128256;
  std::vector<float> flat = head::RandomRow(rng, kV, head::RowKind::kNormal1), out(kV);
  std::vector<float> flat_shifted = flat;  // the exp pass's domain: x - max <= 0
  const float flat_max = *std::max_element(flat.begin(), flat.end());
  for (float& v : flat_shifted) v -= flat_max;
  std::vector<float> peaked = head::RandomRow(rng, kV, head::RowKind::kPeaked);
  std::vector<float> peaked64;
  for (int r = 0; r < 64; ++r) {
    const std::vector<float> z = head::RandomRow(rng, kV, head::RowKind::kPeaked);
    peaked64.insert(peaked64.end(), z.begin(), z.end());
  }
  std::vector<RowState> states64(64);
  for (size_t r = 0; r < 64; ++r) states64[r].stream = r;
  std::vector<DecodeResult> results;
  auto decode = [&](DecodeHead& head, const std::vector<float>& logits, size_t batch,
                    const SamplerParams& params, std::vector<RowState>& states) {
    return [&, batch] {
      for (RowState& s : states) ++s.step;
      if (!head.DecodeBatch(LogitsBatch::F32(logits, batch, kV), std::span(&params, 1), states,
                            results).ok()) {
        std::abort();  // a bug: the inputs are valid
      }
    };
  };
  std::vector<RowState> state1(1);
  const SamplerParams& chain_params = settings[4].params;  // llama.cpp chain
  const SamplerParams& top_p99_params = settings[6].params;
  const SamplerParams& t1_params = settings[1].params;
  const std::vector<std::function<void()>> yard = {
      [&] { ops::Exp(flat_shifted.data(), kV, out.data()); },                  // 0
      [&] { (void)Softmax(flat, 1.0f, out); },                                   // 1
      decode(head1, peaked, 1, chain_params, state1),                            // 2
      decode(head1, flat, 1, top_p99_params, state1),                            // 3
      decode(head1, peaked64, 64, t1_params, states64),                          // 4
      decode(head_many, peaked64, 64, t1_params, states64),                      // 5
      decode(head1, peaked64, 64, chain_params, states64),                       // 6
      decode(head_many, peaked64, 64, chain_params, states64),                   // 7
  };
  const int yard_reps = std::max<int>(7, static_cast<int>(*reps));
  std::vector<std::vector<double>> times(yard.size());
  for (auto& f : yard) f();  // warm-up
  for (int r = 0; r < yard_reps; ++r) {
    for (size_t i = 0; i < yard.size(); ++i) times[i].push_back(MedianSeconds(yard[i], 1, min_time));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto ratio = [&](size_t a, size_t b) {
    std::vector<double> r;
    for (int k = 0; k < yard_reps; ++k) r.push_back(times[a][k] / times[b][k]);
    return median(r);
  };
  const double exp_us = median(times[0]) * 1e6, softmax_us = median(times[1]) * 1e6;

  std::vector<float> big(64u << 20, 1.0f);  // 256 MiB: far beyond the caches
  volatile float sink = 0;
  const double read_s = MedianSeconds(
      [&] {
        float acc = 0;
        for (size_t i = 0; i < big.size(); i += 16) acc += big[i];  // one float per cache line
        sink = acc;
      },
      3, min_time);
  (void)sink;
  const double bandwidth_gbs = big.size() * 4.0 / read_s / 1e9;

  struct Ratio {
    std::string name;
    double value;
    const char* target;
    bool met;
  };
  const std::string threads_text = std::to_string(*threads);
  std::vector<Ratio> ratios = {
      {"softmax / one SIMD exp pass", ratio(1, 0), "<= 1.5", ratio(1, 0) <= 1.5},
      {"llama.cpp chain (peaked row) / softmax", ratio(2, 1), "<= 2", ratio(2, 1) <= 2},
      {"top-p 0.99, top-k off (flat row) / softmax", ratio(3, 1), "<= 4", ratio(3, 1) <= 4},
      {"batch 64 T=1: " + threads_text + "-thread / 1-thread throughput", ratio(4, 5), ">= 1.7",
       ratio(4, 5) >= 1.7},
      {"batch 64 llama.cpp chain: " + threads_text + "-thread / 1-thread throughput", ratio(6, 7),
       ">= 1.7", ratio(6, 7) >= 1.7},
  };

  const std::string cpu = CpuName();
  if (json) {
    nlohmann::json ratios_json = nlohmann::json::array();
    for (const Ratio& r : ratios) {
      ratios_json.push_back({{"name", r.name}, {"value", r.value}, {"target", r.target}, {"met", r.met}});
    }
    nlohmann::json cases_json = nlohmann::json::array();
    for (const Case& c : cases) {
      cases_json.push_back({{"vocab", c.vocab},
                            {"batch", c.batch},
                            {"threads", c.threads},
                            {"dist", c.dist},
                            {"setting", c.setting},
                            {"us_per_row", c.us_per_row}});
    }
    const nlohmann::json o = {
        {"machine", {{"cpu", cpu}, {"simd_target", SimdTargetName()}, {"compiler", __VERSION__}}},
        {"yardsticks",
         {{"exp_pass_us", exp_us},
          {"softmax_us", softmax_us},
          {"bandwidth_gb_s", bandwidth_gbs},
          {"row_from_dram_us", kV * 4.0 / bandwidth_gbs / 1e3}}},
        {"ratios", std::move(ratios_json)},
        {"cases", std::move(cases_json)}};
    PrintJson(o);
    return 0;
  }
  std::printf("machine: %s, SIMD target %s, %s\n", cpu.c_str(), SimdTargetName(), __VERSION__);
  std::printf("yardsticks (V = 128256, row in cache): exp pass %.1f us, softmax %.1f us; "
              "memory read %.1f GB/s (a row from DRAM: %.1f us)\n\n",
              exp_us, softmax_us, bandwidth_gbs, kV * 4.0 / bandwidth_gbs / 1e3);
  std::printf("%8s %6s %8s %-9s %-17s %12s %10s\n", "vocab", "batch", "threads", "dist", "setting",
              "us/row", "ns/token");
  for (const Case& c : cases) {
    std::printf("%8zu %6zu %8zu %-9s %-17s %12.2f %10.3f\n", c.vocab, c.batch, c.threads,
                c.dist.c_str(), c.setting.c_str(), c.us_per_row, c.us_per_row * 1e3 / c.vocab);
  }
  std::printf("\ntargets (V = 128256, one thread unless stated; cases interleaved, median of %d "
              "per-repetition ratios):\n", yard_reps);
  for (const Ratio& r : ratios) {
    std::printf("  %-58s %7.2f  target %-7s %s\n", r.name.c_str(), r.value, r.target,
                r.met ? "met" : "MISSED");
  }
  return 0;
}

int RunBench(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs("usage: logitkit bench head|model [options]   (logitkit bench head --help, bench model --help)\n",
               args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "head") return RunBenchHead(std::vector<std::string>(args.begin() + 1, args.end()));
  if (args[0] == "model") return RunBenchModel(std::vector<std::string>(args.begin() + 1, args.end()));
  return Fail("bench", InvalidArgumentError("unknown benchmark '" + args[0] + "' (available: head, model)"));
}

}  // namespace logitkit::cli
