// `logitkit serve`: the OpenAI-compatible HTTP server (apps/server).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "flags.h"
#include "logitkit/chat.h"
#include "logitkit/sampler_table.h"
#include "runtime.h"
#include "terminal.h"
#include "server/engine.h"
#include "server/http.h"
#include "server/openai.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit serve [options]

An OpenAI-compatible HTTP server for the model:
  POST /v1/completions        prompt -> text; logprobs N, echo, stream
  POST /v1/chat/completions   messages (the model's chat format) -> message;
                              logprobs + top_logprobs, stream
  GET  /v1/models[/ID]        the served model
  POST /tokenize, /detokenize the tokenizer (vLLM's and llama.cpp's shapes)
  GET  /health                status and counters (requests, tokens, steps)
Parameters: model, prompt / messages, max_tokens, n, stop, seed, stream
(+ stream_options.include_usage), logprobs, top_logprobs, echo, ignore_eos,
logprobs_mode (raw_logprobs, processed_logprobs, raw_logits, processed_logits),
and every sampling parameter, as in `logitkit generate` with '_' for '-':
%s
docs/server.md has the details. Requests in flight are decoded together, one
token each per step; a request with a seed gives the same text whatever else
runs.

options:
  --host ADDR         address to listen on (default 127.0.0.1: this machine only)
  --port N            port (default 8080; 0: any free port)
  --model-name NAME   the model id clients send (default: the file name without .gguf)
  --parallel N        sequences decoded together (default 16)
  --queue N           requests that may wait beyond those (default 256; then 429)
  --ctx N             the most tokens per sequence, prompt + output (default: the
                      model's context)
  --max-body BYTES    largest request body (default 1048576; larger: 413)
  --max-connections N
                      connections served at once (default: parallel + queue +
                      16, at most 1024); the requests of up to 8 more get
                      429, except GET /health; beyond those, connections wait
  --idle-timeout S    close a connection silent for S seconds, in a request
                      (which gets 400) or between requests (default 5;
                      a stopping server waits for idle connections to close)
  --request-timeout S
                      cancel a completion still running S seconds after it
                      arrived: 408, or an error object ending its body or
                      stream once the response began (default 0: no limit)
  --api-key KEY       require "Authorization: Bearer KEY" on every route but
                      /health (default: $LOGITKIT_API_KEY; none: no key needed)
  --no-parse-special  read special tokens' text in completion prompts as plain
                      text (default: as the tokens, like vLLM and llama.cpp; a
                      request's "parse_special" chooses for itself)
  --int8              int8 activations (llama.cpp's scheme; faster, less exact)
%s  --help              this text

It prints "listening on http://HOST:PORT" on stderr when ready and stops on
SIGINT or SIGTERM.
)";

constexpr const char* kCommand = "serve";

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"host",    "port",    "model-name",      "parallel",     "queue",
                                      "ctx",     "max-body", "max-connections", "idle-timeout", "request-timeout",
                                      "api-key"};
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"int8", "no-parse-special", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::string names;
    for (const SamplerParam& p : SamplerParamTable()) names += std::string(names.empty() ? "" : ", ") + p.name;
    std::printf(kHelp, Wrap(names, 78, "  ").c_str(), kRuntimeFlagsHelp);
    return 0;
  }
  if (!flags->positional().empty()) return Fail(kCommand, InvalidArgumentError("serve takes no positional arguments (see --help)"));
  struct IntFlag { const char* name; long long def, lo, hi; long long value; };
  IntFlag ints[] = {{"port", 8080, 0, 65535, 0},      {"parallel", 16, 1, 256, 0},
                    {"queue", 256, 0, 1000000, 0},     {"ctx", 0, 0, 1 << 24, 0},
                    {"max-body", 1 << 20, 1024, 1ll << 30, 0}, {"max-connections", 1024, 1, 4096, 0},
                    {"idle-timeout", 5, 1, 3600, 0},   {"request-timeout", 0, 0, 86400, 0}};
  for (IntFlag& f : ints) {
    StatusOr<long long> v = flags->GetInt(f.name, f.def);
    if (!v.ok()) return Fail(kCommand, v.status());
    if (*v < f.lo || *v > f.hi) {
      return Fail(kCommand, InvalidArgumentError("--" + std::string(f.name) + " = " + std::to_string(*v) + " is outside [" +
                                       std::to_string(f.lo) + ", " + std::to_string(f.hi) + "]"));
    }
    f.value = *v;
  }
  // --max-connections: by default a connection for every request that may
  // run or wait, and spares for idle keep-alive ones.
  if (!flags->Has("max-connections")) ints[5].value = std::min<long long>(ints[1].value + ints[2].value + 16, 1024);
  // SIGINT and SIGTERM are taken by server::Serve's sigwait: block them
  // before any thread starts, so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  StatusOr<Runtime> runtime = LoadRuntime(*flags);
  if (!runtime.ok()) return Fail(kCommand, runtime.status());
  const ModelConfig& config = runtime->model->config();

  server::EngineOptions engine_options;
  engine_options.max_sequences = size_t(ints[1].value);
  engine_options.max_queue = size_t(ints[2].value);
  engine_options.activations = flags->Has("int8") ? Activations::kInt8 : Activations::kFloat32;
  server::ApiContext ctx;
  ctx.model_id = flags->Get("model-name", std::filesystem::path(runtime->path).stem().string());
  ctx.tok = &*runtime->tokenizer;
  ctx.chat = &runtime->chat_template;
  ctx.n_vocab = config.n_vocab;
  ctx.context_length = ints[3].value == 0 ? config.context_length
                                          : std::min<size_t>(config.context_length, size_t(ints[3].value));
  ctx.max_n = int(engine_options.max_sequences);
  ctx.parse_special = !flags->Has("no-parse-special");
  ctx.constraints = runtime->constraints.get();
  server::HttpOptions http;
  http.host = flags->Get("host", "127.0.0.1");
  http.port = int(ints[0].value);
  http.max_body_bytes = size_t(ints[4].value);
  const char* env_key = std::getenv("LOGITKIT_API_KEY");
  http.api_key = flags->Get("api-key", env_key ? env_key : "");
  if (flags->Has("api-key") && http.api_key.empty()) {
    return Fail(kCommand, InvalidArgumentError("--api-key is empty: give a key, or leave the flag out"));
  }
  http.max_connections = int(ints[5].value);
  http.idle_timeout_s = int(ints[6].value);
  http.request_timeout_s = int(ints[7].value);

  server::Engine engine(*runtime->model, *runtime->tokenizer, runtime->pool.get(), engine_options);
  Status s = server::Serve(http, engine, ctx, [&](int port) {
    std::fprintf(stderr, "logitkit serve: %s (chat: %s, context %zu, %zu threads, %zu sequences at once)\n",
                 ctx.model_id.c_str(), ctx.chat->Describe().c_str(), ctx.context_length,
                 runtime->pool->num_threads(), engine_options.max_sequences);
    std::fprintf(stderr, "logitkit serve: listening on http://%s:%d\n", http.host.c_str(), port);
    std::fflush(stderr);
  });
  if (!s.ok()) return Fail(kCommand, s);
  std::fprintf(stderr, "logitkit serve: stopped\n");
  return 0;
}

}  // namespace logitkit::cli
