// CheckJsonSchemaSupported (logitkit/structured.h): XGrammar's JSON Schema
// converter skips keywords it cannot enforce with at most a log line, which
// would let a generation break the schema it was given. We refuse them here,
// naming the keyword and where it is, so a request is either enforced in full
// or rejected.
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "logitkit/structured.h"

namespace logitkit {
namespace {

using Json = nlohmann::json;

// Keywords XGrammar 0.2.8 enforces (cpp/json_schema_converter.cc), and those
// that only annotate.
const std::set<std::string>& Supported() {
  static const std::set<std::string> keywords = {
      "type", "properties", "required", "additionalProperties", "unevaluatedProperties",
      "patternProperties", "propertyNames", "minProperties", "maxProperties",
      "items", "prefixItems", "unevaluatedItems", "minItems", "maxItems",
      "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
      "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
      "minLength", "maxLength", "pattern", "format",
      // Annotations: no effect on what validates.
      "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
      "$comment", "$schema", "$id"};
  return keywords;
}

// The formats XGrammar turns into a pattern; any other it would ignore.
const std::set<std::string>& Formats() {
  static const std::set<std::string> formats = {
      "email", "date", "time", "date-time", "duration", "ipv4", "ipv6", "hostname", "uuid",
      "uri", "uri-reference", "uri-template", "json-pointer", "relative-json-pointer"};
  return formats;
}

std::string Escape(const std::string& key) {  // RFC 6901
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string Where(const std::string& pointer) { return pointer.empty() ? "/" : pointer; }

Status Unsupported(const std::string& what, const std::string& pointer) {
  return InvalidArgumentError("json_schema: " + what + " at " + Where(pointer) + " is not supported");
}

bool HasType(const Json& schema, const std::string& type) {
  const auto it = schema.find("type");
  if (it == schema.end()) return false;
  if (it->is_string()) return *it == type;
  if (it->is_array()) {
    for (const Json& t : *it) if (t == type) return true;
  }
  return false;
}

Status Check(const Json& schema, const std::string& pointer, int depth) {
  if (depth > 64) return Unsupported("nesting deeper than 64 levels", pointer);
  if (schema.is_boolean()) return OkStatus();
  if (!schema.is_object()) {
    return InvalidArgumentError("json_schema: the schema at " + Where(pointer) +
                                " is a " + std::string(schema.type_name()) +
                                "; a schema is an object or a boolean");
  }
  for (const auto& [key, value] : schema.items()) {
    if (!Supported().count(key)) return Unsupported("keyword '" + key + "'", pointer);
  }
  if (schema.contains("format")) {
    const Json& f = schema["format"];
    if (!f.is_string() || !Formats().count(f.get<std::string>())) {
      return Unsupported("format " + f.dump(), pointer);
    }
  }
  if ((schema.contains("pattern") || schema.contains("format")) &&
      (schema.contains("minLength") || schema.contains("maxLength"))) {
    return Unsupported(std::string("minLength/maxLength together with ") +
                           (schema.contains("pattern") ? "pattern" : "format"),
                       pointer);
  }
  if (schema.contains("multipleOf") && !HasType(schema, "integer")) {
    return Unsupported("multipleOf on a type other than integer", pointer);
  }
  if (schema.contains("allOf") && schema["allOf"].is_array() && schema["allOf"].size() > 1) {
    return Unsupported("allOf with more than one schema", pointer);
  }
  for (const char* key : {"properties", "patternProperties", "$defs", "definitions"}) {
    if (!schema.contains(key)) continue;
    const Json& map = schema[key];
    if (!map.is_object()) {
      return InvalidArgumentError("json_schema: " + std::string(key) + " at " + Where(pointer) +
                                  " must be an object");
    }
    for (const auto& [name, sub] : map.items()) {
      LOGITKIT_RETURN_IF_ERROR(Check(sub, pointer + "/" + key + "/" + Escape(name), depth + 1));
    }
  }
  for (const char* key : {"items", "additionalProperties", "unevaluatedProperties",
                          "unevaluatedItems", "propertyNames"}) {
    if (!schema.contains(key)) continue;
    const Json& sub = schema[key];
    if (sub.is_array()) {  // draft 4-7 tuple form of items
      for (size_t i = 0; i < sub.size(); ++i) {
        LOGITKIT_RETURN_IF_ERROR(Check(sub[i], pointer + "/" + key + "/" + std::to_string(i), depth + 1));
      }
    } else {
      LOGITKIT_RETURN_IF_ERROR(Check(sub, pointer + "/" + key, depth + 1));
    }
  }
  for (const char* key : {"prefixItems", "anyOf", "oneOf", "allOf"}) {
    if (!schema.contains(key)) continue;
    const Json& list = schema[key];
    if (!list.is_array() || list.empty()) {
      return InvalidArgumentError("json_schema: " + std::string(key) + " at " + Where(pointer) +
                                  " must be a non-empty array of schemas");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      LOGITKIT_RETURN_IF_ERROR(Check(list[i], pointer + "/" + key + "/" + std::to_string(i), depth + 1));
    }
  }
  return OkStatus();
}

}  // namespace

Status CheckJsonSchemaSupported(const std::string& schema) {
  Json parsed;
  try {
    parsed = Json::parse(schema);
  } catch (const Json::parse_error& e) {
    return InvalidArgumentError("json_schema is not valid JSON: byte " + std::to_string(e.byte) +
                                ": " + e.what());
  }
  return Check(parsed, "", 0);
}

}  // namespace logitkit
