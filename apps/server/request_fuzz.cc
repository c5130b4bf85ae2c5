// libFuzzer target over the server's request parsing (the `fuzz` preset;
// docs/reliability.md): a JSON body into the generation spec for
// /v1/completions and /v1/chat/completions (structured-output constraints
// compiled, chat messages rendered by the model's template), /tokenize and
// /detokenize, and a Jinja chat template of its own rendered. The only
// acceptable outcomes are a spec or an OpenAI error object; for a spec it
// checks that every prompt is non-empty, its ids are in the vocabulary, and
// prompt + max_tokens fits the context, so the engine never sees a request
// it would have to refuse for its shape.
// The model whose tokenizer and template it uses: $LOGITKIT_FUZZ_MODEL, by
// default the default model in the cache ($LOGITKIT_CACHE or ~/.cache/logitkit,
// as scripts/fetch-model puts it).
//   build/fuzz/apps/server/request_fuzz -dict=fuzz/request/dict fuzz/request/corpus
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "logitkit/chat.h"
#include "logitkit/gguf.h"
#include "logitkit/structured.h"
#include "logitkit/tokenizer.h"
#include "server/openai.h"

namespace {

using namespace logitkit;

struct Fixture {
  tokenizer::Tokenizer tok;
  tokenizer::ChatTemplate chat;
  std::unique_ptr<ConstraintCompiler> constraints;
  server::ApiContext ctx;
};
Fixture* g_fixture = nullptr;

[[noreturn]] void Violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "request_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void CheckError(const server::ApiError& e, const std::string& body) {
  if (e.message.empty() || e.status < 400 || e.status > 599) Violated("a bad error object", e.ToJson().dump() + body);
}

void Parse(const std::string& body, server::Endpoint endpoint) {
  const server::ApiContext& ctx = g_fixture->ctx;
  server::ApiRequest request;
  if (std::optional<server::ApiError> e = server::ParseRequest(body, endpoint, ctx, &request)) {
    return CheckError(*e, body);
  }
  const server::GenerationSpec& spec = request.spec;
  if (spec.prompts.empty() || spec.n < 1) Violated("a spec without prompts or choices", body);
  for (const auto& prompt : spec.prompts) {
    if (prompt.empty()) Violated("an empty prompt", body);
    for (int32_t id : prompt) {
      if (id < 0 || size_t(id) >= ctx.n_vocab) Violated("a prompt id out of range", std::to_string(id));
    }
    if (prompt.size() + size_t(spec.generate.max_tokens) > ctx.context_length) {
      Violated("prompt + max_tokens beyond the context", body);
    }
  }
}

// POST /next_token's body: a view spec (one prompt in range, max_tokens 0,
// 1 .. n_vocab rows, 1 .. 16 temperatures in [0, 2]) or an error object.
void NextToken(const std::string& body) {
  const server::ApiContext& ctx = g_fixture->ctx;
  server::GenerationSpec spec;
  if (std::optional<server::ApiError> e = server::ParseNextToken(body, ctx, &spec)) return CheckError(*e, body);
  if (spec.prompts.size() != 1 || spec.prompts[0].empty() || spec.prompts[0].size() > ctx.context_length ||
      spec.n != 1 || spec.generate.max_tokens != 0) {
    Violated("a bad view spec", body);
  }
  for (int32_t id : spec.prompts[0]) {
    if (id < 0 || size_t(id) >= ctx.n_vocab) Violated("a prompt id out of range", std::to_string(id));
  }
  if (spec.view_rows < 1 || spec.view_rows > ctx.n_vocab) Violated("rows out of range", body);
  if (spec.view_temperatures.empty() || spec.view_temperatures.size() > 16) Violated("bad temperatures", body);
  for (double t : spec.view_temperatures) {
    if (!(t >= 0 && t <= 2)) Violated("a temperature out of [0, 2]", body);
  }
}

void Template(const std::string& input) {
  // The template, then a NUL, then the messages' contents separated by NULs.
  const size_t split = input.find('\0');
  const std::string source = input.substr(0, split);
  auto chat = tokenizer::ChatTemplate::Parse(source, "<s>", "</s>");
  if (!chat.ok()) return;
  std::vector<tokenizer::ChatMessage> messages;
  const char* roles[] = {"system", "user", "assistant", "tool"};
  for (size_t at = split; at != std::string::npos && at < input.size() && messages.size() < 8;) {
    const size_t next = input.find('\0', at + 1);
    messages.push_back({roles[messages.size() % 4], input.substr(at + 1, next == std::string::npos ? next : next - at - 1)});
    at = next;
  }
  (void)chat->Render(messages);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("LOGITKIT_FUZZ_MODEL");
  const char* home = std::getenv("HOME");
  const char* cache = std::getenv("LOGITKIT_CACHE");
  const std::string path = env     ? env
                           : cache ? std::string(cache) + "/SmolLM2-135M-Instruct.Q4_1.gguf"
                                   : std::string(home ? home : "") + "/.cache/logitkit/SmolLM2-135M-Instruct.Q4_1.gguf";
  auto file = gguf::File::Open(path);
  if (!file.ok()) {  // a skip (exit 77, as ctest is told), unless the model must be there
    std::fprintf(stderr, "request_fuzz: cannot open the model (set LOGITKIT_FUZZ_MODEL): %s\n",
                 file.status().ToString().c_str());
    std::exit(std::getenv("LOGITKIT_REQUIRE_MODEL") ? 1 : 77);
  }
  auto tok = tokenizer::Tokenizer::FromGguf(*file);
  if (!tok.ok()) Violated("cannot build its tokenizer", tok.status().ToString());
  g_fixture = new Fixture{std::move(*tok), tokenizer::ChatTemplate::BuiltIn(tokenizer::ChatFormat::kChatMl, "", ""),
                          nullptr, {}};
  g_fixture->chat = tokenizer::ChatTemplate::ForModel(*file, g_fixture->tok);
  const size_t n_vocab = g_fixture->tok.n_vocab();
  std::vector<int32_t> ends;
  for (int32_t id : {g_fixture->tok.eos(), g_fixture->tok.eot()}) {
    if (id >= 0) ends.push_back(id);
  }
  g_fixture->constraints = std::make_unique<ConstraintCompiler>(g_fixture->tok, n_vocab, ends);
  server::ApiContext& ctx = g_fixture->ctx;
  ctx.model_id = "m";
  ctx.tok = &g_fixture->tok;
  ctx.chat = &g_fixture->chat;
  ctx.n_vocab = n_vocab;
  ctx.context_length = 2048;
  ctx.max_n = 4;
  ctx.constraints = g_fixture->constraints.get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  server::Json out;
  if (data[0] >= 0xF0) return NextToken(body), 0;  // (the first byte's other values keep their older meanings)
  switch (data[0] % 5) {
    case 0: Parse(body, server::Endpoint::kCompletions); break;
    case 1: Parse(body, server::Endpoint::kChat); break;
    case 2:
      if (auto e = server::Tokenize(body, g_fixture->ctx, &out)) CheckError(*e, body);
      break;
    case 3:
      if (auto e = server::Detokenize(body, g_fixture->ctx, &out)) CheckError(*e, body);
      break;
    default: Template(body);
  }
  return 0;
}
