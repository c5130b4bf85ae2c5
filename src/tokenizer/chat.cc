#include "logitkit/chat.h"

#include <exception>
#include <mutex>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "jinja/lexer.h"
#include "jinja/parser.h"
#include "jinja/runtime.h"
#include "jinja/value.h"
#include "json.h"

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

// Appends the parts of a built-in format: markers (special tokens parsed)
// and a message's text (never).
class Parts {
 public:
  void Marker(std::string text) {
    if (!text.empty()) parts_.push_back({std::move(text), false});
  }
  void Text(std::string text) {
    if (!text.empty()) parts_.push_back({std::move(text), true});
  }
  std::vector<ChatPart> Take() { return std::move(parts_); }

 private:
  std::vector<ChatPart> parts_;
};

Status RenderInst(std::span<const ChatMessage> messages, const std::string& bos, const std::string& eos,
                  Parts& out) {
  size_t i = 0;
  std::string system;
  if (messages[0].role == "system") {
    system = messages[0].content + "\n\n";
    i = 1;
  }
  out.Marker(bos);
  for (bool user = true; i < messages.size(); ++i, user = !user) {
    const ChatMessage& m = messages[i];
    if (m.role != (user ? "user" : "assistant")) {
      return InvalidArgumentError("messages[" + std::to_string(i) + "].role = '" + m.role + "': the [INST] format needs " +
                                  (user ? "user" : "assistant") + " here (user and assistant alternate)");
    }
    if (user) {
      out.Marker("[INST] ");
      out.Text(std::exchange(system, {}) + m.content);
      out.Marker(" [/INST]");
    } else {
      out.Text(m.content);
      out.Marker(eos);
    }
  }
  if (messages.back().role != "user") {
    return InvalidArgumentError("the last message is '" + messages.back().role +
                                "': the [INST] format ends with a user message");
  }
  return OkStatus();
}

// The JSON text of the template's inputs that come from the request
// (messages, tools: marked as input) or from the model (not marked).
// Objects keep their keys' order (a template that dumps tools writes them as given).
std::string InputJson(std::span<const ChatMessage> messages, const nlohmann::ordered_json& tools) {
  nlohmann::ordered_json in = {{"messages", nlohmann::ordered_json::array()}};
  for (const ChatMessage& m : messages) in["messages"].push_back({{"role", m.role}, {"content", m.content}});
  if (!tools.is_null()) in["tools"] = tools;
  return in.dump();
}

// The engine's errors quote the template over several lines: one line for
// an error message, at most 400 bytes.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
    if (out.size() >= 400) return out + "...";
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Splits the template's own parts where they hold a control token's text
// that neither the template's source nor bos_token / eos_token writes: text
// that came from a message through a filter that does not keep the engine's
// input marking (tojson, join), so a message can never smuggle a marker in.
std::vector<ChatPart> GuardMarkers(std::vector<ChatPart> parts, const Tokenizer& tok, const std::string& source,
                                   const std::string& bos, const std::string& eos) {
  std::vector<std::string> foreign;  // control token texts the template itself never writes
  for (TokenId id = 0; id < TokenId(tok.n_vocab()); ++id) {
    const TokenType type = tok.token_type(id);
    if (type != TokenType::kControl && type != TokenType::kUnknown) continue;
    const std::string& text = tok.token_text(id);
    if (text.empty() || text == bos || text == eos || source.find(text) != std::string::npos) continue;
    foreign.push_back(text);
  }
  if (foreign.empty()) return parts;
  bool starts[256] = {};  // first bytes of the foreign texts
  for (const std::string& f : foreign) starts[uint8_t(f[0])] = true;
  std::vector<ChatPart> out;
  for (ChatPart& p : parts) {
    if (p.from_input) {
      out.push_back(std::move(p));
      continue;
    }
    size_t begin = 0;  // the text from `begin` on is not yet placed
    for (size_t pos = 0; pos < p.text.size();) {
      size_t len = 0;
      if (starts[uint8_t(p.text[pos])]) for (const std::string& f : foreign) {
        if (f.size() > len && p.text.compare(pos, f.size(), f) == 0) len = f.size();
      }
      if (len == 0) {
        ++pos;
        continue;
      }
      if (pos > begin) out.push_back({p.text.substr(begin, pos - begin), false});
      out.push_back({p.text.substr(pos, len), true});
      pos += len;
      begin = pos;
    }
    if (begin < p.text.size()) out.push_back({p.text.substr(begin), false});
  }
  return out;
}

}  // namespace

struct ChatTemplate::Program {
  jinja::program program;
  std::string source;  // as the lexer keeps it, for the engine's error messages
};

StatusOr<ChatTemplate> ChatTemplate::Parse(const std::string& source, std::string bos_token, std::string eos_token) {
  auto program = std::make_shared<Program>();
  try {
    jinja::lexer lexer;
    const jinja::lexer_result lexed = lexer.tokenize(source);
    program->program = jinja::parse_from_tokens(lexed);
    program->source = lexed.source;
  } catch (const std::exception& e) {
    return InvalidArgumentError("the chat template does not parse: " + OneLine(e.what()));
  }
  ChatTemplate t;
  t.program_ = std::move(program);
  t.source_ = source;
  t.bos_token_ = std::move(bos_token);
  t.eos_token_ = std::move(eos_token);
  return t;
}

ChatTemplate ChatTemplate::BuiltIn(ChatFormat format, std::string bos_token, std::string eos_token) {
  ChatTemplate t;
  t.format_ = format;
  t.bos_token_ = std::move(bos_token);
  t.eos_token_ = std::move(eos_token);
  return t;
}

ChatTemplate ChatTemplate::ForModel(const gguf::File& file, const Tokenizer& tok) {
  const std::string bos = tok.bos() != kNoToken ? tok.token_text(tok.bos()) : "";
  const std::string eos = tok.eos() != kNoToken ? tok.token_text(tok.eos()) : "";
  ChatTemplate fallback = BuiltIn(DetectChatFormat(file), bos, eos);
  const gguf::Value* source = file.Find("tokenizer.chat_template");
  if (source == nullptr) return fallback;
  if (source->type != gguf::ValueType::kString) {
    fallback.fallback_reason_ = "tokenizer.chat_template is not a string";
    return fallback;
  }
  StatusOr<ChatTemplate> parsed = Parse(std::string(source->str), bos, eos);
  if (!parsed.ok()) {
    fallback.fallback_reason_ = "tokenizer.chat_template: " + parsed.status().message();
    return fallback;
  }
  const ChatMessage probe[] = {{"user", "Hello"}};
  if (StatusOr<std::vector<ChatPart>> r = parsed->Render(probe); !r.ok()) {
    fallback.fallback_reason_ = "tokenizer.chat_template cannot render a one-message conversation: " +
                                r.status().message();
    return fallback;
  }
  return *std::move(parsed);
}

std::string ChatTemplate::Describe() const {
  if (is_jinja()) return "tokenizer.chat_template (Jinja)";
  std::string d = std::string(ChatFormatName(format_)) + " (built in";
  return d + (fallback_reason_.empty() ? ")" : "; " + fallback_reason_ + ")");
}

StatusOr<std::vector<ChatPart>> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                                     const ChatOptions& options) const {
  if (messages.empty()) return InvalidArgumentError("messages: no messages");
  nlohmann::ordered_json tools;
  if (!options.tools_json.empty()) {
    tools = nlohmann::ordered_json::parse(options.tools_json, nullptr, /*allow_exceptions=*/false);
    if (!tools.is_array()) return InvalidArgumentError("tools must be a JSON array of tool definitions");
  }
  if (!is_jinja()) {
    if (!tools.is_null()) {
      return InvalidArgumentError(std::string("tools: the built-in ") + ChatFormatName(format_) +
                                  " format does not render tools (the model has no usable chat template)");
    }
    return RenderBuiltIn(messages, options);
  }
  try {
    jinja::context ctx(program_->source);
    // What a request brought is marked as input (its special tokens are never
    // parsed); the model's own texts are not.
    jinja::global_from_json(ctx, common_json::parse(InputJson(messages, tools)), /*mark_input=*/true);
    const nlohmann::json model = {{"bos_token", bos_token_},
                                  {"eos_token", eos_token_},
                                  {"add_generation_prompt", options.add_generation_prompt}};
    jinja::global_from_json(ctx, common_json::parse(model.dump()), /*mark_input=*/false);
    jinja::runtime runtime(ctx);
    // strftime_now calls std::localtime, whose buffer every thread shares.
    static std::mutex clock_mutex;
    std::unique_lock<std::mutex> clock_lock(clock_mutex, std::defer_lock);
    if (source_.find("strftime_now") != std::string::npos) clock_lock.lock();
    const jinja::value result = runtime.execute(program_->program);
    const jinja::value_string text = jinja::runtime::gather_string_parts(result);
    std::vector<ChatPart> parts;
    for (const jinja::string_part& p : text->val_str.parts) {
      if (!p.val.empty()) parts.push_back({p.val, p.is_input});
    }
    return parts;
  } catch (const std::exception& e) {
    return InvalidArgumentError("the chat template: " + OneLine(e.what()));
  }
}

StatusOr<std::vector<ChatPart>> ChatTemplate::RenderBuiltIn(std::span<const ChatMessage> messages,
                                                            const ChatOptions& options) const {
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      return InvalidArgumentError("messages[" + std::to_string(i) + "].role = '" + r +
                                  "' is not system, user or assistant (the built-in " + ChatFormatName(format_) +
                                  " format)");
    }
  }
  Parts out;
  switch (format_) {
    case ChatFormat::kChatMl:
      for (const ChatMessage& m : messages) {
        out.Marker("<|im_start|>" + m.role + "\n");
        out.Text(m.content);
        out.Marker("<|im_end|>\n");
      }
      if (options.add_generation_prompt) out.Marker("<|im_start|>assistant\n");
      break;
    case ChatFormat::kLlama3:
      out.Marker(bos_token_);
      for (const ChatMessage& m : messages) {
        out.Marker("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n");
        out.Text(m.content);
        out.Marker("<|eot_id|>");
      }
      if (options.add_generation_prompt) out.Marker("<|start_header_id|>assistant<|end_header_id|>\n\n");
      break;
    case ChatFormat::kInst:
      LOGITKIT_RETURN_IF_ERROR(RenderInst(messages, bos_token_, eos_token_, out));
      break;
  }
  return out.Take();
}

StatusOr<std::vector<int32_t>> ChatTemplate::Encode(const Tokenizer& tok, std::span<const ChatMessage> messages,
                                                    const ChatOptions& options) const {
  StatusOr<std::vector<ChatPart>> parts = Render(messages, options);
  if (!parts.ok()) return parts.status();
  if (is_jinja()) *parts = GuardMarkers(*std::move(parts), tok, source_, bos_token_, eos_token_);
  std::vector<Tokenizer::TextPart> text;
  for (const ChatPart& p : *parts) text.push_back({p.text, !p.from_input});
  EncodeOptions o;
  o.add_bos = false;  // the template writes bos_token where it wants one
  o.add_eos = false;
  return tok.EncodeParts(text, o);
}

}  // namespace logitkit::tokenizer
