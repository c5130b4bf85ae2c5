// The OpenAI HTTP API over the engine: requests parsed and checked into a
// GenerationSpec (every error an OpenAI-style error object naming the field
// and value), and responses and stream chunks in OpenAI's formats.
//
// Numbers JSON cannot hold: a logprob or logit of -inf (a token outside the
// kept set, in the processed modes) is written as -9999.0, as other
// OpenAI-compatible servers do; a value that does not exist (the first
// prompt token's, with echo) is null.
#ifndef LOGITKIT_APPS_SERVER_OPENAI_H_
#define LOGITKIT_APPS_SERVER_OPENAI_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logitkit/chat.h"
#include "logitkit/structured.h"
#include "logitkit/tokenizer.h"
#include "server/engine.h"

namespace logitkit::server {

using Json = nlohmann::json;

inline constexpr float kNegInfLogprob = -9999.0f;  // how -inf is written
inline constexpr int kMaxTopLogprobs = 20;
inline constexpr int kMaxStops = 4;

// An error for the client: HTTP status and OpenAI's error object
// {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the field, "" if none
  std::string code;   // e.g. "model_not_found", "" if none
  Json ToJson() const;
};

// What the server knows when it parses a request.
struct ApiContext {
  std::string model_id;
  const tokenizer::Tokenizer* tok = nullptr;
  const tokenizer::ChatTemplate* chat = nullptr;  // the model's (chat.h)
  size_t n_vocab = 0;
  size_t context_length = 0;  // prompt + max_tokens limit
  int max_n = 16;
  // Completion prompts: special tokens written in the text (<|im_start|>)
  // are those tokens, as vLLM and llama.cpp read them; a request's
  // "parse_special" overrides. Chat messages' text never is.
  bool parse_special = true;
  // Compiles response_format, regex, choice and grammar constraints (null:
  // structured output is refused with a 400).
  ConstraintCompiler* constraints = nullptr;
};

enum class Endpoint { kCompletions, kChat };

struct ApiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  GenerationSpec spec;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions: the prompt's text before the completion
  bool logprobs = false;       // return logprobs at all
  std::vector<std::string> prompt_texts;  // completions: each prompt as text (for echo)
};

// Parses and checks a request body. Fields OpenAI defines but logitkit does
// not implement (suffix, tools, best_of > 1) are errors; unknown fields are
// ignored. A completions prompt is a string, token ids, or a list of either
// (a batch: prompt p's choice c has index p * n + c).
std::optional<ApiError> ParseRequest(const std::string& body, Endpoint endpoint, const ApiContext& ctx,
                                     ApiRequest* out);

// The tokenizer over HTTP: /tokenize and /detokenize bodies into their
// responses. Tokenize takes vLLM's {"prompt", "add_special_tokens" (BOS;
// default true), "return_token_strs"} or {"messages", "add_generation_prompt",
// "tools"} (the model's chat template), and
// llama.cpp's {"content", "add_special" (default false), "with_pieces"};
// special tokens written in the text are parsed as in completion prompts.
// The response: {"tokens", "count", "max_model_len", "token_strs"}.
// Detokenize takes {"tokens"} and answers {"prompt", "content"} (special
// tokens rendered).
std::optional<ApiError> Tokenize(const std::string& body, const ApiContext& ctx, Json* out);
std::optional<ApiError> Detokenize(const std::string& body, const ApiContext& ctx, Json* out);

// POST /next_token (a logitkit extension: the explorer's next-token view, the
// table of `logitkit top`). The body: the prompt as completions take it (one
// string or token ids; "parse_special") or chat "messages"; "top" (rows,
// default 10, at most kMaxViewRows); "temperatures" (a list of numbers in [0, 2];
// default [temperature], temperature defaulting to 1); and any sampling field
// of the table (top_k, top_p, min_p, ..., logit_bias, order). On success
// spec holds a view request (GenerationSpec::view_temperatures). A field not
// listed here is an error (this is not OpenAI's endpoint: a misspelt field
// would otherwise fall back to its default unseen).
inline constexpr int64_t kMaxViewRows = 1000;
std::optional<ApiError> ParseNextToken(const std::string& body, const ApiContext& ctx, GenerationSpec* spec);
// The response: {"object": "next_token", "model", "prompt_tokens": [{"id",
// "token"}], "views": [{"temperature", "entropy", "n_kept", "kept_mass",
// "kept_entropy", "top": [{"rank", "id", "token", "logit", "logprob", "p",
// "cumulative_p", "kept", "kept_p", "kept_logprob" (null if cut)}]}]}.
Json NextTokenJson(const GenerationSpec& spec, const std::vector<analysis::NextTokenView>& views,
                   const ApiContext& ctx);

// GET /tokenizer_info: the fields lm-eval's remote tokenizer reads (and
// vLLM's names for them): {"tokenizer_class", "eos_token", "bos_token",
// "pad_token", "unk_token" (texts, null if the vocabulary has none),
// "chat_template" (the Jinja text, null for a built-in format),
// "model_max_length", "vocab_size", "add_bos_token"}.
Json TokenizerInfo(const ApiContext& ctx);

// The text and bytes of a token as the logprobs objects show it.
struct TokenText {
  std::string text;  // valid UTF-8 (an incomplete character becomes U+FFFD)
  std::vector<uint8_t> bytes;
};
TokenText TextOf(const tokenizer::Tokenizer& tok, int32_t token);

// Accumulates one choice's tokens and text for a full response, or turns
// single events into stream chunks.
class ResponseWriter {
 public:
  ResponseWriter(const ApiRequest& request, const ApiContext& ctx, std::string id, int64_t created);

  // Full response: feed every event, then Build().
  void Add(const Event& event);
  Json Build() const;

  // Stream: the chunks (JSON objects) an event produces, in order.
  std::vector<Json> Chunks(const Event& event);
  // The closing chunk with usage (stream_options.include_usage).
  Json UsageChunk() const;

 private:
  struct Choice {
    std::string text;
    std::vector<TokenInfo> tokens;
    std::string finish_reason;
    std::string stop_string;  // vLLM's stop_reason: the stop string that ended the text
  };
  // The fields every response and chunk carries: id, object, created, model,
  // system_fingerprint.
  Json Envelope(const char* object) const;
  // The prompt text a completion choice starts with: its prompt's with echo, else "".
  const std::string& EchoText(size_t choice) const;
  Json Usage() const;
  // Where a token's text starts in the choice's text: characters (code
  // points, as vLLM and lm-eval count; "text_offset") and bytes
  // ("text_offset_bytes").
  struct TextOffset {
    size_t chars = 0;
    size_t bytes = 0;
  };
  // Advances *offset over the tokens.
  Json CompletionLogprobs(const std::vector<TokenInfo>& tokens, TextOffset* offset) const;
  Json ChatLogprobs(const std::vector<TokenInfo>& tokens) const;
  static Json Value(float v);

  const ApiRequest& request_;
  const ApiContext& ctx_;
  std::string id_;
  int64_t created_;
  std::vector<std::vector<TokenInfo>> prompts_;  // per prompt: echo with logprobs
  std::vector<Choice> choices_;
  std::vector<bool> started_;       // chat stream: role chunk sent
  std::vector<TextOffset> offsets_;  // stream: the offset of each choice's next token
  size_t completion_tokens_ = 0;
};

}  // namespace logitkit::server

#endif  // LOGITKIT_APPS_SERVER_OPENAI_H_
