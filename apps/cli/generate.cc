// `logitkit generate "PROMPT"`: streams a continuation from the model through
// the library's generator (logitkit/generate.h), with every sampling
// parameter of the table as a flag.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "logitkit/generate.h"
#include "runtime.h"
#include "sampling_flags.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kCommand = "generate";

constexpr const char* kHelp = R"(usage: logitkit generate "PROMPT" [options]

Streams the model's continuation of PROMPT to stdout as it is produced, and
its speed (prompt and generation tokens/s) to stderr at the end. Stops at the
model's end-of-generation token or a stop string (finish "stop"), or after
--max-tokens tokens or a full context (finish "length").

sampling (the decode head; defaults sample the model's own distribution):
  --greedy                  always the most likely token (same as --temperature 0)
%s  --seed N                  sampler seed (default 0): the same seed gives the same text

structured output (the text must match; finish "stop" comes with a match):
  --json-object             any JSON object
  --json-schema FILE        an instance of the JSON Schema in FILE
  --regex R                 a match of the regular expression R
  --choice A,B,C            exactly one of the comma-separated texts
  --grammar FILE            the EBNF (GBNF) grammar in FILE, from its rule `root`

output:
  --max-tokens N            at most N new tokens (default 128)
  --stop TEXT               stop before TEXT; repeat for several
  --ignore-eos              do not stop at end-of-generation tokens
  --chat                    wrap the prompt in the model's chat format
  --special                 special tokens written in PROMPT (<|im_start|>) are those
                            tokens (as `logitkit serve` reads them); default: plain text
  --samples N               N samples, one after another, from the same seed: sample i
                            draws with (seed, stream i), as choice i of the server's n
  --logprobs N              one line per token: its text; its logprob under the model
                            (raw: T = 1, no filter); its sampling logprob (what the
                            draw used: after processors, temperature and filters,
                            renormalised); its rank in the model's distribution; the
                            entropy of that distribution (nats); and the N most likely
                            alternatives with their raw logprobs
  --json                    one JSON object at the end: text, finish_reason,
                            stop_string, tokens (id, token, logprob, sampling_logprob,
                            rank, entropy, and with --logprobs the alternatives), speed;
                            with --samples, {"samples": [one such object per sample]}
  --int8                    int8 activations (llama.cpp's scheme; faster, less exact)
%s  --help                    this text
)";

// --seed: an integer in [-2^63, 2^64); a negative seed is taken modulo 2^64,
// as the server and Python take it.
StatusOr<uint64_t> SeedFlag(const Flags& flags) {
  const std::string text = flags.Get("seed", "0");
  const bool negative = !text.empty() && text[0] == '-';
  uint64_t u = 0;
  int64_t s = 0;
  const char* end = text.data() + text.size();
  const auto [at, ec] = negative ? std::from_chars(text.data(), end, s) : std::from_chars(text.data(), end, u);
  if (ec != std::errc() || at != end) {
    return InvalidArgumentError("--seed = '" + text + "' is not an integer in [-2^63, 2^64)");
  }
  return negative ? uint64_t(s) : u;
}

StatusOr<std::string> ReadTextFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, "--" + flag + " " + path + ": cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The structured-output flags (at most one) as a Constraint.
StatusOr<Constraint> ConstraintFlags(const Flags& flags) {
  Constraint c;
  std::string given;
  for (const char* name : {"json-object", "json-schema", "regex", "choice", "grammar"}) {
    if (!flags.Has(name)) continue;
    if (!given.empty()) {
      return InvalidArgumentError("--" + given + " and --" + name + " both constrain the text: give one");
    }
    given = name;
  }
  if (given == "json-object") c.kind = Constraint::Kind::kJsonObject;
  if (given == "json-schema" || given == "grammar") {
    c.kind = given == "grammar" ? Constraint::Kind::kGrammar : Constraint::Kind::kJsonSchema;
    StatusOr<std::string> text = ReadTextFile(given, flags.Get(given, ""));
    if (!text.ok()) return text.status();
    c.source = *std::move(text);
  }
  if (given == "regex") {
    c.kind = Constraint::Kind::kRegex;
    c.source = flags.Get("regex", "");
  }
  if (given == "choice") {
    c.kind = Constraint::Kind::kChoice;
    const std::string list = flags.Get("choice", "");
    for (size_t at = 0;;) {
      const size_t comma = list.find(',', at);
      c.choices.push_back(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  }
  return c;
}

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string PieceOf(const tokenizer::Tokenizer& tok, int32_t id) {
  StatusOr<std::string> piece = tok.TokenToPiece(id, /*render_special=*/true);
  return piece.ok() ? *piece : "?";
}

// The --json object. Logprobs are written as the float32 values they are
// (nlohmann writes the shortest decimal that reads back as the same float).
nlohmann::json ResultJson(const std::string& prompt, const Sequence& seq, const tokenizer::Tokenizer& tok,
                          bool with_top, double prompt_tps, double gen_tps) {
  nlohmann::json tokens = nlohmann::json::array();
  for (const DecodeResult& r : seq.records()) {
    nlohmann::json t = {{"id", r.token},
                        {"token", tokenizer::SanitizeUtf8(PieceOf(tok, r.token))},
                        {"logprob", r.raw_logprob},
                        {"sampling_logprob", r.logprob},
                        {"rank", r.rank},
                        {"entropy", r.raw_entropy}};
    if (with_top) {
      nlohmann::json top = nlohmann::json::array();
      for (const TokenLogprob& a : r.top) {
        top.push_back({{"id", a.token}, {"token", tokenizer::SanitizeUtf8(PieceOf(tok, a.token))},
                       {"logprob", a.raw_logprob}});
      }
      t["top"] = std::move(top);
    }
    tokens.push_back(std::move(t));
  }
  return {{"prompt", prompt},
          {"prompt_tokens", seq.prompt().size()},
          {"text", seq.text()},
          {"finish_reason", FinishReasonName(seq.finish_reason())},
          {"stop_string", seq.stop_string().empty() ? nlohmann::json() : nlohmann::json(seq.stop_string())},
          {"tokens", std::move(tokens)},
          {"prompt_tokens_per_s", prompt_tps},
          {"tokens_per_s", gen_tps}};
}

}  // namespace

int RunGenerate(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"seed", "max-tokens", "stop", "logprobs", "samples", "json-schema",
                                     "regex", "choice", "grammar"};
  with_value.merge(SamplingFlagNames());
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"greedy", "ignore-eos", "chat", "special", "json", "json-object", "int8", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::printf(kHelp, SamplingFlagsHelp().c_str(), kRuntimeFlagsHelp);
    return 0;
  }
  if (flags->positional().size() != 1) {
    return Fail(kCommand, InvalidArgumentError("expected one PROMPT argument (see --help)"));
  }
  GenerateOptions options;
  if (Status s = ReadSamplingFlags(*flags, &options.sampler); !s.ok()) return Fail(kCommand, s);
  if (flags->Has("greedy")) options.sampler.temperature = 0.0f;
  StatusOr<long long> max_tokens = flags->GetInt("max-tokens", 128);
  StatusOr<uint64_t> seed = SeedFlag(*flags);
  StatusOr<long long> n_logprobs = flags->GetInt("logprobs", 0);
  StatusOr<long long> n_samples = flags->GetInt("samples", 1);
  for (const Status* s : {&max_tokens.status(), &seed.status(), &n_logprobs.status(), &n_samples.status()}) {
    if (!s->ok()) return Fail(kCommand, *s);
  }
  if (*n_samples < 1 || *n_samples > 1000) {
    return Fail(kCommand, InvalidArgumentError("--samples = " + std::to_string(*n_samples) + " is outside [1, 1000]"));
  }
  if (*max_tokens < 1 || *max_tokens > 1000000) {
    return Fail(kCommand, InvalidArgumentError("--max-tokens = " + std::to_string(*max_tokens) +
                                                " is outside [1, 1000000]"));
  }
  if (*n_logprobs < 0 || *n_logprobs > 100) {
    return Fail(kCommand, InvalidArgumentError("--logprobs = " + std::to_string(*n_logprobs) +
                                                " is outside [0, 100]"));
  }
  options.seed = *seed;
  options.max_tokens = size_t(*max_tokens);
  options.stop = flags->GetAll("stop");
  options.ignore_eos = flags->Has("ignore-eos");
  options.strip_space_prefix = flags->Has("chat");  // a continuation keeps its leading space; a reply does not
  options.sampler.top_logprobs = int32_t(*n_logprobs);
  const bool show_logprobs = flags->Has("logprobs"), json = flags->Has("json");
  if (show_logprobs || json) options.sampler.outputs |= kOutputRank | kOutputRawEntropy;
  StatusOr<Constraint> constraint = ConstraintFlags(*flags);
  if (!constraint.ok()) return Fail(kCommand, constraint.status());

  StatusOr<Runtime> runtime = LoadRuntime(*flags);
  if (!runtime.ok()) return Fail(kCommand, runtime.status());
  const tokenizer::Tokenizer& tok = *runtime->tokenizer;
  if (constraint->active()) {
    StatusOr<std::shared_ptr<const CompiledConstraint>> compiled = runtime->constraints->Compile(*constraint);
    if (!compiled.ok()) return Fail(kCommand, compiled.status());
    options.constraint = *std::move(compiled);
  }
  const std::string& prompt_text = flags->positional()[0];
  StatusOr<std::vector<int32_t>> prompt = runtime->EncodePrompt(prompt_text, flags->Has("chat"), flags->Has("special"));
  if (!prompt.ok()) return Fail(kCommand, prompt.status());
  // One sequence per sample, one after another, each streamed as it comes.
  nlohmann::json samples = nlohmann::json::array();
  size_t n_generated = 0;
  double prompt_seconds = 0, gen_seconds = 0;
  const char* finish = "";
  std::string stop_string;
  for (long long i = 0; i < *n_samples; ++i) {
    options.stream = uint64_t(i);
    if (flags->Has("samples") && !json) {
      std::printf("%s[sample %lld of %lld: seed %llu, stream %lld]\n", i == 0 ? "" : "\n", i + 1, *n_samples,
                  static_cast<unsigned long long>(options.seed), i);
    }
    if (show_logprobs && !json) {
      std::printf("%s\t%9s\t%9s\t%6s\t%8s\talternatives (raw logprob)\n", Pad("token", 14).c_str(), "logprob",
                  "sampling", "rank", "entropy");
    }
    Sequence seq(tok, *prompt, options);
    PromptProgress progress(prompt->size());
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = seq.Start(*runtime->model, runtime->pool.get(),
                             flags->Has("int8") ? Activations::kInt8 : Activations::kFloat32, progress.callback());
        !s.ok()) {
      return Fail(kCommand, s);
    }
    const auto t1 = std::chrono::steady_clock::now();
    bool line_open = false;  // text written since the last newline
    Status s = RunToEnd(seq, runtime->pool.get(), [&](const StepOutput& out) {
      if (show_logprobs && !json && out.has_token) {
        const DecodeResult& r = seq.records().back();
        std::printf("%s\t%9.4f\t%9.4f\t%6d\t%8.4f\t", Pad(Visible(PieceOf(tok, r.token)), 14).c_str(),
                    r.raw_logprob, r.logprob, r.rank, r.raw_entropy);
        for (const TokenLogprob& alt : r.top) std::printf(" %s %.4f", Visible(PieceOf(tok, alt.token)).c_str(), alt.raw_logprob);
        std::printf("\n");
        std::fflush(stdout);
      } else if (!json && !show_logprobs && !out.text.empty()) {
        std::fwrite(out.text.data(), 1, out.text.size(), stdout);
        line_open = out.text.back() != '\n';
        std::fflush(stdout);
      }
    });
    if (!s.ok()) return Fail(kCommand, s);
    const auto t2 = std::chrono::steady_clock::now();
    if (line_open) std::printf("\n");  // the text ends its line, before the stats on stderr
    std::fflush(stdout);
    prompt_seconds += Seconds(t1 - t0);
    gen_seconds += Seconds(t2 - t1);
    n_generated += seq.generated().size();
    finish = FinishReasonName(seq.finish_reason());
    stop_string = seq.stop_string();
    if (json) {
      nlohmann::json sample = ResultJson(prompt_text, seq, tok, show_logprobs, double(prompt->size()) / Seconds(t1 - t0),
                                         seq.generated().empty() ? 0.0 : double(seq.generated().size()) / Seconds(t2 - t1));
      sample["seed"] = options.seed;
      sample["stream"] = options.stream;
      samples.push_back(std::move(sample));
    }
  }
  const double prompt_tps = double(prompt->size() * size_t(*n_samples)) / prompt_seconds;
  const double gen_tps = n_generated == 0 ? 0.0 : double(n_generated) / gen_seconds;
  if (json) PrintJson(flags->Has("samples") ? nlohmann::json{{"samples", std::move(samples)}} : samples[0]);
  std::fflush(stdout);
  if (*n_samples == 1) {
    std::fprintf(stderr, "[prompt: %zu tokens, %.1f tokens/s; generated: %zu tokens, %.1f tokens/s; %zu threads; finish: %s%s]\n",
                 prompt->size(), prompt_tps, n_generated, gen_tps, runtime->pool->num_threads(), finish,
                 stop_string.empty() ? "" : (" at \"" + stop_string + "\"").c_str());
  } else {
    std::fprintf(stderr, "[%lld samples; prompt: %zu tokens, %.1f tokens/s; generated: %zu tokens in all, %.1f tokens/s; %zu threads]\n",
                 *n_samples, prompt->size(), prompt_tps, n_generated, gen_tps, runtime->pool->num_threads());
  }
  return 0;
}

}  // namespace logitkit::cli
