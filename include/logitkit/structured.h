// Structured output: what a generation's text must match (JSON, a JSON
// Schema, a regex, one of fixed choices, a grammar), turned into a per-step
// allowed-token bitmask for the decode head (RowState::allowed_mask).
//
// The engine is XGrammar (the structured-output engine of vLLM, SGLang and
// TensorRT-LLM), built from its pinned source (scripts/fetch-xgrammar). This
// layer gives it our vocabulary (each token's bytes as it decodes; control
// tokens never match text; the end-of-generation tokens end the match), checks
// what XGrammar would silently ignore, and caches compiled constraints.
//
// Semantics (docs/structured-output.md; src/structured/*_test.cc):
//   - the text is the concatenated bytes of the generated tokens; the matcher
//     allows a token iff the text stays a prefix of some string the
//     constraint accepts, and the end-of-generation tokens only once the text
//     is complete. A sequence therefore ends "stop" with matching text, or
//     "length" when max_tokens comes first (its text then a prefix).
//   - JSON is generated compactly: no whitespace beyond ", " and ": ".
//   - json_object: any JSON object. json_schema: an instance of the schema,
//     with no properties beyond those listed (XGrammar's strict mode) unless
//     additionalProperties allows them.
//   - errors name the part of the request at fault: a schema keyword XGrammar
//     does not enforce (e.g. "uniqueItems at /properties/tags"), a syntax
//     error with its place, an empty choice, and a constraint no token of the
//     vocabulary can start. Nothing falls back to free text.
#ifndef LOGITKIT_STRUCTURED_H_
#define LOGITKIT_STRUCTURED_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "logitkit/status.h"
#include "logitkit/tokenizer.h"

namespace logitkit {

struct Constraint {
  enum class Kind : uint8_t { kNone, kJsonObject, kJsonSchema, kRegex, kChoice, kGrammar };
  Kind kind = Kind::kNone;
  // kJsonSchema: the schema as JSON text; kRegex: the regular expression;
  // kGrammar: an EBNF (GBNF) grammar whose root rule is `root`.
  std::string source;
  std::vector<std::string> choices;  // kChoice: the text is exactly one of them

  bool active() const { return kind != Kind::kNone; }
  // The cache key: kind and content.
  std::string Key() const;
};

// "none", "json_object", "json_schema", "regex", "choice", "grammar".
const char* ConstraintKindName(Constraint::Kind kind);

// A constraint compiled for one vocabulary (immutable, shared by sequences).
class CompiledConstraint;

// One sequence's place in a compiled constraint.
class ConstraintMatcher {
 public:
  explicit ConstraintMatcher(std::shared_ptr<const CompiledConstraint> compiled);
  ~ConstraintMatcher();
  ConstraintMatcher(ConstraintMatcher&&) noexcept;
  ConstraintMatcher& operator=(ConstraintMatcher&&) noexcept;

  size_t n_vocab() const;
  size_t mask_words() const { return (n_vocab() + 31) / 32; }
  // Writes the tokens allowed next, in the layout of RowState::allowed_mask.
  // Errors: mask.size() != mask_words(); terminated() (nothing may follow).
  Status FillMask(std::span<uint32_t> mask);
  // Advances past `token`; an error if the constraint does not allow it.
  Status Accept(int32_t token);
  // The text so far is complete (an end token may follow).
  bool complete() const;
  // An end token was accepted: nothing more can follow.
  bool terminated() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Compiles constraints for one vocabulary and keeps the most recently used
// `capacity` of them (an LRU keyed by Constraint::Key()). Thread-safe.
class ConstraintCompiler {
 public:
  // tok must outlive the compiler. n_vocab: the model's (>= tok.n_vocab();
  // ids past the tokenizer's never match). end_tokens: what ends a generation.
  ConstraintCompiler(const tokenizer::Tokenizer& tok, size_t n_vocab,
                     std::vector<int32_t> end_tokens, size_t capacity = 32);
  ~ConstraintCompiler();

  // The compiled constraint, from the cache or compiled now. Errors
  // (kInvalidArgument) name the constraint's kind and the place at fault.
  // REQUIRES: constraint.active().
  StatusOr<std::shared_ptr<const CompiledConstraint>> Compile(const Constraint& constraint);

  struct CacheStats {
    size_t hits = 0, misses = 0, entries = 0, capacity = 0;
  };
  CacheStats cache_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks a JSON Schema for keywords XGrammar parses but does not enforce
// (not, if/then/else, uniqueItems, contains, dependentRequired, ...; see
// schema_check.cc), and for malformed JSON. The message names the keyword
// and its JSON pointer, e.g. "keyword 'uniqueItems' at /properties/tags is
// not supported".
Status CheckJsonSchemaSupported(const std::string& schema);

}  // namespace logitkit

#endif  // LOGITKIT_STRUCTURED_H_
