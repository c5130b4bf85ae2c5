// `logitkit top "PROMPT"`: the seed's table for the next token, from a real
// model: rank, token, logit, probability (one column per temperature), logprob.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "base/format.h"
#include "logitkit/head.h"
#include "runtime.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit top "PROMPT" [options]

Runs the model over PROMPT and shows the most likely next tokens: rank, token
(whitespace made visible: ␣ space, ↵ newline), logit, probability at each
temperature, and logprob (at T = 1).

options:
  -n N              tokens shown (default 10)
  --temperature T   a probability column at temperature T; repeat for several
                    (default 1); e.g. --temperature 0.5 --temperature 1 --temperature 2
  --chat            wrap the prompt in the model's chat format
  --special         special tokens written in PROMPT are those tokens (default: plain text)
  --json            machine-readable output
%s  --help            this text
)";

constexpr const char* kCommand = "top";

}  // namespace

int RunTop(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"n", "temperature"};
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"json", "chat", "special", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::printf(kHelp, kRuntimeFlagsHelp);
    return 0;
  }
  if (flags->positional().size() != 1) {
    return Fail(kCommand, InvalidArgumentError("expected one PROMPT argument (see --help)"));
  }
  StatusOr<long long> n = flags->GetInt("n", 10);
  if (!n.ok()) return Fail(kCommand, n.status());
  StatusOr<std::vector<double>> temps = flags->GetDoubles("temperature");
  if (!temps.ok()) return Fail(kCommand, temps.status());
  std::vector<double> temperatures = temps->empty() ? std::vector<double>{1.0} : *temps;
  for (double t : temperatures) {
    if (!(t > 0) || !std::isfinite(t)) {
      return Fail(kCommand, InvalidArgumentError("--temperature = " + std::to_string(t) + " must be positive and finite"));
    }
  }
  StatusOr<Runtime> runtime = LoadRuntime(*flags);
  if (!runtime.ok()) return Fail(kCommand, runtime.status());
  const size_t V = runtime->model->config().n_vocab;
  if (*n < 1 || size_t(*n) > V) {
    return Fail(kCommand, InvalidArgumentError("-n = " + std::to_string(*n) + " is outside [1, " + std::to_string(V) + "]"));
  }
  StatusOr<std::vector<int32_t>> ids = runtime->EncodePrompt(flags->positional()[0], flags->Has("chat"), flags->Has("special"));
  if (!ids.ok()) return Fail(kCommand, ids.status());
  Context context(*runtime->model, ids->size(), runtime->pool.get());
  std::vector<float> logits;
  PromptProgress progress(ids->size());
  if (Status s = context.Eval(*ids, Logits::kLast, &logits, nullptr, progress.callback()); !s.ok()) return Fail(kCommand, s);

  // Probabilities per temperature and logprobs at T = 1, through the decode head.
  std::vector<std::vector<float>> probs(temperatures.size(), std::vector<float>(V));
  for (size_t c = 0; c < temperatures.size(); ++c) {
    if (Status s = Softmax(logits, float(temperatures[c]), probs[c]); !s.ok()) return Fail(kCommand, s);
  }
  std::vector<float> logprobs(V);
  if (Status s = LogSoftmax(logits, 1.0f, logprobs); !s.ok()) return Fail(kCommand, s);
  std::vector<float> ranked = logits;
  StatusOr<size_t> kept = TopK(ranked, int32_t(*n));
  if (!kept.ok()) return Fail(kCommand, kept.status());
  std::vector<int32_t> order;
  for (size_t i = 0; i < V; ++i) {
    if (ranked[i] != -INFINITY) order.push_back(int32_t(i));
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  order.resize(std::min(order.size(), size_t(*n)));

  const tokenizer::Tokenizer& tok = *runtime->tokenizer;
  if (flags->Has("json")) {
    nlohmann::json top = nlohmann::json::array();
    for (size_t r = 0; r < order.size(); ++r) {
      const int32_t id = order[r];
      StatusOr<std::string> piece = tok.TokenToPiece(id, true);
      nlohmann::json p = nlohmann::json::array();
      for (size_t c = 0; c < temperatures.size(); ++c) p.push_back(probs[c][id]);
      top.push_back({{"rank", r + 1},
                     {"id", id},
                     {"token", tokenizer::SanitizeUtf8(piece.ok() ? *piece : "")},
                     {"logit", logits[id]},
                     {"logprob", logprobs[id]},
                     {"p", std::move(p)}});
    }
    const nlohmann::json o = {{"model", runtime->path},
                              {"prompt", flags->positional()[0]},
                              {"prompt_tokens", ids->size()},
                              {"temperatures", temperatures},
                              {"top", std::move(top)}};
    PrintJson(o);
    return 0;
  }
  std::printf("%s  (%zu prompt tokens)\n\n", flags->positional()[0].c_str(), ids->size());
  std::printf("rank  %s %9s", Pad("token", 16).c_str(), "logit");
  for (double t : temperatures) std::printf("  %10s", ("p(T=" + base::Num(t) + ")").c_str());
  std::printf("  %9s\n", "logprob");
  for (size_t r = 0; r < order.size(); ++r) {
    const int32_t id = order[r];
    StatusOr<std::string> piece = tok.TokenToPiece(id, true);
    std::printf("%4zu  %s %9.3f", r + 1, Pad(Visible(piece.ok() ? *piece : "?"), 16).c_str(), logits[id]);
    for (size_t c = 0; c < temperatures.size(); ++c) std::printf("  %10.6f", probs[c][id]);
    std::printf("  %9.4f\n", logprobs[id]);
  }
  return 0;
}

}  // namespace logitkit::cli
