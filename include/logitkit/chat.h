// Chat prompts: a conversation of messages turned into tokens by the model's
// own chat template (the GGUF's tokenizer.chat_template, Jinja as Hugging
// Face renders it), with llama.cpp's Jinja engine (scripts/fetch-jinja).
//
// Rendering: the template gets `messages` (a list of {role, content}),
// `add_generation_prompt`, `bos_token` and `eos_token` (the vocabulary's
// texts), `tools` when given, and Hugging Face's `raise_exception` and
// `strftime_now`; Jinja's trim_blocks and lstrip_blocks are on, as Hugging
// Face sets them. The output equals Python's jinja2 so configured (tested on
// the default model's template and the published ones of Llama 3, Mistral,
// Qwen2 and Gemma).
//
// Tokens: the rendered text is tokenized as one text, except that special
// tokens are parsed only in what the template wrote ("<|im_start|>"), never
// in what a message brought (the engine marks every piece of text that came
// from the input): a user who writes "<|im_end|>" gets those characters, not
// the marker. A filter that builds a new string (tojson, join) loses the
// engine's marking; in such text a control token's text is still plain text
// unless the template's source, bos_token or eos_token writes that same text
// (Llama 3.1's tojson of a tool message holding "<|eot_id|>" would give the
// marker: the server refuses tool messages and tools for this reason).
// User-defined tokens (GGUF token type 4) are matched everywhere, in
// messages too, as tokenizer.h says. The BOS token is there when the template writes bos_token;
// none is added, as Hugging Face's apply_chat_template does.
//
// Fallback: a template that does not parse or cannot render a one-message
// conversation, or no template at all, gives a built-in format named by the
// template's markers, with fallback_reason() saying why (the CLI and server
// print it):
//   ChatML (SmolLM2, Qwen2, the default):
//     <|im_start|>ROLE\nCONTENT<|im_end|>\n ... <|im_start|>assistant\n
//   Llama 3:  BOS <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> ...
//             <|start_header_id|>assistant<|end_header_id|>\n\n
//   [INST] (Llama 2, Mistral): BOS [INST] USER [/INST]ASSISTANT EOS [INST] ... [/INST]
//     (a system message is put before the first user message, "SYSTEM\n\nUSER").
// The built-in formats add no default system message and know the roles
// system, user and assistant only.
#ifndef LOGITKIT_CHAT_H_
#define LOGITKIT_CHAT_H_

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/status.h"
#include "logitkit/tokenizer.h"

namespace logitkit::tokenizer {

enum class ChatFormat { kChatMl, kLlama3, kInst };

// The built-in format named by the file's tokenizer.chat_template (ChatML if absent).
ChatFormat DetectChatFormat(const gguf::File& file);
const char* ChatFormatName(ChatFormat format);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", or any the template knows ("tool")
  std::string content;
};

struct ChatOptions {
  // End with the opening of the assistant's turn (the prompt to generate from).
  bool add_generation_prompt = true;
  // A JSON array of tool definitions for templates that render them; "" for none.
  std::string tools_json;
};

// A piece of a rendered conversation.
struct ChatPart {
  std::string text;
  bool from_input = false;  // text a message brought: special tokens are not parsed in it
};

// A model's way of writing conversations: its Jinja template, or a built-in
// format. Cheap to copy (the parsed template is shared); Render and Encode
// are safe to call from many threads at once.
class ChatTemplate {
 public:
  // Parses a Jinja chat template. bos_token / eos_token: the texts the
  // template's variables of those names hold. Errors name the line and
  // column of a syntax error.
  static StatusOr<ChatTemplate> Parse(const std::string& source, std::string bos_token, std::string eos_token);
  // The model's: its tokenizer.chat_template, or the built-in format
  // DetectChatFormat names (see fallback_reason()).
  static ChatTemplate ForModel(const gguf::File& file, const Tokenizer& tok);
  // A built-in format (bos_token / eos_token: as for Parse; the Llama 3 and
  // [INST] formats write bos_token first, and [INST] eos_token after each
  // assistant message).
  static ChatTemplate BuiltIn(ChatFormat format, std::string bos_token, std::string eos_token);

  // The conversation as the template renders it: the text is the
  // concatenation of the parts. Errors: no messages, a template's own
  // raise_exception ("Conversation roles must alternate ..."), or an
  // operation the engine does not support; the built-in formats know only
  // system, user and assistant (an error names the message's index), and
  // [INST] wants user and assistant to alternate after an optional system
  // message.
  StatusOr<std::vector<ChatPart>> Render(std::span<const ChatMessage> messages,
                                         const ChatOptions& options = {}) const;
  // The conversation's tokens (see the top of this file).
  StatusOr<std::vector<int32_t>> Encode(const Tokenizer& tok, std::span<const ChatMessage> messages,
                                        const ChatOptions& options = {}) const;

  bool is_jinja() const { return program_ != nullptr; }
  // The Jinja template's text ("" for a built-in format).
  const std::string& source() const { return source_; }
  ChatFormat format() const { return format_; }  // the built-in format, when !is_jinja()
  // Why a model's template is not used ("" when it is, or was never there).
  const std::string& fallback_reason() const { return fallback_reason_; }
  // "tokenizer.chat_template (Jinja)" or e.g. "chatml (built in)".
  std::string Describe() const;

 private:
  struct Program;
  StatusOr<std::vector<ChatPart>> RenderBuiltIn(std::span<const ChatMessage> messages,
                                                const ChatOptions& options) const;

  std::shared_ptr<const Program> program_;  // null: a built-in format
  ChatFormat format_ = ChatFormat::kChatMl;
  std::string source_;
  std::string bos_token_, eos_token_;
  std::string fallback_reason_;
};

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_CHAT_H_
