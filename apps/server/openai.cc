#include "server/openai.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string_view>

#include "logitkit/sampler_table.h"

namespace logitkit::server {
namespace {

std::string TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "a value";
  }
}

ApiError Invalid(std::string param, std::string message) {
  ApiError e;
  e.param = std::move(param);
  e.message = std::move(message);
  return e;
}

std::string Show(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

// Reads the request's fields with their types and ranges; the first error wins.
class Fields {
 public:
  explicit Fields(const Json& body) : body_(body) {}
  const std::optional<ApiError>& error() const { return error_; }
  bool Has(const char* name) const { return body_.contains(name) && !body_[name].is_null(); }
  const Json& Get(const char* name) const { return body_[name]; }

  double Number(const char* name, double def, double lo, double hi, bool lo_open = false) {
    if (error_ || !Has(name)) return def;
    const Json& j = body_[name];
    if (!j.is_number()) return Fail(name, std::string(name) + " must be a number, not " + TypeName(j)), def;
    const double v = j.get<double>();
    if (!std::isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
      Fail(name, std::string(name) + " = " + Show(v) + " is outside " + (lo_open ? "(" : "[") + Show(lo) + ", " +
                     Show(hi) + "]");
      return def;
    }
    return v;
  }
  int64_t Integer(const char* name, int64_t def, int64_t lo, int64_t hi) {
    if (error_ || !Has(name)) return def;
    const Json& j = body_[name];
    if (j.is_number_float() && j.get<double>() == std::floor(j.get<double>()) && std::fabs(j.get<double>()) < 9e15) {
      return Check(name, int64_t(j.get<double>()), lo, hi, def);
    }
    if (!j.is_number_integer()) return Fail(name, std::string(name) + " must be an integer, not " + TypeName(j)), def;
    if (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(INT64_MAX)) {
      return Fail(name, std::string(name) + " = " + j.dump() + " is too large"), def;
    }
    return Check(name, j.get<int64_t>(), lo, hi, def);
  }
  bool Bool(const char* name, bool def) {
    if (error_ || !Has(name)) return def;
    const Json& j = body_[name];
    if (!j.is_boolean()) return Fail(name, std::string(name) + " must be a boolean, not " + TypeName(j)), def;
    return j.get<bool>();
  }
  std::string String(const char* name, const std::string& def) {
    if (error_ || !Has(name)) return def;
    const Json& j = body_[name];
    if (!j.is_string()) return Fail(name, std::string(name) + " must be a string, not " + TypeName(j)), def;
    return j.get<std::string>();
  }
  void Fail(std::string param, std::string message) {
    if (!error_) error_ = Invalid(std::move(param), std::move(message));
  }
  void Fail(ApiError e) {
    if (!error_) error_ = std::move(e);
  }

 private:
  int64_t Check(const char* name, int64_t v, int64_t lo, int64_t hi, int64_t def) {
    if (v < lo || v > hi) {
      Fail(name, std::string(name) + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
      return def;
    }
    return v;
  }
  const Json& body_;
  std::optional<ApiError> error_;
};

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::optional<std::string> ContentText(const Json& content, size_t index, Fields& f) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return f.Fail(where, where + " must be a string or an array of text parts"), std::nullopt;
  std::string text;
  for (size_t k = 0; k < content.size(); ++k) {
    const Json& part = content[k];
    const std::string pw = where + "[" + std::to_string(k) + "]";
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      return f.Fail(pw, pw + " must be {\"type\": \"text\", \"text\": ...} (only text is supported)"), std::nullopt;
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

// The tokens of a conversation in the model's chat template. The body's
// add_generation_prompt (vLLM's; default true) chooses whether the
// assistant's turn is opened. tools_json: the body's tools as JSON text in
// their keys' order, for the callers that take tools (/tokenize; chat
// completions refuse them), else "".
std::optional<std::vector<int32_t>> ChatPrompt(const Json& messages, const ApiContext& ctx, Fields& f,
                                               std::string tools_json = "") {
  if (!messages.is_array() || messages.empty()) {
    return f.Fail("messages", "messages must be a non-empty array of {role, content}"), std::nullopt;
  }
  std::vector<tokenizer::ChatMessage> chat;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return f.Fail(where, where + " must be an object with a string role"), std::nullopt;
    }
    std::string role = m["role"].get<std::string>();
    // OpenAI's roles but tool (a template would render any; logitkit neither
    // parses tool calls nor lets a tool message's text reach a template's
    // tojson, where its markers would be parsed: chat.h).
    if (role == "tool") {
      return f.Fail(where, where + ".role = 'tool': tool messages are not supported by logitkit (nor tools)"),
             std::nullopt;
    }
    if (role != "system" && role != "developer" && role != "user" && role != "assistant") {
      return f.Fail(where, where + ".role = '" + role + "' is not system, developer, user or assistant"),
             std::nullopt;
    }
    if (role == "developer") role = "system";
    std::optional<std::string> content = ContentText(m.value("content", Json()), i, f);
    if (!content) return std::nullopt;
    chat.push_back({role, *content});
  }
  tokenizer::ChatOptions options;
  options.add_generation_prompt = f.Bool("add_generation_prompt", true);
  if (!tools_json.empty()) {
    if (!f.Get("tools").is_array()) return f.Fail("tools", "tools must be an array of tool definitions"), std::nullopt;
    options.tools_json = std::move(tools_json);
  }
  if (f.error()) return std::nullopt;
  StatusOr<std::vector<int32_t>> ids = ctx.chat->Encode(*ctx.tok, chat, options);
  if (!ids.ok()) return f.Fail("messages", ids.status().message()), std::nullopt;
  return *ids;
}

// The prompts of a completions request, in every form OpenAI accepts: a
// string, token ids, or a non-empty list of strings or of token-id lists.
// texts gets each prompt as text (for echo).
std::optional<std::vector<std::vector<int32_t>>> CompletionPrompts(const Json& prompt, const ApiContext& ctx,
                                                                   Fields& f, std::vector<std::string>* texts) {
  tokenizer::EncodeOptions options;
  options.parse_special = f.Bool("parse_special", ctx.parse_special);
  // One prompt: a string, or token ids (`where` names it in errors).
  auto one = [&](const Json& p, const std::string& where) -> std::optional<std::vector<int32_t>> {
    if (p.is_string()) {
      texts->push_back(p.get<std::string>());
      StatusOr<std::vector<int32_t>> ids = ctx.tok->Encode(p.get<std::string>(), options);
      if (!ids.ok()) return f.Fail("prompt", where + ": " + ids.status().message()), std::nullopt;
      return *ids;
    }
    std::vector<int32_t> ids;
    for (size_t i = 0; i < p.size(); ++i) {
      const Json& t = p[i];
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= int64_t(ctx.n_vocab)) {
        return f.Fail("prompt", where + "[" + std::to_string(i) + "] = " + t.dump() + " is not a token id in [0, " +
                                    std::to_string(ctx.n_vocab) + ")"),
               std::nullopt;
      }
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    StatusOr<std::string> decoded = ctx.tok->Decode(ids);
    texts->push_back(tokenizer::SanitizeUtf8(decoded.ok() ? *decoded : ""));
    return ids;
  };
  if (prompt.is_string() || (prompt.is_array() && !prompt.empty() && prompt[0].is_number())) {
    std::optional<std::vector<int32_t>> ids = one(prompt, "prompt");
    if (!ids) return std::nullopt;
    return std::vector<std::vector<int32_t>>{std::move(*ids)};
  }
  if (prompt.is_array() && prompt.empty()) {
    return f.Fail("prompt", "prompt is an empty list: give a string, token ids, or a list of either"), std::nullopt;
  }
  if (!prompt.is_array()) {
    return f.Fail("prompt", "prompt must be a string, token ids, or a list of either, not " + TypeName(prompt)),
           std::nullopt;
  }
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < prompt.size(); ++i) {
    const std::string where = "prompt[" + std::to_string(i) + "]";
    const Json& p = prompt[i];
    if (!p.is_string() && !(p.is_array() && !p.empty())) {
      return f.Fail("prompt", where + " must be a string or a non-empty list of token ids, not " +
                                  (p.is_array() ? std::string("an empty list") : TypeName(p))),
             std::nullopt;
    }
    std::optional<std::vector<int32_t>> ids = one(p, where);
    if (!ids) return std::nullopt;
    prompts.push_back(std::move(*ids));
  }
  return prompts;
}

// Structured output: OpenAI's response_format, vLLM's structured_outputs
// (and its older guided_* fields), llama.cpp's grammar and json_schema, and
// top-level regex and choice. At most one per request; the one given is
// compiled (cached) for the vocabulary, and any error names its field.
struct ConstraintField {
  const char* name;  // top-level field, or "structured_outputs.<key>"
  Constraint::Kind kind;
};
constexpr ConstraintField kConstraintFields[] = {
    {"guided_json", Constraint::Kind::kJsonSchema}, {"json_schema", Constraint::Kind::kJsonSchema},
    {"guided_regex", Constraint::Kind::kRegex},     {"regex", Constraint::Kind::kRegex},
    {"guided_choice", Constraint::Kind::kChoice},   {"choice", Constraint::Kind::kChoice},
    {"guided_grammar", Constraint::Kind::kGrammar}, {"grammar", Constraint::Kind::kGrammar},
};

// One field's value as a constraint of `kind`; errors name `field`.
std::optional<ApiError> ConstraintOf(const Json& v, Constraint::Kind kind, const std::string& field,
                                     Constraint* out) {
  out->kind = kind;
  switch (kind) {
    case Constraint::Kind::kJsonSchema:
      if (v.is_string()) {
        out->source = v.get<std::string>();
      } else if (v.is_object() || v.is_boolean()) {
        out->source = v.dump();
      } else {
        return Invalid(field, field + " must be a JSON Schema (an object, or a string holding one), not " + TypeName(v));
      }
      return std::nullopt;
    case Constraint::Kind::kRegex:
    case Constraint::Kind::kGrammar:
      if (!v.is_string()) return Invalid(field, field + " must be a string, not " + TypeName(v));
      out->source = v.get<std::string>();
      return std::nullopt;
    case Constraint::Kind::kChoice:
      if (!v.is_array()) return Invalid(field, field + " must be an array of strings, not " + TypeName(v));
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_string()) {
          return Invalid(field, field + "[" + std::to_string(i) + "] must be a string, not " + TypeName(v[i]));
        }
        out->choices.push_back(v[i].get<std::string>());
      }
      return std::nullopt;
    default: return Invalid(field, field + ": not a constraint");
  }
}

std::optional<ApiError> ReadResponseFormat(const Json& rf, Constraint* out) {
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string()) {
    return Invalid("response_format", "response_format must be an object with a string \"type\"");
  }
  const std::string type = rf["type"].get<std::string>();
  if (type == "text") return std::nullopt;
  if (type == "json_object") {
    out->kind = Constraint::Kind::kJsonObject;
    return std::nullopt;
  }
  if (type != "json_schema") {
    return Invalid("response_format", "response_format.type = \"" + type +
                                          "\" is not one of \"text\", \"json_object\", \"json_schema\"");
  }
  if (!rf.contains("json_schema") || !rf["json_schema"].is_object()) {
    return Invalid("response_format", "response_format.json_schema must be an object with \"name\" and \"schema\"");
  }
  const Json& js = rf["json_schema"];
  if (!js.contains("schema")) {
    return Invalid("response_format", "response_format.json_schema.schema is required");
  }
  return ConstraintOf(js["schema"], Constraint::Kind::kJsonSchema, "response_format.json_schema.schema", out);
}

// Sets spec->constraint from whichever constraint field the request has.
std::optional<ApiError> ReadConstraint(Fields& f, const ApiContext& ctx, GenerateOptions* options) {
  Constraint c;
  std::string field;  // where c came from
  auto take = [&](const std::string& name, const Json& v, Constraint::Kind kind) -> std::optional<ApiError> {
    if (!field.empty()) {
      return Invalid(name, field + " and " + name + " both constrain the output: give one of them");
    }
    field = name;
    return ConstraintOf(v, kind, name, &c);
  };
  if (f.Has("response_format")) {
    if (auto e = ReadResponseFormat(f.Get("response_format"), &c)) return e;
    if (c.active()) field = "response_format";
  }
  for (const ConstraintField& cf : kConstraintFields) {
    if (!f.Has(cf.name)) continue;
    if (auto e = take(cf.name, f.Get(cf.name), cf.kind)) return e;
  }
  if (f.Has("structured_outputs")) {
    const Json& so = f.Get("structured_outputs");
    if (!so.is_object()) return Invalid("structured_outputs", "structured_outputs must be an object");
    const std::pair<const char*, Constraint::Kind> keys[] = {{"json", Constraint::Kind::kJsonSchema},
                                                             {"regex", Constraint::Kind::kRegex},
                                                             {"choice", Constraint::Kind::kChoice},
                                                             {"grammar", Constraint::Kind::kGrammar}};
    for (const auto& [key, kind] : keys) {
      if (!so.contains(key) || so[key].is_null()) continue;
      if (auto e = take(std::string("structured_outputs.") + key, so[key], kind)) return e;
    }
  }
  if (!c.active()) return std::nullopt;
  if (ctx.constraints == nullptr) return Invalid(field, "structured output is not available on this server");
  StatusOr<std::shared_ptr<const CompiledConstraint>> compiled = ctx.constraints->Compile(c);
  if (!compiled.ok()) return Invalid(field, field + ": " + compiled.status().message());
  options->constraint = *std::move(compiled);
  return std::nullopt;
}

void ReadStops(Fields& f, std::vector<std::string>* stops) {
  if (f.error() || !f.Has("stop")) return;
  const Json& j = f.Get("stop");
  std::vector<Json> items;
  if (j.is_string()) items.push_back(j);
  else if (j.is_array()) items.assign(j.begin(), j.end());
  else return f.Fail("stop", "stop must be a string or an array of strings, not " + TypeName(j));
  if (items.size() > size_t(kMaxStops)) {
    return f.Fail("stop", "stop has " + std::to_string(items.size()) + " strings; at most " +
                              std::to_string(kMaxStops));
  }
  for (const Json& s : items) {
    if (!s.is_string() || s.get<std::string>().empty()) return f.Fail("stop", "stop strings must be non-empty strings");
    stops->push_back(s.get<std::string>());
  }
}

// logit_bias in OpenAI's form: {"token id": bias}, biases in [-100, 100].
std::vector<TokenBias> ReadLogitBias(Fields& f, const char* name, const ApiContext& ctx) {
  const Json& j = f.Get(name);
  std::vector<TokenBias> out;
  if (!j.is_object()) return f.Fail(name, std::string(name) + " must be an object {token id: bias}"), out;
  if (j.size() > 1024) {
    return f.Fail(name, std::string(name) + " has " + std::to_string(j.size()) + " entries; at most 1024"), out;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const bool digits = !key.empty() && key.size() <= 10 &&
                        std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    const long long id = digits ? std::stoll(key) : -1;
    if (!digits || id >= (long long)ctx.n_vocab) {
      return f.Fail(name, std::string(name) + " key '" + key + "' is not a token id in [0, " +
                              std::to_string(ctx.n_vocab) + ")"),
             out;
    }
    if (!it.value().is_number() || !std::isfinite(it.value().get<double>()) ||
        std::fabs(it.value().get<double>()) > 100) {
      return f.Fail(name, std::string(name) + "['" + key + "'] = " + it.value().dump() +
                              " is not a number in [-100, 100]"),
             out;
    }
    if (std::any_of(out.begin(), out.end(), [&](const TokenBias& b) { return b.token == id; })) {
      return f.Fail(name, std::string(name) + " names token " + std::to_string(id) + " twice ('" + key + "')"), out;
    }
    out.push_back({int32_t(id), float(it.value().get<double>())});
  }
  return out;
}

// OpenAI's own limits on its parameters, narrower than the head's ranges
// (a client written for OpenAI expects these 400s).
struct ProtocolLimit {
  const char* name;
  double lo, hi;
};
constexpr ProtocolLimit kOpenAiLimits[] = {
    {"temperature", 0, 2}, {"presence_penalty", -2, 2}, {"frequency_penalty", -2, 2}};

// An array of integers that fit a token id (their range [0, n_vocab) is the
// table's check).
StatusOr<std::vector<int32_t>> TokenIdsOf(const Json& j, const char* name) {
  if (!j.is_array()) return InvalidArgumentError(std::string(name) + " must be an array of token ids, not " + TypeName(j));
  std::vector<int32_t> ids;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number_integer() || j[i].get<int64_t>() < INT32_MIN || j[i].get<int64_t>() > INT32_MAX) {
      return InvalidArgumentError(std::string(name) + "[" + std::to_string(i) + "] = " + j[i].dump() +
                                  " is not a token id");
    }
    ids.push_back(int32_t(j[i].get<int64_t>()));
  }
  return ids;
}

// An array of stage names.
StatusOr<std::vector<Stage>> StagesOf(const Json& j, const char* name) {
  if (!j.is_array()) return InvalidArgumentError(std::string(name) + " must be an array of stage names, not " + TypeName(j));
  std::vector<Stage> stages;
  for (const Json& item : j) {
    if (!item.is_string()) return InvalidArgumentError(std::string(name) + " holds " + TypeName(item) + ", not a stage name");
    StatusOr<Stage> stage = ParseStage(item.get<std::string>());
    if (!stage.ok()) return stage.status();
    stages.push_back(*stage);
  }
  return stages;
}

// Every sampling parameter of the table, as the JSON field of its name:
// numbers, arrays of token ids, logit_bias in OpenAI's form, stage names.
// Extensions follow vLLM where it has the name; top_k -1 is off, as there.
void ReadSampling(Fields& f, const ApiContext& ctx, SamplerParams* p) {
  for (const SamplerParam& e : SamplerParamTable()) {
    if (f.error() || !f.Has(e.name)) continue;
    const Json& j = f.Get(e.name);
    Status set;
    switch (e.type) {
      case ParamType::kFloat: {
        double lo = -INFINITY, hi = INFINITY;
        for (const ProtocolLimit& limit : kOpenAiLimits) {
          if (std::string_view(limit.name) == e.name) lo = limit.lo, hi = limit.hi;
        }
        const double v = f.Number(e.name, 0, lo, hi);
        if (!f.error()) set = e.SetNumber(v, p);
        break;
      }
      case ParamType::kInt: {
        int64_t v = f.Integer(e.name, 0, INT64_MIN, INT64_MAX);
        if (std::string_view(e.name) == "top_k" && v == -1) v = 0;
        if (!f.error()) set = e.SetNumber(double(v), p);
        break;
      }
      case ParamType::kTokens: {
        StatusOr<std::vector<int32_t>> ids = TokenIdsOf(j, e.name);
        set = ids.ok() ? e.SetTokens(std::move(*ids), p) : ids.status();
        break;
      }
      case ParamType::kTokenBias: {
        std::vector<TokenBias> bias = ReadLogitBias(f, e.name, ctx);
        if (!f.error()) set = e.SetBias(std::move(bias), p);
        break;
      }
      case ParamType::kStages: {
        StatusOr<std::vector<Stage>> stages = StagesOf(j, e.name);
        set = stages.ok() ? e.SetStages(std::move(*stages), p) : stages.status();
        break;
      }
    }
    if (!set.ok()) f.Fail(e.name, set.message());
  }
  // What only the whole set can tell (a filter set but left out of order).
  for (const SamplerParam& e : SamplerParamTable()) {
    if (f.error()) return;
    if (Status s = e.Check(*p, ctx.n_vocab); !s.ok()) f.Fail(e.name, s.message());
  }
}

// "model": one model is served; a request may leave it out (lm-eval's gguf
// backend does). Another name is a 404 model_not_found.
std::optional<ApiError> CheckModel(Fields& f, const ApiContext& ctx) {
  const std::string model = f.String("model", ctx.model_id);
  if (f.error()) return f.error();
  if (model == ctx.model_id) return std::nullopt;
  ApiError e = Invalid("model", "the model '" + model + "' does not exist; this server serves '" + ctx.model_id + "'");
  e.status = 404;
  e.code = "model_not_found";
  return e;
}

LogprobsMode ReadMode(Fields& f) {
  const std::string mode = f.String("logprobs_mode", "raw_logprobs");
  if (mode == "raw_logprobs") return LogprobsMode::kRawLogprobs;
  if (mode == "processed_logprobs") return LogprobsMode::kProcessedLogprobs;
  if (mode == "raw_logits") return LogprobsMode::kRawLogits;
  if (mode == "processed_logits") return LogprobsMode::kProcessedLogits;
  f.Fail("logprobs_mode", "logprobs_mode = '" + mode +
                              "' is not raw_logprobs, processed_logprobs, raw_logits or processed_logits");
  return LogprobsMode::kRawLogprobs;
}

// The deepest nesting of arrays and objects in a JSON text (strings skipped),
// found before parsing: nlohmann's copies and dumps recurse, so a hostile
// body of 200,000 brackets would overflow the stack.
size_t NestingDepth(const std::string& body) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

constexpr size_t kMaxNesting = 32;

// The offset of the first byte that does not belong to a well-formed UTF-8
// sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF), or npos.
size_t FirstInvalidUtf8(const std::string& s) {
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0, n = s.size(); i < n;) {
    const unsigned char c = b[i];
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c < 0x80) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char low = k == 1 ? lo : 0x80, high = k == 1 ? hi : 0xBF;
      if (b[i + k] < low || b[i + k] > high) return i;
    }
    i += len;
  }
  return std::string::npos;
}

// vLLM's stop_reason: the stop string that ended the text; null otherwise
// (an end-of-generation token, or the length).
Json StopReason(const std::string& stop_string) { return stop_string.empty() ? Json() : Json(stop_string); }

std::optional<ApiError> Parse(const Json& j, Endpoint endpoint, const ApiContext& ctx, ApiRequest* out);

}  // namespace

Json ApiError::ToJson() const {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? Json() : Json(param)},
            {"code", code.empty() ? Json() : Json(code)}}}};
}

namespace {

// The body as a JSON object: UTF-8, nested at most kMaxNesting deep, valid
// JSON, an object. Errors name the byte.
std::optional<ApiError> ReadBody(const std::string& body, Json* j) {
  if (const size_t bad = FirstInvalidUtf8(body); bad != std::string::npos) {
    return Invalid("", "the body is not UTF-8 (byte " + std::to_string(bad) + " is 0x" +
                           [&] {
                             char hex[3];
                             std::snprintf(hex, sizeof(hex), "%02X", static_cast<unsigned char>(body[bad]));
                             return std::string(hex);
                           }() +
                           "); JSON text is UTF-8");
  }
  if (const size_t depth = NestingDepth(body); depth > kMaxNesting) {
    return Invalid("", "the body nests arrays and objects " + std::to_string(depth) + " deep; at most " +
                           std::to_string(kMaxNesting));
  }
  try {
    *j = Json::parse(body);
  } catch (const Json::parse_error& e) {
    return Invalid("", "the body is not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
  } catch (const Json::exception& e) {  // a number beyond a double (1e999)
    return Invalid("", std::string("the body has a value logitkit cannot read: ") + e.what());
  }
  if (!j->is_object()) return Invalid("", "the body must be a JSON object, not " + TypeName(*j));
  return std::nullopt;
}

// Runs a reader of the parsed body; a value nlohmann cannot convert is a 400.
template <typename Reader>
std::optional<ApiError> WithBody(const std::string& body, Reader read) {
  Json j;
  if (std::optional<ApiError> e = ReadBody(body, &j)) return e;
  try {
    return read(j);
  } catch (const Json::exception& e) {  // a number out of range, a field of an unexpected type
    return Invalid("", std::string("the body has a value logitkit cannot read: ") + e.what());
  }
}

}  // namespace

std::optional<ApiError> ParseRequest(const std::string& body, Endpoint endpoint, const ApiContext& ctx,
                                     ApiRequest* out) {
  return WithBody(body, [&](const Json& j) { return Parse(j, endpoint, ctx, out); });
}

Json TokenizerInfo(const ApiContext& ctx) {
  const tokenizer::Tokenizer& tok = *ctx.tok;
  auto text = [&](int32_t id) { return id == tokenizer::kNoToken ? Json() : Json(tok.token_text(id)); };
  return {{"tokenizer_class", tok.algorithm() == tokenizer::Algorithm::kBpe ? "logitkit GGUF byte-level BPE"
                                                                    : "logitkit GGUF SentencePiece"},
          {"eos_token", text(tok.eos())},
          {"bos_token", text(tok.bos())},
          {"pad_token", text(tok.pad())},
          {"unk_token", text(tok.unk())},
          {"chat_template", ctx.chat->is_jinja() ? Json(ctx.chat->source()) : Json()},
          {"model_max_length", ctx.context_length},
          {"vocab_size", tok.n_vocab()},
          {"add_bos_token", tok.add_bos()}};
}

std::optional<ApiError> Tokenize(const std::string& body, const ApiContext& ctx, Json* out) {
  return WithBody(body, [&](const Json& j) -> std::optional<ApiError> {
    Fields f(j);
    // vLLM's {"prompt", "add_special_tokens" (default true)} or {"messages"},
    // llama.cpp's {"content", "add_special" (default false), "with_pieces"}.
    const bool llama_cpp = f.Has("content");
    std::vector<int32_t> ids;
    if (f.Has("messages")) {
      // The tools as sent: Json sorts an object's keys, a template that dumps them should not.
      std::string tools;
      if (f.Has("tools")) tools = nlohmann::ordered_json::parse(body)["tools"].dump();
      std::optional<std::vector<int32_t>> chat = ChatPrompt(f.Get("messages"), ctx, f, std::move(tools));
      if (!chat) return f.error();
      ids = std::move(*chat);
    } else {
      const char* field = llama_cpp ? "content" : "prompt";
      if (!f.Has(field)) return Invalid("prompt", "prompt (or content, or messages) is required");
      const std::string text = f.String(field, "");
      tokenizer::EncodeOptions options;
      options.parse_special = f.Bool("parse_special", ctx.parse_special);
      const bool bos = llama_cpp ? f.Bool("add_special", false) : f.Bool("add_special_tokens", true);
      if (!bos) options.add_bos = false;
      if (f.error()) return f.error();
      StatusOr<std::vector<int32_t>> encoded = ctx.tok->Encode(text, options);
      if (!encoded.ok()) return Invalid(field, encoded.status().message());
      ids = std::move(*encoded);
    }
    const bool pieces = f.Bool("with_pieces", false) || f.Bool("return_token_strs", false);
    if (f.error()) return f.error();
    Json tokens = Json::array(), strs = Json::array();
    for (int32_t id : ids) {
      const std::string text = TextOf(*ctx.tok, id).text;
      strs.push_back(text);
      tokens.push_back(llama_cpp && pieces ? Json{{"id", id}, {"piece", text}} : Json(id));
    }
    *out = {{"tokens", tokens}, {"count", ids.size()}, {"max_model_len", ctx.context_length},
            {"token_strs", pieces && !llama_cpp ? strs : Json()}};
    return std::nullopt;
  });
}

std::optional<ApiError> ParseNextToken(const std::string& body, const ApiContext& ctx, GenerationSpec* spec) {
  return WithBody(body, [&](const Json& j) -> std::optional<ApiError> {
    Fields f(j);
    // Not OpenAI's endpoint: a field it does not know is an error, not ignored.
    for (const auto& [key, value] : j.items()) {
      static const std::set<std::string> kOwn = {"model", "prompt", "messages", "parse_special",
                                                 "add_generation_prompt", "top", "temperatures"};
      bool known = kOwn.count(key) > 0;
      for (const SamplerParam& e : SamplerParamTable()) known |= key == e.name;
      if (!known) return Invalid(key, "unknown field '" + key + "' (see docs/server.md, POST /next_token)");
    }
    if (auto e = CheckModel(f, ctx)) return e;
    if (f.Has("messages")) {
      std::optional<std::vector<int32_t>> chat = ChatPrompt(f.Get("messages"), ctx, f);
      if (!chat) return f.error();
      spec->prompts = {std::move(*chat)};
    } else {
      if (!f.Has("prompt")) return Invalid("prompt", "prompt (or messages) is required");
      const Json& prompt = f.Get("prompt");
      if (!prompt.is_string() && !(prompt.is_array() && !prompt.empty() && prompt[0].is_number())) {
        return Invalid("prompt", "prompt must be one string or a list of token ids");
      }
      std::vector<std::string> texts;
      std::optional<std::vector<std::vector<int32_t>>> prompts = CompletionPrompts(prompt, ctx, f, &texts);
      if (!prompts) return f.error();
      spec->prompts = std::move(*prompts);
    }
    if (spec->prompts[0].empty()) return Invalid("prompt", "the prompt is empty (no tokens)");
    if (spec->prompts[0].size() > ctx.context_length) {
      return Invalid("prompt", "the prompt has " + std::to_string(spec->prompts[0].size()) +
                                   " tokens; the context holds " + std::to_string(ctx.context_length));
    }
    ReadSampling(f, ctx, &spec->generate.sampler);
    spec->view_rows = size_t(f.Integer("top", 10, 1, std::min<int64_t>(kMaxViewRows, int64_t(ctx.n_vocab))));
    if (f.error()) return f.error();
    if (f.Has("temperatures")) {
      const Json& ts = f.Get("temperatures");
      if (!ts.is_array() || ts.empty() || ts.size() > 16) {
        return Invalid("temperatures", "temperatures must be a list of 1 to 16 numbers");
      }
      for (size_t i = 0; i < ts.size(); ++i) {
        const double t = ts[i].is_number() ? ts[i].get<double>() : NAN;
        if (!(t >= 0 && t <= 2)) {
          return Invalid("temperatures", "temperatures[" + std::to_string(i) + "] = " + ts[i].dump() +
                                             " is not a number in [0, 2]");
        }
        spec->view_temperatures.push_back(t);
      }
    } else {
      spec->view_temperatures = {f.Number("temperature", 1.0, 0, 2)};  // as sent (the sampler holds a float)
    }
    spec->n = 1;
    spec->generate.max_tokens = 0;
    return std::nullopt;
  });
}

Json NextTokenJson(const GenerationSpec& spec, const std::vector<analysis::NextTokenView>& views,
                   const ApiContext& ctx) {
  Json prompt = Json::array();
  for (int32_t id : spec.prompts[0]) prompt.push_back({{"id", id}, {"token", TextOf(*ctx.tok, id).text}});
  Json out = Json::array();
  for (const analysis::NextTokenView& v : views) {
    Json top = Json::array();
    for (size_t r = 0; r < v.top.size(); ++r) {
      const analysis::NextTokenRow& row = v.top[r];
      top.push_back({{"rank", r + 1},
                     {"id", row.token},
                     {"token", TextOf(*ctx.tok, row.token).text},
                     {"logit", row.logit},
                     {"logprob", row.logprob},
                     {"p", row.p},
                     {"cumulative_p", row.cumulative_p},
                     {"kept", row.kept},
                     {"kept_p", row.kept_p()},
                     {"kept_logprob", row.kept ? Json(row.kept_logprob) : Json()}});
    }
    out.push_back({{"temperature", v.temperature},
                   {"entropy", v.entropy},
                   {"n_kept", v.n_kept},
                   {"kept_mass", v.kept_mass},
                   {"kept_entropy", v.kept_entropy},
                   {"top", std::move(top)}});
  }
  return {{"object", "next_token"}, {"model", ctx.model_id}, {"prompt_tokens", std::move(prompt)},
          {"views", std::move(out)}};
}

std::optional<ApiError> Detokenize(const std::string& body, const ApiContext& ctx, Json* out) {
  return WithBody(body, [&](const Json& j) -> std::optional<ApiError> {
    Fields f(j);
    if (!f.Has("tokens") || !f.Get("tokens").is_array()) {
      return Invalid("tokens", "tokens must be an array of token ids");
    }
    std::vector<int32_t> ids;
    const Json& tokens = f.Get("tokens");
    for (size_t i = 0; i < tokens.size(); ++i) {
      const Json& t = tokens[i];
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= int64_t(ctx.n_vocab)) {
        return Invalid("tokens", "tokens[" + std::to_string(i) + "] = " + t.dump() + " is not a token id in [0, " +
                                     std::to_string(ctx.n_vocab) + ")");
      }
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    tokenizer::DecodeOptions options;
    options.render_special = true;  // what /tokenize parsed, it writes back
    options.strip_space_prefix = false;
    StatusOr<std::string> text = ctx.tok->Decode(ids, options);
    if (!text.ok()) return Invalid("tokens", text.status().message());
    const std::string clean = tokenizer::SanitizeUtf8(*text);
    *out = {{"prompt", clean}, {"content", clean}};  // vLLM's name, llama.cpp's
    return std::nullopt;
  });
}

namespace {

std::optional<ApiError> Parse(const Json& j, Endpoint endpoint, const ApiContext& ctx, ApiRequest* out) {
  Fields f(j);
  const bool chat = endpoint == Endpoint::kChat;
  out->endpoint = endpoint;
  GenerationSpec& spec = out->spec;

  if (auto e = CheckModel(f, ctx)) return e;
  for (const char* unsupported : {"suffix", "tools", "functions", "tool_choice", "audio", "prediction"}) {
    if (f.Has(unsupported)) return Invalid(unsupported, std::string(unsupported) + " is not supported by logitkit");
  }
  if (f.Integer("best_of", 1, 1, 1) != 1 || f.error()) return f.error();

  if (chat) {
    if (!f.Has("messages")) return Invalid("messages", "messages is required");
    std::optional<std::vector<int32_t>> prompt = ChatPrompt(f.Get("messages"), ctx, f);
    if (!prompt) return f.error();
    spec.prompts.push_back(std::move(*prompt));
  } else {
    if (!f.Has("prompt")) return Invalid("prompt", "prompt is required");
    std::optional<std::vector<std::vector<int32_t>>> prompts =
        CompletionPrompts(f.Get("prompt"), ctx, f, &out->prompt_texts);
    if (!prompts) return f.error();
    spec.prompts = std::move(*prompts);
  }
  const char* prompt_field = chat ? "messages" : "prompt";
  size_t longest = 0;
  for (size_t i = 0; i < spec.prompts.size(); ++i) {
    const std::string which = spec.prompts.size() > 1 ? "prompt " + std::to_string(i) : "the prompt";
    if (spec.prompts[i].empty()) return Invalid(prompt_field, which + " is empty (no tokens)");
    if (spec.prompts[i].size() >= ctx.context_length) {
      return Invalid(prompt_field, which + " has " + std::to_string(spec.prompts[i].size()) +
                                       " tokens; the context holds " + std::to_string(ctx.context_length));
    }
    longest = std::max(longest, spec.prompts[i].size());
  }
  const size_t room = ctx.context_length - longest;

  ReadSampling(f, ctx, &spec.generate.sampler);
  spec.generate.ignore_eos = f.Bool("ignore_eos", false);
  spec.n = int(f.Integer("n", 1, 1, ctx.max_n));
  if (!f.error() && spec.sequences() > size_t(ctx.max_n)) {
    return Invalid("n", std::to_string(spec.prompts.size()) + " prompts x n = " + std::to_string(spec.n) +
                            " need " + std::to_string(spec.sequences()) + " sequences; at most " +
                            std::to_string(ctx.max_n) + " run at once (--parallel)");
  }
  const char* max_name = chat && f.Has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  // max_tokens 0 scores the prompt: completions with echo (logprobs of the prompt only).
  const bool echo = !chat && f.Has("echo") && f.Get("echo").is_boolean() && f.Get("echo").get<bool>();
  const int64_t max_tokens = f.Integer(max_name, chat ? int64_t(room) : 16, echo ? 0 : 1, INT32_MAX);
  if (f.error()) return f.error();
  if (size_t(max_tokens) > room) {
    return Invalid(max_name, std::string(max_name) + " = " + std::to_string(max_tokens) + ": the prompt's " +
                                 std::to_string(longest) + " tokens + " + std::to_string(max_tokens) +
                                 " exceed the context of " + std::to_string(ctx.context_length) + " tokens");
  }
  spec.generate.max_tokens = size_t(max_tokens);
  if (f.Has("seed")) {
    // Any integer in [-2^63, 2^64); a negative seed is taken modulo 2^64, as
    // the CLI and Python take it.
    const Json& seed = f.Get("seed");
    spec.generate.seed = seed.is_number_unsigned() ? seed.get<uint64_t>()
                                                   : uint64_t(f.Integer("seed", 0, INT64_MIN, INT64_MAX));
  } else {
    std::random_device entropy;
    spec.generate.seed = (uint64_t(entropy()) << 32) ^ entropy();
  }
  ReadStops(f, &spec.generate.stop);
  if (f.error()) return f.error();
  if (auto e = ReadConstraint(f, ctx, &spec.generate)) return e;
  spec.generate.strip_space_prefix = chat;  // a completion continues the prompt's text: keep its spaces
  out->stream = f.Bool("stream", false);
  if (f.Has("stream_options")) {
    const Json& so = f.Get("stream_options");
    if (!so.is_object()) return Invalid("stream_options", "stream_options must be an object");
    if (so.contains("include_usage") && !so["include_usage"].is_boolean() && !so["include_usage"].is_null()) {
      return Invalid("stream_options", "stream_options.include_usage must be a boolean");
    }
    out->include_usage = so.contains("include_usage") && so["include_usage"].is_boolean() &&
                         so["include_usage"].get<bool>();
  }
  if (chat) {
    out->logprobs = f.Bool("logprobs", false);
    const int64_t top = f.Integer("top_logprobs", 0, 0, kMaxTopLogprobs);
    if (f.Has("top_logprobs") && !out->logprobs && !f.error()) {
      return Invalid("top_logprobs", "top_logprobs needs logprobs: true");
    }
    spec.top_logprobs = out->logprobs ? int(top) : -1;
  } else {
    out->echo = f.Bool("echo", false);
    if (f.Has("logprobs")) {
      out->logprobs = true;
      spec.top_logprobs = int(f.Integer("logprobs", 0, 0, kMaxTopLogprobs));
    }
    spec.prompt_logprobs = out->echo && out->logprobs;
  }
  spec.logprobs_mode = ReadMode(f);
  if (f.error()) return f.error();
  return std::nullopt;
}

}  // namespace

TokenText TextOf(const tokenizer::Tokenizer& tok, int32_t token) {
  StatusOr<std::string> piece = tok.TokenToPiece(token, /*render_special=*/true);
  TokenText t;
  const std::string raw = piece.ok() ? *piece : std::string();
  t.bytes.assign(raw.begin(), raw.end());
  t.text = tokenizer::SanitizeUtf8(raw);
  return t;
}

ResponseWriter::ResponseWriter(const ApiRequest& request, const ApiContext& ctx, std::string id, int64_t created)
    : request_(request), ctx_(ctx), id_(std::move(id)), created_(created),
      prompts_(request.spec.prompts.size()), choices_(request.spec.sequences()),
      started_(request.spec.sequences(), false), offsets_(request.spec.sequences()) {}

const std::string& ResponseWriter::EchoText(size_t choice) const {
  static const std::string kNone;
  const size_t p = choice / size_t(request_.spec.n);
  return request_.echo && p < request_.prompt_texts.size() ? request_.prompt_texts[p] : kNone;
}

Json ResponseWriter::Value(float v) {
  if (std::isnan(v)) return Json();
  if (std::isinf(v)) return v < 0 ? kNegInfLogprob : -kNegInfLogprob;
  return v;
}

void ResponseWriter::Add(const Event& e) {
  switch (e.kind) {
    case Event::Kind::kPrompt: prompts_[size_t(e.choice)] = e.prompt; break;
    case Event::Kind::kToken: {
      Choice& c = choices_[size_t(e.choice)];
      c.tokens.push_back(e.token);
      c.text += e.text;
      ++completion_tokens_;
      break;
    }
    case Event::Kind::kFinish: {
      Choice& c = choices_[size_t(e.choice)];
      c.text += e.text;
      c.finish_reason = e.finish_reason;
      c.stop_string = e.stop_string;
      break;
    }
    case Event::Kind::kError:
    case Event::Kind::kView: break;  // (views are /next_token's, never a completion's)
  }
}

Json ResponseWriter::Envelope(const char* object) const {
  return {{"id", id_}, {"object", object}, {"created", created_}, {"model", ctx_.model_id},
          {"system_fingerprint", "logitkit"}};
}

Json ResponseWriter::Usage() const {
  size_t prompt = 0;  // each prompt once, whatever n is
  for (const std::vector<int32_t>& p : request_.spec.prompts) prompt += p.size();
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion_tokens_},
          {"total_tokens", prompt + completion_tokens_}};
}

Json ResponseWriter::CompletionLogprobs(const std::vector<TokenInfo>& tokens, TextOffset* offset_io) const {
  Json texts = Json::array(), values = Json::array(), tops = Json::array(), offsets = Json::array();
  Json byte_offsets = Json::array();
  TextOffset& offset = *offset_io;
  for (const TokenInfo& t : tokens) {
    const TokenText tt = TextOf(*ctx_.tok, t.token);
    texts.push_back(tt.text);
    values.push_back(Value(t.value));
    offsets.push_back(offset.chars);
    byte_offsets.push_back(offset.bytes);
    // A character is counted at its first byte, so a character split across
    // tokens counts once, at the token that starts it.
    offset.chars += size_t(std::count_if(tt.bytes.begin(), tt.bytes.end(), [](uint8_t b) { return (b & 0xC0) != 0x80; }));
    offset.bytes += tt.bytes.size();
    if (std::isnan(t.value)) {
      tops.push_back(Json());
      continue;
    }
    // OpenAI: the top `logprobs` tokens, and the chosen token too ("up to
    // logprobs + 1 elements"), so logprobs: 0 still shows the chosen one.
    Json top = Json::object();
    for (const Alternative& a : t.top) {
      const std::string text = TextOf(*ctx_.tok, a.token).text;
      if (!top.contains(text)) top[text] = Value(a.value);
    }
    if (!top.contains(tt.text)) top[tt.text] = Value(t.value);
    tops.push_back(top);
  }
  return {{"tokens", texts}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets},
          {"text_offset_bytes", byte_offsets}};
}

Json ResponseWriter::ChatLogprobs(const std::vector<TokenInfo>& tokens) const {
  Json content = Json::array();
  for (const TokenInfo& t : tokens) {
    const TokenText tt = TextOf(*ctx_.tok, t.token);
    Json top = Json::array();
    for (const Alternative& a : t.top) {
      const TokenText at = TextOf(*ctx_.tok, a.token);
      top.push_back({{"token", at.text}, {"logprob", Value(a.value)}, {"bytes", at.bytes}});
    }
    content.push_back({{"token", tt.text}, {"logprob", Value(t.value)}, {"bytes", tt.bytes}, {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", Json()}};
}

Json ResponseWriter::Build() const {
  const bool chat = request_.endpoint == Endpoint::kChat;
  Json out = Envelope(chat ? "chat.completion" : "text_completion");
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    Json choice = {{"index", i}, {"finish_reason", c.finish_reason}, {"stop_reason", StopReason(c.stop_string)}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", Json()}};
      choice["logprobs"] = request_.logprobs ? ChatLogprobs(c.tokens) : Json();
    } else {
      choice["text"] = EchoText(i) + c.text;
      if (request_.logprobs) {
        std::vector<TokenInfo> all = prompts_[i / size_t(request_.spec.n)];
        all.insert(all.end(), c.tokens.begin(), c.tokens.end());
        TextOffset offset;
        choice["logprobs"] = CompletionLogprobs(all, &offset);
      } else {
        choice["logprobs"] = Json();
      }
    }
    choices.push_back(choice);
  }
  out["choices"] = choices;
  out["usage"] = Usage();
  return out;
}

std::vector<Json> ResponseWriter::Chunks(const Event& e) {
  Add(e);
  const bool chat = request_.endpoint == Endpoint::kChat;
  std::vector<Json> chunks;
  auto chunk = [&](int index, Json choice) {
    Json c = Envelope(chat ? "chat.completion.chunk" : "text_completion");
    choice["index"] = index;
    c["choices"] = Json::array({choice});
    if (request_.include_usage) c["usage"] = Json();  // OpenAI: null on every chunk but the last
    chunks.push_back(c);
  };
  if (e.kind == Event::Kind::kPrompt) {
    if (chat) return chunks;
    // Completions with echo: the prompt, with its logprobs, as the first chunk
    // of each of its choices.
    const int n = request_.spec.n;
    for (int i = e.choice * n; i < (e.choice + 1) * n; ++i) {
      const std::vector<TokenInfo>& prompt = prompts_[size_t(e.choice)];
      chunk(i, {{"text", EchoText(size_t(i))},
                {"logprobs", request_.logprobs ? CompletionLogprobs(prompt, &offsets_[size_t(i)]) : Json()},
                {"finish_reason", Json()}});
      started_[size_t(i)] = true;
    }
    return chunks;
  }
  if (e.kind == Event::Kind::kError) return chunks;
  if (chat && !started_[size_t(e.choice)]) {
    chunk(e.choice, {{"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", Json()},
                     {"finish_reason", Json()}});
    started_[size_t(e.choice)] = true;
  }
  if (!chat && request_.echo && !started_[size_t(e.choice)] && !request_.logprobs) {
    chunk(e.choice, {{"text", EchoText(size_t(e.choice))}, {"logprobs", Json()}, {"finish_reason", Json()}});
    started_[size_t(e.choice)] = true;
  }
  const std::vector<TokenInfo> one = e.kind == Event::Kind::kToken ? std::vector<TokenInfo>{e.token}
                                                                     : std::vector<TokenInfo>{};
  Json logprobs;
  if (request_.logprobs && !one.empty()) {
    logprobs = chat ? ChatLogprobs(one) : CompletionLogprobs(one, &offsets_[size_t(e.choice)]);
  }
  const Json finish = e.kind == Event::Kind::kFinish ? Json(e.finish_reason) : Json();
  if (e.kind == Event::Kind::kToken || !e.text.empty()) {
    if (chat) {
      chunk(e.choice, {{"delta", {{"content", e.text}}}, {"logprobs", logprobs}, {"finish_reason", Json()}});
    } else {
      chunk(e.choice, {{"text", e.text}, {"logprobs", logprobs}, {"finish_reason", Json()}});
    }
  }
  if (e.kind == Event::Kind::kFinish) {
    const Json stop = StopReason(e.stop_string);
    if (chat) {
      chunk(e.choice, {{"delta", Json::object()}, {"logprobs", Json()}, {"finish_reason", finish}, {"stop_reason", stop}});
    } else {
      chunk(e.choice, {{"text", ""}, {"logprobs", Json()}, {"finish_reason", finish}, {"stop_reason", stop}});
    }
  }
  return chunks;
}

Json ResponseWriter::UsageChunk() const {
  Json c = Envelope(request_.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion");
  c["choices"] = Json::array();
  c["usage"] = Usage();
  return c;
}

}  // namespace logitkit::server
