// `logitkit generate "PROMPT"`: streams a continuation from the model, through
// the decode head with every sampling option.
#include <algorithm>
#include <chrono>
#include <utility>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "flags.h"
#include "json.h"
#include "logitkit/head.h"
#include "runtime.h"
#include "server/stop_filter.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit generate "PROMPT" [options]

Streams the model's continuation of PROMPT to stdout as it is produced, and
its speed (prompt and generation tokens/s) to stderr at the end. Stops at the
model's end-of-generation token, a stop string, or --max-tokens.

sampling (the decode head; defaults sample the model's own distribution):
  --greedy                  always the most likely token (same as --temperature 0)
  --temperature T           >= 0 (default 1)
  --top-k K                 keep the K most likely tokens (0: off)
  --top-p P                 keep the smallest set with mass >= P, in (0, 1] (1: off)
  --min-p P                 keep tokens with p >= P * p_max, in [0, 1] (0: off)
  --typical-p P             locally typical sampling, in (0, 1] (1: off)
  --top-n-sigma N           keep logits within N standard deviations of the max (0: off)
  --repetition-penalty R    divide (multiply, if negative) seen tokens' logits by R (1: off)
  --frequency-penalty F     subtract F x count of each seen token (0: off)
  --presence-penalty P      subtract P from each seen token (0: off)
  --penalty-window N        penalties count the last N tokens (0: all)
  --seed N                  sampler seed (default 0): the same seed gives the same text

output:
  --max-tokens N            at most N new tokens (default 128)
  --stop TEXT               stop before TEXT; repeat for several
  --ignore-eos              do not stop at end-of-generation tokens
  --chat                    wrap the prompt in the model's chat format
  --logprobs N              one line per token: its text, logprob, and the N most
                            likely alternatives with theirs (raw model distribution)
  --json                    one JSON object at the end: text, tokens, logprobs, speed
  --int8                    int8 activations (llama.cpp's scheme; faster, less exact)
%s  --help                    this text
)";

int Fail(const Status& s) {
  std::fprintf(stderr, "logitkit generate: %s\n", s.message().c_str());
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kOutOfRange ? 2 : 1;
}

// Reads the sampling flags into params; errors name the flag and value.
Status ReadSampling(const Flags& f, SamplerParams* p) {
  struct FloatFlag { const char* name; float* out; };
  const FloatFlag floats[] = {{"temperature", &p->temperature},
                              {"top-p", &p->top_p},
                              {"min-p", &p->min_p},
                              {"typical-p", &p->typical_p},
                              {"top-n-sigma", &p->top_n_sigma},
                              {"repetition-penalty", &p->repetition_penalty},
                              {"frequency-penalty", &p->frequency_penalty},
                              {"presence-penalty", &p->presence_penalty}};
  for (const FloatFlag& flag : floats) {
    StatusOr<double> v = f.GetDouble(flag.name, *flag.out);
    if (!v.ok()) return v.status();
    *flag.out = float(*v);
  }
  StatusOr<long long> top_k = f.GetInt("top-k", 0);
  if (!top_k.ok()) return top_k.status();
  if (*top_k < 0 || *top_k > INT32_MAX) return InvalidArgumentError("--top-k = " + std::to_string(*top_k) + " is negative");
  p->top_k = int32_t(*top_k);
  StatusOr<long long> window = f.GetInt("penalty-window", 0);
  if (!window.ok()) return window.status();
  if (*window < 0 || *window > INT32_MAX) {
    return InvalidArgumentError("--penalty-window = " + std::to_string(*window) + " is negative");
  }
  p->penalty_window = int32_t(*window);
  if (f.Has("greedy")) p->temperature = 0.0f;
  return OkStatus();
}

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

int RunGenerate(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"temperature", "top-k", "top-p", "min-p", "typical-p", "top-n-sigma",
                                      "repetition-penalty", "frequency-penalty", "presence-penalty",
                                      "penalty-window", "seed", "max-tokens", "stop", "logprobs"};
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags =
      Flags::Parse(args, with_value, {"greedy", "ignore-eos", "chat", "json", "int8", "help"});
  if (!flags.ok()) return Fail(flags.status());
  if (flags->Has("help")) {
    std::printf(kHelp, kRuntimeFlagsHelp);
    return 0;
  }
  if (flags->positional().size() != 1) {
    return Fail(InvalidArgumentError("expected one PROMPT argument (see --help)"));
  }
  SamplerParams params;
  if (Status s = ReadSampling(*flags, &params); !s.ok()) return Fail(s);
  StatusOr<long long> max_tokens = flags->GetInt("max-tokens", 128);
  StatusOr<long long> seed = flags->GetInt("seed", 0);
  StatusOr<long long> n_logprobs = flags->GetInt("logprobs", 0);
  for (const Status* s : {&max_tokens.status(), &seed.status(), &n_logprobs.status()}) {
    if (!s->ok()) return Fail(*s);
  }
  if (*max_tokens < 1 || *max_tokens > 1000000) {
    return Fail(InvalidArgumentError("--max-tokens = " + std::to_string(*max_tokens) + " is outside [1, 1000000]"));
  }
  if (*n_logprobs < 0 || *n_logprobs > 100) {
    return Fail(InvalidArgumentError("--logprobs = " + std::to_string(*n_logprobs) + " is outside [0, 100]"));
  }
  const bool show_logprobs = flags->Has("logprobs");
  const bool json = flags->Has("json");
  std::vector<std::string> stops = flags->GetAll("stop");
  for (const std::string& s : stops) {
    if (s.empty()) return Fail(InvalidArgumentError("--stop: an empty stop string"));
  }
  // The decode head checks every parameter at the first token (the model loads in ~0.1 s).
  params.outputs = kOutputRawLogprob | kOutputLogprob;
  params.top_logprobs = int32_t(*n_logprobs);

  StatusOr<Runtime> runtime = LoadRuntime(*flags);
  if (!runtime.ok()) return Fail(runtime.status());
  const tokenizer::Tokenizer& tok = *runtime->tokenizer;
  StatusOr<std::vector<int32_t>> prompt = EncodePrompt(*runtime, flags->positional()[0], flags->Has("chat"));
  if (!prompt.ok()) return Fail(prompt.status());
  const size_t context_length = runtime->model->config().context_length;
  if (prompt->size() >= context_length) {
    return Fail(OutOfRangeError("the prompt has " + std::to_string(prompt->size()) +
                                " tokens; the model's context holds " + std::to_string(context_length)));
  }
  const size_t capacity = std::min(context_length, prompt->size() + size_t(*max_tokens));
  Context context(*runtime->model, capacity, runtime->pool.get(),
                  flags->Has("int8") ? Activations::kInt8 : Activations::kFloat32);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits;
  if (Status s = EvalPrompt(context, *prompt, &logits); !s.ok()) return Fail(s);
  const auto t1 = std::chrono::steady_clock::now();

  DecodeHead head(runtime->pool.get());
  // A continuation keeps its leading space; a chat reply drops a SentencePiece one.
  tokenizer::StreamDecoder decoder(tok, tokenizer::DecodeOptions{.strip_space_prefix = flags->Has("chat")});
  server::StopFilter stop(stops);
  std::vector<int32_t> history = *prompt, generated;
  std::vector<DecodeResult> results;
  std::string text;
  const char* end_reason = "max_tokens";
  auto emit = [&](const std::string& piece) {
    text += piece;
    if (!json && !show_logprobs) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
  };
  while (generated.size() < size_t(*max_tokens)) {
    RowState state;
    state.history = history;
    state.n_generated = int64_t(generated.size());
    state.seed = uint64_t(*seed);
    state.step = history.size();
    DecodeResult r = head.Decode(logits, params, state);
    if (!r.status.ok()) return Fail(r.status);
    if (!flags->Has("ignore-eos") && tok.IsEndOfGeneration(r.token)) {
      end_reason = "eos";
      break;
    }
    generated.push_back(r.token);
    history.push_back(r.token);
    StatusOr<std::string> piece = decoder.Push(r.token);
    if (!piece.ok()) return Fail(piece.status());
    if (show_logprobs && !json) {
      StatusOr<std::string> raw = tok.TokenToPiece(r.token, true);
      std::printf("%s\t%.4f", Pad(Visible(raw.ok() ? *raw : "?"), 14).c_str(), r.raw_logprob);
      for (const TokenLogprob& alt : r.top) {
        StatusOr<std::string> a = tok.TokenToPiece(alt.token, true);
        std::printf("\t%s %.4f", Visible(a.ok() ? *a : "?").c_str(), alt.raw_logprob);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
    results.push_back(std::move(r));
    emit(stop.Push(*piece));
    if (stop.stopped()) {
      end_reason = "stop";
      break;
    }
    if (generated.size() == size_t(*max_tokens)) break;
    const int32_t next = generated.back();
    if (Status s = context.Eval(std::span<const int32_t>(&next, 1), Logits::kLast, &logits); !s.ok()) {
      return Fail(s);
    }
  }
  if (!stop.stopped()) emit(stop.Push(decoder.Flush()) + stop.Flush());
  const auto t2 = std::chrono::steady_clock::now();
  const double prompt_tps = double(prompt->size()) / Seconds(t1 - t0);
  const double gen_tps = generated.empty() ? 0.0 : double(generated.size()) / Seconds(t2 - t1);
  if (json) {
    std::string o = "{\"prompt\":" + JsonString(flags->positional()[0]) +
                    ",\"prompt_tokens\":" + std::to_string(prompt->size()) + ",\"text\":" +
                    JsonString(text) + ",\"finish_reason\":" + JsonString(end_reason) + ",\"tokens\":[";
    for (size_t i = 0; i < results.size(); ++i) {
      const DecodeResult& r = results[i];
      StatusOr<std::string> piece = tok.TokenToPiece(r.token, true);
      o += std::string(i ? "," : "") + "{\"id\":" + std::to_string(r.token) + ",\"token\":" +
           JsonString(tokenizer::SanitizeUtf8(piece.ok() ? *piece : "")) + ",\"logprob\":" +
           JsonNumber(r.raw_logprob) + ",\"sampling_logprob\":" + JsonNumber(r.logprob);
      if (show_logprobs) {
        o += ",\"top\":[";
        for (size_t k = 0; k < r.top.size(); ++k) {
          StatusOr<std::string> a = tok.TokenToPiece(r.top[k].token, true);
          o += std::string(k ? "," : "") + "{\"id\":" + std::to_string(r.top[k].token) + ",\"token\":" +
               JsonString(tokenizer::SanitizeUtf8(a.ok() ? *a : "")) + ",\"logprob\":" +
               JsonNumber(r.top[k].raw_logprob) + "}";
        }
        o += "]";
      }
      o += "}";
    }
    o += "],\"prompt_tokens_per_s\":" + JsonNumber(prompt_tps) + ",\"tokens_per_s\":" + JsonNumber(gen_tps) + "}";
    std::printf("%s\n", o.c_str());
  } else if (!show_logprobs) {
    std::printf("\n");
  }
  std::fflush(stdout);
  std::fprintf(stderr, "[prompt: %zu tokens, %.1f tokens/s; generated: %zu tokens, %.1f tokens/s; %zu threads; stop: %s]\n",
               prompt->size(), prompt_tps, generated.size(), gen_tps, runtime->pool->num_threads(), end_reason);
  return 0;
}

}  // namespace logitkit::cli
