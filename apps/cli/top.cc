// `logitkit top "PROMPT"`: the seed's table for the next token, from a real
// model: rank, token, logit, logprob (T = 1), and for each temperature the
// probability, the cumulative probability and, when filters are given, what
// the decode head keeps of it, renormalised.
#include <cmath>
#include <cstdio>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/format.h"
#include "commands.h"
#include "flags.h"
#include "logitkit/generate.h"
#include "logitkit/head.h"
#include "runtime.h"
#include "sampling_flags.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit top "PROMPT" [options]

Runs the model over PROMPT and shows the most likely next tokens: rank, token
(whitespace made visible: ␣ space, ↵ newline), logit and logprob (T = 1), then
for each temperature T the probability p, the cumulative probability, and,
when a filter or processor is given, the probability after the decode head's
filters, renormalised over the tokens it keeps ("-": cut off). Under the table,
per temperature: the entropy, and the kept set's size, mass and entropy.

options:
  -n N              tokens shown (default 10)
  --temperature T   a column at temperature T; repeat for several (default 1);
                    0 is greedy (all mass on the most likely token)
  --chat            wrap the prompt in the model's chat format
  --special         special tokens written in PROMPT are those tokens (default: plain text)
  --json            machine-readable output
%s  --help            this text

filters and processors, applied by the decode head at each temperature (the
order and semantics of `logitkit generate`, docs/decode-head.md):
%s)";

constexpr const char* kCommand = "top";

// One temperature column over the whole row of V logits.
struct Column {
  double temperature = 1;
  std::vector<float> p;         // softmax(z / T); T = 0: all mass on the argmax
  float entropy = 0;            // of p, nats
  DecodeResult filtered;        // the head at T with the filters: n_kept, entropy, top (raw order)
  double kept_mass = 1;         // Σ p over the kept set
};

// Fills `column` for temperature T: p through the head's Softmax, its entropy
// through the head with no filter, and the filtered distribution through the
// head with `filters` (top = the n most likely raw tokens with both logprobs).
Status FillColumn(DecodeHead& head, std::span<const float> logits, const SamplerParams& filters,
                  size_t n, Column* column) {
  const size_t V = logits.size();
  const float T = float(column->temperature);
  SamplerParams plain;
  plain.temperature = T;
  plain.outputs = kOutputEntropy;
  plain.top_logprobs = 1;  // the argmax (lowest id on ties), for T = 0's one-hot
  const DecodeResult unfiltered = head.Decode(logits, plain, RowState{});
  if (!unfiltered.status.ok()) return unfiltered.status;
  column->entropy = unfiltered.entropy;
  column->p.assign(V, 0.0f);
  if (T == 0) {
    column->p[unfiltered.top[0].token] = 1.0f;
  } else if (Status s = Softmax(logits, T, column->p); !s.ok()) {
    return s;
  }
  SamplerParams params = filters;
  params.temperature = T;
  params.outputs = kOutputEntropy | kOutputKept;
  params.top_logprobs = int32_t(n);
  params.alternatives_from = Alternatives::kRaw;
  column->filtered = head.Decode(logits, params, RowState{});
  if (!column->filtered.status.ok()) return column->filtered.status;
  column->kept_mass = 1;
  if (size_t(column->filtered.n_kept) < V) {  // the kept set itself: the final distribution's tokens
    params.outputs = kOutputNone;
    params.top_logprobs = column->filtered.n_kept;
    params.alternatives_from = Alternatives::kFinal;
    const DecodeResult kept = head.Decode(logits, params, RowState{});
    if (!kept.status.ok()) return kept.status;
    double mass = 0;
    for (const TokenLogprob& t : kept.top) mass += column->p[t.token];
    column->kept_mass = mass;
  }
  return OkStatus();
}

// "-" for a token the filters cut off, else its renormalised probability.
std::string KeptText(float logprob) {
  if (logprob == -INFINITY) return "-";
  char text[32];
  std::snprintf(text, sizeof(text), "%.4f", std::exp(double(logprob)));
  return text;
}

}  // namespace

int RunTop(const std::vector<std::string>& args) {
  std::set<std::string> with_value = SamplingFlagNames();
  with_value.insert({"n", "temperature"});
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"json", "chat", "special", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::printf(kHelp, kRuntimeFlagsHelp, SamplingFlagsHelp().c_str());
    return 0;
  }
  if (flags->positional().size() != 1) {
    return Fail(kCommand, InvalidArgumentError("expected one PROMPT argument (see --help)"));
  }
  StatusOr<long long> n = flags->GetInt("n", 10);
  if (!n.ok()) return Fail(kCommand, n.status());
  StatusOr<std::vector<double>> temps = flags->GetDoubles("temperature");
  if (!temps.ok()) return Fail(kCommand, temps.status());
  const std::vector<double> temperatures = temps->empty() ? std::vector<double>{1.0} : *temps;
  // The filters and processors; --temperature is read per column below.
  SamplerParams filters;
  if (Status s = ReadSamplingFlags(*flags, &filters); !s.ok()) return Fail(kCommand, s);
  for (double t : temperatures) {
    if (!(t >= 0) || !std::isfinite(t)) {
      return Fail(kCommand, InvalidArgumentError("--temperature = " + base::Num(t) + " must be finite and >= 0 (0 = greedy)"));
    }
  }
  bool filtering = false;  // any sampling flag besides --temperature
  for (const std::string& name : SamplingFlagNames()) filtering |= name != "temperature" && flags->Has(name);

  StatusOr<Runtime> runtime = LoadRuntime(*flags);
  if (!runtime.ok()) return Fail(kCommand, runtime.status());
  const size_t V = runtime->model->config().n_vocab;
  if (*n < 1 || size_t(*n) > V) {
    return Fail(kCommand, InvalidArgumentError("-n = " + std::to_string(*n) + " is outside [1, " + std::to_string(V) + "]"));
  }
  filters.eos_tokens = EndOfGenerationTokens(*runtime->tokenizer);  // for --min-tokens
  StatusOr<std::vector<int32_t>> ids = runtime->EncodePrompt(flags->positional()[0], flags->Has("chat"), flags->Has("special"));
  if (!ids.ok()) return Fail(kCommand, ids.status());
  Context context(*runtime->model, ids->size(), runtime->pool.get());
  std::vector<float> logits;
  PromptProgress progress(ids->size());
  if (Status s = context.Eval(*ids, Logits::kLast, &logits, nullptr, progress.callback()); !s.ok()) return Fail(kCommand, s);

  DecodeHead head(runtime->pool.get());
  std::vector<Column> columns(temperatures.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    columns[c].temperature = temperatures[c];
    if (Status s = FillColumn(head, logits, filters, size_t(*n), &columns[c]); !s.ok()) {
      return Fail(kCommand, s.WithContext("--temperature " + base::Num(temperatures[c]) + ": "));
    }
  }
  std::vector<float> logprobs(V);
  if (Status s = LogSoftmax(logits, 1.0f, logprobs); !s.ok()) return Fail(kCommand, s);
  // The rows: the head's raw alternatives, in rank order (by logit, ties by id).
  const std::vector<TokenLogprob>& rows = columns[0].filtered.top;
  // cumulative[c][r]: Σ p over rows 0..r at temperature c, in double.
  std::vector<std::vector<double>> cumulative(columns.size(), std::vector<double>(rows.size()));
  for (size_t c = 0; c < columns.size(); ++c) {
    double sum = 0;
    for (size_t r = 0; r < rows.size(); ++r) cumulative[c][r] = sum += columns[c].p[rows[r].token];
  }

  const tokenizer::Tokenizer& tok = *runtime->tokenizer;
  auto piece_of = [&](int32_t id) {
    StatusOr<std::string> piece = tok.TokenToPiece(id, true);
    return piece.ok() ? *piece : std::string();
  };
  if (flags->Has("json")) {
    nlohmann::json top = nlohmann::json::array();
    for (size_t r = 0; r < rows.size(); ++r) {
      const int32_t id = rows[r].token;
      nlohmann::json p = nlohmann::json::array(), cum = nlohmann::json::array(), kept = nlohmann::json::array(),
                     kept_p = nlohmann::json::array(), kept_logprob = nlohmann::json::array();
      for (size_t c = 0; c < columns.size(); ++c) {
        const float lp = columns[c].filtered.top[r].logprob;
        p.push_back(columns[c].p[id]);
        cum.push_back(cumulative[c][r]);
        kept.push_back(lp != -INFINITY);
        kept_p.push_back(lp == -INFINITY ? 0.0 : std::exp(double(lp)));
        kept_logprob.push_back(lp);  // -inf (cut off) is written as null
      }
      top.push_back({{"rank", r + 1},
                     {"id", id},
                     {"token", tokenizer::SanitizeUtf8(piece_of(id))},
                     {"logit", logits[id]},
                     {"logprob", logprobs[id]},
                     {"p", std::move(p)},
                     {"cumulative_p", std::move(cum)},
                     {"kept", std::move(kept)},
                     {"kept_p", std::move(kept_p)},
                     {"kept_logprob", std::move(kept_logprob)}});
    }
    nlohmann::json cols = nlohmann::json::array();
    for (const Column& col : columns) {
      cols.push_back({{"temperature", col.temperature},
                      {"entropy", col.entropy},
                      {"n_kept", col.filtered.n_kept},
                      {"kept_mass", col.kept_mass},
                      {"kept_entropy", col.filtered.entropy}});
    }
    const nlohmann::json o = {{"model", runtime->path},
                              {"prompt", flags->positional()[0]},
                              {"prompt_tokens", ids->size()},
                              {"n_vocab", V},
                              {"temperatures", temperatures},
                              {"columns", std::move(cols)},
                              {"top", std::move(top)}};
    PrintJson(o);
    return 0;
  }

  // Text: one group of columns per temperature.
  std::printf("%s  (%zu prompt tokens)\n\n", flags->positional()[0].c_str(), ids->size());
  const int group = filtering ? 27 : 18;
  std::printf("%4s  %s %8s %8s", "", Pad("", 16).c_str(), "", "");
  for (double t : temperatures) {
    const std::string title = t == 0 ? "T=0 (greedy)" : "T=" + base::Num(t);
    std::printf("  %-*s", group, title.c_str());
  }
  std::printf("\nrank  %s %8s %8s", Pad("token", 16).c_str(), "logit", "logprob");
  for (size_t c = 0; c < columns.size(); ++c) std::printf(filtering ? "  %8s %8s %8s" : "  %8s %8s", "p", "cum p", "kept p");
  std::printf("\n");
  for (size_t r = 0; r < rows.size(); ++r) {
    const int32_t id = rows[r].token;
    std::printf("%4zu  %s %8.3f %8.4f", r + 1, Pad(Visible(piece_of(id)), 16).c_str(), logits[id], logprobs[id]);
    for (size_t c = 0; c < columns.size(); ++c) {
      std::printf("  %8.4f %8.4f", columns[c].p[id], cumulative[c][r]);
      if (filtering) std::printf(" %8s", KeptText(columns[c].filtered.top[r].logprob).c_str());
    }
    std::printf("\n");
  }
  std::printf("\n");
  for (const Column& col : columns) {
    std::printf("T=%-6s entropy %.4f nats", base::Num(col.temperature).c_str(), col.entropy);
    if (filtering) {
      std::printf("; kept %d of %zu tokens, %.4f of the mass (%.4f cut off), entropy after filtering %.4f nats",
                  col.filtered.n_kept, V, col.kept_mass, 1 - col.kept_mass, col.filtered.entropy);
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace logitkit::cli
