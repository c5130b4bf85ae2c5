#include "logitkit/chat.h"

#include <string_view>

namespace logitkit::tokenizer {

ChatFormat DetectChatFormat(const gguf::File& file) {
  const gguf::Value* t = file.Find("tokenizer.chat_template");
  const std::string_view text = t && t->type == gguf::ValueType::kString ? t->str : std::string_view();
  if (text.find("<|start_header_id|>") != std::string_view::npos) return ChatFormat::kLlama3;
  if (text.find("[INST]") != std::string_view::npos) return ChatFormat::kInst;
  return ChatFormat::kChatMl;
}

const char* ChatFormatName(ChatFormat format) {
  switch (format) {
    case ChatFormat::kChatMl: return "chatml";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kInst: return "inst";
  }
  return "?";
}

namespace {

// Appends tokens: markers (special tokens parsed) or text (never special).
class ChatTokens {
 public:
  explicit ChatTokens(const Tokenizer& tok) : tok_(tok) {}
  Status Markers(const std::string& text, bool bos = false) {
    if (text.empty() && !bos) return OkStatus();
    EncodeOptions o;
    o.parse_special = true;
    o.add_bos = bos;
    o.add_eos = false;
    return Append(text, o);
  }
  Status Text(const std::string& text) {
    if (text.empty()) return OkStatus();
    EncodeOptions o;
    o.add_bos = false;
    o.add_eos = false;
    return Append(text, o);
  }
  std::vector<int32_t> Take() { return std::move(ids_); }

 private:
  Status Append(const std::string& text, const EncodeOptions& o) {
    StatusOr<std::vector<int32_t>> ids = tok_.Encode(text, o);
    if (!ids.ok()) return ids.status();
    ids_.insert(ids_.end(), ids->begin(), ids->end());
    return OkStatus();
  }
  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
};

Status EncodeInst(const Tokenizer& tok, std::span<const ChatMessage> messages, ChatTokens& out) {
  size_t i = 0;
  std::string system;
  if (messages[0].role == "system") {
    system = messages[0].content + "\n\n";
    i = 1;
  }
  LOGITKIT_RETURN_IF_ERROR(out.Markers("", /*bos=*/true));
  for (bool user = true; i < messages.size(); ++i, user = !user) {
    const ChatMessage& m = messages[i];
    if (m.role != (user ? "user" : "assistant")) {
      return InvalidArgumentError("messages[" + std::to_string(i) + "].role = '" + m.role + "': the [INST] format needs " +
                                  (user ? "user" : "assistant") + " here (user and assistant alternate)");
    }
    if (user) {
      LOGITKIT_RETURN_IF_ERROR(out.Markers("[INST] "));
      LOGITKIT_RETURN_IF_ERROR(out.Text(std::exchange(system, {}) + m.content));
      LOGITKIT_RETURN_IF_ERROR(out.Markers(" [/INST]"));
    } else {
      LOGITKIT_RETURN_IF_ERROR(out.Text(m.content));
      if (tok.eos() != kNoToken) LOGITKIT_RETURN_IF_ERROR(out.Markers(tok.token_text(tok.eos())));
    }
  }
  if (messages.back().role != "user") {
    return InvalidArgumentError("the last message is '" + messages.back().role +
                                "': the [INST] format ends with a user message");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<int32_t>> EncodeChat(const Tokenizer& tok, ChatFormat format,
                                          std::span<const ChatMessage> messages) {
  if (messages.empty()) return InvalidArgumentError("messages: no messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      return InvalidArgumentError("messages[" + std::to_string(i) + "].role = '" + r +
                                  "' is not system, user or assistant");
    }
  }
  ChatTokens out(tok);
  switch (format) {
    case ChatFormat::kChatMl:
      for (const ChatMessage& m : messages) {
        LOGITKIT_RETURN_IF_ERROR(out.Markers("<|im_start|>" + m.role + "\n"));
        LOGITKIT_RETURN_IF_ERROR(out.Text(m.content));
        LOGITKIT_RETURN_IF_ERROR(out.Markers("<|im_end|>\n"));
      }
      LOGITKIT_RETURN_IF_ERROR(out.Markers("<|im_start|>assistant\n"));
      break;
    case ChatFormat::kLlama3:
      LOGITKIT_RETURN_IF_ERROR(out.Markers("", /*bos=*/true));
      for (const ChatMessage& m : messages) {
        LOGITKIT_RETURN_IF_ERROR(out.Markers("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n"));
        LOGITKIT_RETURN_IF_ERROR(out.Text(m.content));
        LOGITKIT_RETURN_IF_ERROR(out.Markers("<|eot_id|>"));
      }
      LOGITKIT_RETURN_IF_ERROR(out.Markers("<|start_header_id|>assistant<|end_header_id|>\n\n"));
      break;
    case ChatFormat::kInst:
      LOGITKIT_RETURN_IF_ERROR(EncodeInst(tok, messages, out));
      break;
  }
  return out.Take();
}

}  // namespace logitkit::tokenizer
