// Chat prompts: a conversation of messages turned into tokens in the model's
// own chat format, known from its tokenizer.chat_template metadata.
//
// Formats (the template's markers are special tokens; a message's content is
// encoded as plain text, so a user can never write a marker):
//   ChatML (SmolLM2, Qwen2, the default):
//     <|im_start|>ROLE\nCONTENT<|im_end|>\n ... <|im_start|>assistant\n
//   Llama 3:  BOS <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> ...
//             <|start_header_id|>assistant<|end_header_id|>\n\n
//   [INST] (Llama 2, Mistral): BOS [INST] USER [/INST]ASSISTANT EOS [INST] ... [/INST]
//     (a system message is put before the first user message, "SYSTEM\n\nUSER").
// No default system message is added.
#ifndef LOGITKIT_CHAT_H_
#define LOGITKIT_CHAT_H_

#include <span>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/status.h"
#include "logitkit/tokenizer.h"

namespace logitkit::tokenizer {

enum class ChatFormat { kChatMl, kLlama3, kInst };

// The format named by the file's tokenizer.chat_template (ChatML if absent).
ChatFormat DetectChatFormat(const gguf::File& file);
const char* ChatFormatName(ChatFormat format);

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The tokens of the conversation followed by the opening of the assistant's
// turn. Errors: no messages, a role other than the three (named with the
// message's index), and for [INST] a conversation that does not alternate
// user / assistant after an optional first system message.
StatusOr<std::vector<int32_t>> EncodeChat(const Tokenizer& tok, ChatFormat format,
                                          std::span<const ChatMessage> messages);

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_CHAT_H_
