// `logitkit demo`: the seed's example row, through the decode head.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/format.h"
#include "commands.h"
#include "flags.h"
#include "logitkit/head.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit demo [options]

The seed's "The capital of France is ___" logits, turned into probabilities at
several temperatures, filtered with top-p, and sampled with a fixed seed.

options:
  --temperature T   a temperature column; repeat for several (default 0.5 1 2);
                    0 is greedy
  --top-p P         nucleus mass for the filtered column (default 0.9)
  --seed N          seed of the sampler (default 42)
  --draws N         draws per temperature for the sample counts (default 1000)
  --json            machine-readable output
  --help            this text
)";

// The seed's table: tokens (with the leading space a real tokenizer keeps) and logits.
struct SeedToken {
  const char* text;
  float logit;
};
constexpr SeedToken kRow[] = {{" Paris", 12.4f}, {" France", 8.1f}, {" Lyon", 6.2f},
                              {" a", 2.1f},      {" the", 1.8f},    {" dog", -5.2f}};
constexpr size_t kVocab = sizeof(kRow) / sizeof(kRow[0]);

constexpr const char* kCommand = "demo";

}  // namespace

int RunDemo(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"temperature", "top-p", "seed", "draws"},
                                       {"json", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!flags->positional().empty()) {
    return Fail(kCommand, InvalidArgumentError("unexpected argument '" + flags->positional()[0] + "'"));
  }
  StatusOr<std::vector<double>> temps = flags->GetDoubles("temperature");
  StatusOr<double> top_p = flags->GetDouble("top-p", 0.9);
  StatusOr<long long> seed = flags->GetInt("seed", 42);
  StatusOr<long long> draws = flags->GetInt("draws", 1000);
  for (const Status* s : {&temps.status(), &top_p.status(), &seed.status(), &draws.status()}) {
    if (!s->ok()) return Fail(kCommand, *s);
  }
  std::vector<double> temperatures = temps->empty() ? std::vector<double>{0.5, 1, 2} : *temps;
  if (*draws < 1 || *draws > 100000000) {
    return Fail(kCommand, InvalidArgumentError("--draws = " + std::to_string(*draws) +
                                     " must be in [1, 1e8]"));
  }

  std::vector<float> logits;
  for (const SeedToken& t : kRow) logits.push_back(t.logit);
  // One probability column per temperature.
  std::vector<std::vector<float>> probs(temperatures.size(), std::vector<float>(kVocab));
  for (size_t c = 0; c < temperatures.size(); ++c) {
    if (temperatures[c] == 0) {  // the limit T -> 0: all mass on the argmax (greedy)
      probs[c][0] = 1.0f;        // kRow is in rank order
      continue;
    }
    Status s = Softmax(logits, static_cast<float>(temperatures[c]), probs[c]);
    if (!s.ok()) return Fail(kCommand, s.WithContext("--temperature " + base::Num(temperatures[c]) + ": "));
  }
  std::vector<float> logprobs(kVocab);
  if (Status s = LogSoftmax(logits, 1.0f, logprobs); !s.ok()) return Fail(kCommand, s);
  // The top-p set at T = 1, and seeded samples at each temperature.
  std::vector<float> nucleus = logits;
  StatusOr<size_t> kept = TopP(nucleus, static_cast<float>(*top_p));
  if (!kept.ok()) return Fail(kCommand, kept.status().WithContext("--top-p: "));
  DecodeHead head;
  std::vector<std::vector<long long>> counts(temperatures.size(), std::vector<long long>(kVocab));
  std::vector<int32_t> first_draw(temperatures.size());
  for (size_t c = 0; c < temperatures.size(); ++c) {
    SamplerParams p;
    p.temperature = static_cast<float>(temperatures[c]);
    for (long long i = 0; i < *draws; ++i) {
      RowState state;
      state.seed = static_cast<uint64_t>(*seed);
      state.step = static_cast<uint64_t>(i);
      const DecodeResult r = head.Decode(logits, p, state);
      if (!r.status.ok()) return Fail(kCommand, r.status);
      ++counts[c][r.token];
      if (i == 0) first_draw[c] = r.token;
    }
  }

  if (flags->Has("json")) {
    nlohmann::json tokens = nlohmann::json::array();
    for (size_t i = 0; i < kVocab; ++i) {
      nlohmann::json token_probs = nlohmann::json::array(), token_counts = nlohmann::json::array();
      for (size_t c = 0; c < temperatures.size(); ++c) {
        token_probs.push_back(probs[c][i]);
        token_counts.push_back(counts[c][i]);
      }
      tokens.push_back({{"token", kRow[i].text},
                        {"logit", kRow[i].logit},
                        {"logprob", logprobs[i]},
                        {"in_top_p", nucleus[i] != -INFINITY},
                        {"probs", std::move(token_probs)},
                        {"counts", std::move(token_counts)}});
    }
    nlohmann::json first_sample = nlohmann::json::array();
    for (int32_t token : first_draw) first_sample.push_back(kRow[token].text);
    const nlohmann::json out = {{"prompt", "The capital of France is"},
                                {"temperatures", temperatures},
                                {"seed", *seed},
                                {"draws", *draws},
                                {"top_p", *top_p},
                                {"tokens", std::move(tokens)},
                                {"first_sample", std::move(first_sample)}};
    PrintJson(out);
    return 0;
  }

  std::printf("\"The capital of France is ___\": the seed's logits through the decode head\n\n");
  std::printf("rank  token     logit  logprob(T=1)");
  for (double t : temperatures) {
    char head[32];
    std::snprintf(head, sizeof(head), "p(T=%g)", t);
    std::printf("  %10s", head);
  }
  std::printf("  top-p %g\n", *top_p);
  for (size_t i = 0; i < kVocab; ++i) {
    std::printf("%4zu  %s%6.2f  %12.4f", i + 1, Pad(Visible(kRow[i].text), 8).c_str(),
                kRow[i].logit, logprobs[i]);
    for (size_t c = 0; c < temperatures.size(); ++c) std::printf("  %10.3e", probs[c][i]);
    std::printf("  %s\n", nucleus[i] != -INFINITY ? "kept" : "-");
  }
  std::printf("\nSeeded samples (seed %lld, %lld draws per temperature): how often each token came up\n",
              *seed, *draws);
  std::printf("%s", Pad("token", 8).c_str());
  for (double t : temperatures) {
    char head[32];
    std::snprintf(head, sizeof(head), "T=%g", t);
    std::printf("  %8s", head);
  }
  std::printf("\n");
  for (size_t i = 0; i < kVocab; ++i) {
    std::printf("%s", Pad(Visible(kRow[i].text), 8).c_str());
    for (size_t c = 0; c < temperatures.size(); ++c) std::printf("  %8lld", counts[c][i]);
    std::printf("\n");
  }
  std::printf("\nNext token (seed %lld, step 0):", *seed);
  for (size_t c = 0; c < temperatures.size(); ++c) {
    std::printf("  T=%g -> %s", temperatures[c], Visible(kRow[first_draw[c]].text).c_str());
  }
  std::printf("\nLower T sharpens the distribution towards ␣Paris; higher T flattens it.\n");
  return 0;
}

}  // namespace logitkit::cli
