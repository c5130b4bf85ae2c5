// `logitkit bench model`: prompt-processing and generation tokens/s of the
// forward pass on a model (the default one unless --model), per thread count,
// with peak memory and the memory-bandwidth bound beside each figure.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "logitkit/quant.h"
#include "ops/row_ops.h"
#include "runtime.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit bench model [options]

Times the forward pass: a prompt of --prompt-tokens tokens evaluated as one
batch (prompt tokens/s), then --gen-tokens greedy tokens one at a time
(generation tokens/s), --reps times per thread count (medians reported). Beside
them: the weight bytes each generated token reads, the machine's measured read
bandwidth, and the tokens/s that bandwidth allows (the memory bound), and the
process's peak resident memory (model, tokenizer and KV caches; measured
before the bandwidth probe's own buffer).

options:
  --threads N          a thread count to measure; repeat for several (default 1 and 2)
  --prompt-tokens N    prompt length (default 128)
  --gen-tokens N       generated tokens (default 64)
  --reps N             repetitions (default 3)
  --int8               int8 activations (llama.cpp's scheme) instead of float32
  --model FILE         a GGUF model (default: $LOGITKIT_MODEL, else SmolLM2-135M-Instruct)
  --json               machine-readable output
  --help               this text
)";

constexpr const char* kCommand = "bench model";

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Read bandwidth: a SIMD max over 256 MiB, median of 5, in GB/s.
double ReadBandwidthGBs() {
  std::vector<float> big(size_t{64} << 20, 1.0f);
  std::vector<double> seconds;
  for (int k = 0; k < 5; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile float sink = ops::Max(big.data(), big.size());
    (void)sink;
    seconds.push_back(Seconds(std::chrono::steady_clock::now() - t0));
  }
  return double(big.size()) * 4.0 / Median(seconds) / 1e9;
}

struct Row {
  size_t threads;
  double prompt_tps, gen_tps;
};

}  // namespace

int RunBenchModel(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"threads", "prompt-tokens", "gen-tokens", "reps", "model"},
                                       {"int8", "json", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!flags->positional().empty()) {
    return Fail(kCommand, InvalidArgumentError("unexpected argument '" + flags->positional()[0] + "'"));
  }
  StatusOr<long long> prompt_n = flags->GetInt("prompt-tokens", 128);
  StatusOr<long long> gen_n = flags->GetInt("gen-tokens", 64);
  StatusOr<long long> reps = flags->GetInt("reps", 3);
  for (const Status* s : {&prompt_n.status(), &gen_n.status(), &reps.status()}) {
    if (!s->ok()) return Fail(kCommand, *s);
  }
  if (*prompt_n < 1 || *prompt_n > 100000 || *gen_n < 1 || *gen_n > 100000 || *reps < 1 || *reps > 100) {
    return Fail(kCommand, InvalidArgumentError("--prompt-tokens and --gen-tokens must be in [1, 100000], --reps in [1, 100]"));
  }
  std::vector<size_t> thread_counts;
  for (const std::string& t : flags->GetAll("threads")) {
    char* end = nullptr;
    const long n = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || n < 1 || n > 256) {
      return Fail(kCommand, InvalidArgumentError("--threads = '" + t + "' is not an integer in [1, 256]"));
    }
    thread_counts.push_back(size_t(n));
  }
  if (thread_counts.empty()) thread_counts = {1, 2};

  // The runtime's own pool (one thread) is unused: each measurement makes its own.
  StatusOr<Runtime> runtime = LoadRuntime(*Flags::Parse({"--threads", "1", "--model", flags->Get("model", "")},
                                                        kRuntimeFlags, {}));
  if (!runtime.ok()) return Fail(kCommand, runtime.status());
  const Model& model = *runtime->model;
  const size_t V = model.config().n_vocab;
  if (size_t(*prompt_n + *gen_n) > model.config().context_length) {
    return Fail(kCommand, InvalidArgumentError("--prompt-tokens + --gen-tokens exceed the model's context of " +
                                     std::to_string(model.config().context_length)));
  }
  // A fixed English prompt, repeated to length.
  StatusOr<std::vector<int32_t>> text = runtime->tokenizer->Encode(
      "The capital of France is Paris. Rivers, mountains and cities shape the history of every country, "
      "and a language model has read about most of them. ");
  if (!text.ok()) return Fail(kCommand, text.status());
  std::vector<int32_t> prompt;
  while (prompt.size() < size_t(*prompt_n)) prompt.push_back((*text)[prompt.size() % text->size()]);
  const Activations activations = flags->Has("int8") ? Activations::kInt8 : Activations::kFloat32;

  std::vector<Row> rows;
  for (size_t threads : thread_counts) {
    ThreadPool pool(threads);
    std::vector<double> prompt_s, gen_s;
    for (long long r = 0; r < *reps; ++r) {
      Context context(model, prompt.size() + size_t(*gen_n), &pool, activations);
      std::vector<float> logits;
      const auto t0 = std::chrono::steady_clock::now();
      if (Status s = context.Eval(prompt, Logits::kLast, &logits); !s.ok()) return Fail(kCommand, s);
      const auto t1 = std::chrono::steady_clock::now();
      for (long long g = 0; g < *gen_n; ++g) {
        const int32_t next = int32_t(ops::ArgMax(logits.data(), V));
        if (Status s = context.Eval(std::span<const int32_t>(&next, 1), Logits::kLast, &logits); !s.ok()) {
          return Fail(kCommand, s);
        }
      }
      const auto t2 = std::chrono::steady_clock::now();
      prompt_s.push_back(Seconds(t1 - t0));
      gen_s.push_back(Seconds(t2 - t1));
    }
    rows.push_back({threads, double(prompt.size()) / Median(prompt_s), double(*gen_n) / Median(gen_s)});
  }
  // Peak memory of the model and the contexts, read before the bandwidth
  // probe allocates its own 256 MiB.
  const double peak_mib = PeakRssMiB();
  const double bytes_per_token = model.weight_bytes_per_token();
  const double bandwidth = ReadBandwidthGBs();
  const double bound_tps = bandwidth * 1e9 / bytes_per_token;

  if (flags->Has("json")) {
    nlohmann::json results = nlohmann::json::array();
    for (const Row& row : rows) {
      results.push_back({{"threads", row.threads},
                         {"prompt_tokens_per_s", row.prompt_tps},
                         {"gen_tokens_per_s", row.gen_tps}});
    }
    const nlohmann::json o = {{"model", runtime->path},
                              {"activations", activations == Activations::kInt8 ? "int8" : "float32"},
                              {"kernel_target", quant::TensorKernelTarget()},
                              {"prompt_tokens", prompt.size()},
                              {"gen_tokens", *gen_n},
                              {"reps", *reps},
                              {"results", std::move(results)},
                              {"weight_bytes_per_token", bytes_per_token},
                              {"read_bandwidth_gb_s", bandwidth},
                              {"memory_bound_tokens_per_s", bound_tps},
                              {"peak_rss_mib", peak_mib}};
    PrintJson(o);
    return 0;
  }
  std::printf("%s (%s activations, %s kernels)\n", runtime->path.c_str(),
              activations == Activations::kInt8 ? "int8" : "float32", quant::TensorKernelTarget());
  std::printf("prompt %zu tokens, %lld generated, median of %lld\n\n", prompt.size(), *gen_n, *reps);
  std::printf("threads  prompt tok/s  generation tok/s  of the memory bound\n");
  for (const Row& r : rows) {
    std::printf("%7zu  %12.1f  %16.1f  %18.0f%%\n", r.threads, r.prompt_tps, r.gen_tps, 100.0 * r.gen_tps / bound_tps);
  }
  std::printf("\nweights read per generated token: %.1f MB; read bandwidth %.1f GB/s; memory bound %.0f tok/s\n",
              bytes_per_token / 1e6, bandwidth, bound_tps);
  std::printf("peak resident memory: %.0f MiB\n", peak_mib);
  return 0;
}

}  // namespace logitkit::cli
