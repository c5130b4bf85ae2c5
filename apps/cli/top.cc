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
#include "logitkit/next_token.h"
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

filters and processors, applied by the decode head at each temperature as to
the first token `logitkit generate` draws (the penalties count the prompt;
docs/decode-head.md):
%s)";

constexpr const char* kCommand = "top";

// "-" for a token the filters cut off, else its renormalised probability.
std::string KeptText(const analysis::NextTokenRow& row) {
  if (!row.kept) return "-";
  char text[32];
  std::snprintf(text, sizeof(text), "%.4f", row.kept_p());
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

  // One view per temperature column (logitkit/next_token.h: the decode head's own filters).
  DecodeHead head(runtime->pool.get());
  std::vector<analysis::NextTokenView> columns;
  RowState state;  // a generation's first draw: the prompt is the penalties' history
  state.history = *ids;
  for (double t : temperatures) {
    StatusOr<analysis::NextTokenView> view = analysis::ViewNextToken(head, logits, filters, state, t, size_t(*n));
    if (!view.ok()) return Fail(kCommand, view.status());  // names the parameter (T was checked above)
    columns.push_back(*std::move(view));
  }
  const size_t n_rows = columns[0].top.size();

  const tokenizer::Tokenizer& tok = *runtime->tokenizer;
  auto piece_of = [&](int32_t id) {
    StatusOr<std::string> piece = tok.TokenToPiece(id, true);
    return piece.ok() ? *piece : std::string();
  };
  if (flags->Has("json")) {
    nlohmann::json top = nlohmann::json::array();
    for (size_t r = 0; r < n_rows; ++r) {
      const analysis::NextTokenRow& first = columns[0].top[r];
      nlohmann::json p = nlohmann::json::array(), cum = nlohmann::json::array(), kept = nlohmann::json::array(),
                     kept_p = nlohmann::json::array(), kept_logprob = nlohmann::json::array();
      for (const analysis::NextTokenView& col : columns) {
        const analysis::NextTokenRow& row = col.top[r];
        p.push_back(row.p);
        cum.push_back(row.cumulative_p);
        kept.push_back(row.kept);
        kept_p.push_back(row.kept_p());
        kept_logprob.push_back(row.kept_logprob);  // -inf (cut off) is written as null
      }
      top.push_back({{"rank", r + 1},
                     {"id", first.token},
                     {"token", tokenizer::SanitizeUtf8(piece_of(first.token))},
                     {"logit", first.logit},
                     {"logprob", first.logprob},
                     {"p", std::move(p)},
                     {"cumulative_p", std::move(cum)},
                     {"kept", std::move(kept)},
                     {"kept_p", std::move(kept_p)},
                     {"kept_logprob", std::move(kept_logprob)}});
    }
    nlohmann::json cols = nlohmann::json::array();
    for (const analysis::NextTokenView& col : columns) {
      cols.push_back({{"temperature", col.temperature},
                      {"entropy", col.entropy},
                      {"n_kept", col.n_kept},
                      {"kept_mass", col.kept_mass},
                      {"kept_entropy", col.kept_entropy}});
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
  const int group = filtering ? 26 : 17;  // a group's columns: "%8s %8s[ %8s]"
  std::printf("%4s  %s %8s %8s", "", Pad("", 16).c_str(), "", "");
  for (double t : temperatures) {
    const std::string title = t == 0 ? "T=0 (greedy)" : "T=" + base::Num(t);
    std::printf("  %-*s", group, title.c_str());
  }
  std::printf("\nrank  %s %8s %8s", Pad("token", 16).c_str(), "logit", "logprob");
  for (size_t c = 0; c < columns.size(); ++c) std::printf(filtering ? "  %8s %8s %8s" : "  %8s %8s", "p", "cum p", "kept p");
  std::printf("\n");
  for (size_t r = 0; r < n_rows; ++r) {
    const analysis::NextTokenRow& first = columns[0].top[r];
    std::printf("%4zu  %s %8.3f %8.4f", r + 1, Pad(Visible(piece_of(first.token)), 16).c_str(), first.logit,
                first.logprob);
    for (const analysis::NextTokenView& col : columns) {
      std::printf("  %8.4f %8.4f", col.top[r].p, col.top[r].cumulative_p);
      if (filtering) std::printf(" %8s", KeptText(col.top[r]).c_str());
    }
    std::printf("\n");
  }
  std::printf("\n");
  for (const analysis::NextTokenView& col : columns) {
    std::printf("T=%-6s entropy %.4f nats", base::Num(col.temperature).c_str(), col.entropy);
    if (filtering) {
      std::printf("; kept %d of %zu tokens, %.4f of the mass (%.4f cut off), entropy after filtering %.4f nats",
                  col.n_kept, V, col.kept_mass, 1 - col.kept_mass, col.kept_entropy);
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace logitkit::cli
