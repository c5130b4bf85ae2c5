// Constraints compiled by XGrammar for our vocabulary (logitkit/structured.h).
#include <algorithm>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <dlpack/dlpack.h>
#include <xgrammar/xgrammar.h>

#include "logitkit/structured.h"

// XGrammar's log (XGRAMMAR_LOG_CUSTOMIZE, see xgrammar.cmake). A fatal
// message is an exception with the message alone; a warning goes to the
// thread's capture while it compiles a constraint, else to stderr.
namespace xgrammar {
namespace {
thread_local std::vector<std::string>* captured_warnings = nullptr;
}  // namespace

[[noreturn]] void LogFatalImpl(const std::string&, int, const std::string& message) {
  throw std::runtime_error(message);
}

void LogMessageImpl(const std::string& file, int lineno, int level, const std::string& message) {
  constexpr int kWarning = 2;  // XGRAMMAR_LOG_LEVEL_WARNING
  if (level < kWarning) return;
  if (captured_warnings != nullptr) {
    captured_warnings->push_back(message);
  } else {
    std::cerr << "xgrammar: " << file << ":" << lineno << ": " << message << "\n";
  }
}
}  // namespace xgrammar

namespace logitkit {

class CompiledConstraint {
 public:
  CompiledConstraint(xgrammar::CompiledGrammar grammar, size_t n_vocab)
      : grammar(std::move(grammar)), n_vocab(n_vocab) {}
  xgrammar::CompiledGrammar grammar;
  size_t n_vocab;
};

namespace {

// A string literal of XGrammar's EBNF: quotes, backslashes and control bytes
// escaped; other bytes (UTF-8 included) as they are.
std::string EbnfLiteral(const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

Status CheckChoices(const std::vector<std::string>& choices) {
  if (choices.empty()) return InvalidArgumentError("choice: the list is empty");
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].empty()) return InvalidArgumentError("choice[" + std::to_string(i) + "] is empty");
  }
  return OkStatus();
}

// XGrammar's messages say what and where; ours start with the kind.
Status CompileError(const Constraint& c, std::string what) {
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  return InvalidArgumentError(std::string(ConstraintKindName(c.kind)) + ": " + what);
}

// Collects XGrammar's warnings on this thread while alive.
class CaptureWarnings {
 public:
  CaptureWarnings() { xgrammar::captured_warnings = &warnings_; }
  ~CaptureWarnings() { xgrammar::captured_warnings = nullptr; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::vector<std::string> warnings_;
};

}  // namespace

const char* ConstraintKindName(Constraint::Kind kind) {
  switch (kind) {
    case Constraint::Kind::kNone: return "none";
    case Constraint::Kind::kJsonObject: return "json_object";
    case Constraint::Kind::kJsonSchema: return "json_schema";
    case Constraint::Kind::kRegex: return "regex";
    case Constraint::Kind::kChoice: return "choice";
    case Constraint::Kind::kGrammar: return "grammar";
  }
  return "unknown";
}

std::string Constraint::Key() const {
  std::string key = ConstraintKindName(kind);
  key += '\0';
  key += source;
  for (const std::string& choice : choices) {
    key += '\0';
    key += std::to_string(choice.size());  // length-prefixed: no two lists collide
    key += ':';
    key += choice;
  }
  return key;
}

// ---- ConstraintMatcher

struct ConstraintMatcher::Impl {
  std::shared_ptr<const CompiledConstraint> compiled;
  xgrammar::GrammarMatcher matcher;
};

ConstraintMatcher::ConstraintMatcher(std::shared_ptr<const CompiledConstraint> compiled)
    : impl_(std::make_unique<Impl>(Impl{compiled, xgrammar::GrammarMatcher(compiled->grammar)})) {}
ConstraintMatcher::~ConstraintMatcher() = default;
ConstraintMatcher::ConstraintMatcher(ConstraintMatcher&&) noexcept = default;
ConstraintMatcher& ConstraintMatcher::operator=(ConstraintMatcher&&) noexcept = default;

size_t ConstraintMatcher::n_vocab() const { return impl_->compiled->n_vocab; }

Status ConstraintMatcher::FillMask(std::span<uint32_t> mask) {
  if (mask.size() != mask_words()) {
    return InvalidArgumentError("the mask has " + std::to_string(mask.size()) + " words; n_vocab = " +
                                std::to_string(n_vocab()) + " needs " + std::to_string(mask_words()));
  }
  if (terminated()) return FailedPreconditionError("the constraint accepted an end token: no token can follow");
  int64_t shape[1] = {static_cast<int64_t>(mask.size())};
  DLTensor tensor{};
  tensor.data = mask.data();
  tensor.device = DLDevice{kDLCPU, 0};
  tensor.ndim = 1;
  tensor.dtype = xgrammar::GetBitmaskDLType();
  tensor.shape = shape;
  try {
    impl_->matcher.FillNextTokenBitmask(&tensor);
  } catch (const std::exception& e) {  // XGrammar's checks: never across our API
    return InternalError(std::string("XGrammar: ") + e.what());
  }
  return OkStatus();
}

Status ConstraintMatcher::Accept(int32_t token) {
  bool accepted = false;
  try {
    accepted = !terminated() && impl_->matcher.AcceptToken(token);
  } catch (const std::exception& e) {
    return InternalError(std::string("XGrammar: ") + e.what());
  }
  if (accepted) return OkStatus();
  return FailedPreconditionError("the constraint does not allow token " + std::to_string(token) + " here");
}

bool ConstraintMatcher::complete() const { return impl_->matcher.IsCompleted(); }
bool ConstraintMatcher::terminated() const { return impl_->matcher.IsTerminated(); }

// ---- ConstraintCompiler

struct ConstraintCompiler::Impl {
  const tokenizer::Tokenizer* tok;
  size_t n_vocab;
  std::vector<int32_t> end_tokens;
  size_t capacity;

  std::mutex mu;
  std::unique_ptr<xgrammar::GrammarCompiler> compiler;  // built on first use
  // Most recently used first; the map points into the list.
  using Entry = std::pair<std::string, std::shared_ptr<const CompiledConstraint>>;
  std::list<Entry> lru;
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  CacheStats stats;

  // Our vocabulary as XGrammar sees it: each token's bytes as it decodes
  // (byte-level BPE unmapped, SentencePiece's "▁" as a space, <0xXX> as its
  // byte), "" for control and unused tokens (XGrammar's mark for a special
  // token, which never matches text), and ids past the tokenizer's special.
  xgrammar::GrammarCompiler& Compiler() {
    if (compiler) return *compiler;
    std::vector<std::string> vocab(tok->n_vocab());
    for (size_t id = 0; id < vocab.size(); ++id) {
      const auto type = tok->token_type(static_cast<tokenizer::TokenId>(id));
      if (type == tokenizer::TokenType::kControl || type == tokenizer::TokenType::kUnused ||
          type == tokenizer::TokenType::kUnknown) {
        continue;
      }
      StatusOr<std::string> piece = tok->TokenToPiece(static_cast<tokenizer::TokenId>(id));
      if (piece.ok()) vocab[id] = *std::move(piece);
    }
    xgrammar::TokenizerInfo info(vocab, xgrammar::VocabType::RAW, static_cast<int>(n_vocab),
                                 end_tokens, /*add_prefix_space=*/false);
    const int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
    compiler = std::make_unique<xgrammar::GrammarCompiler>(info, threads, /*cache_enabled=*/false);
    return *compiler;
  }

  StatusOr<xgrammar::CompiledGrammar> CompileNew(const Constraint& c) {
    using Kind = Constraint::Kind;
    if (c.kind == Kind::kJsonSchema) LOGITKIT_RETURN_IF_ERROR(CheckJsonSchemaSupported(c.source));
    if (c.kind == Kind::kChoice) LOGITKIT_RETURN_IF_ERROR(CheckChoices(c.choices));
    if ((c.kind == Kind::kRegex || c.kind == Kind::kGrammar) && c.source.empty()) {
      return InvalidArgumentError(std::string(ConstraintKindName(c.kind)) + " is empty");
    }
    // Compact JSON: no whitespace beyond the separators ", " and ": ".
    auto json = [&](const std::string& schema) {
      return Compiler().CompileJSONSchema(schema, /*any_whitespace=*/false, std::nullopt,
                                          std::nullopt, /*strict_mode=*/true);
    };
    CaptureWarnings capture;
    std::optional<xgrammar::CompiledGrammar> grammar;
    try {
      switch (c.kind) {
        case Kind::kJsonObject: grammar = json(R"({"type": "object"})"); break;
        case Kind::kJsonSchema: grammar = json(c.source); break;
        case Kind::kRegex: grammar = Compiler().CompileRegex(c.source); break;
        case Kind::kGrammar: grammar = Compiler().CompileGrammar(c.source, "root"); break;
        case Kind::kChoice: {
          std::string ebnf = "root ::= ";
          for (size_t i = 0; i < c.choices.size(); ++i) {
            ebnf += (i ? " | " : "") + EbnfLiteral(c.choices[i]);
          }
          grammar = Compiler().CompileGrammar(ebnf, "root");
          break;
        }
        case Kind::kNone: return InvalidArgumentError("no constraint to compile (kind none)");
      }
    } catch (const std::exception& e) {
      return CompileError(c, e.what());
    }
    // A warning means XGrammar would enforce something else than asked (an
    // escape it does not know matched literally, a keyword ignored).
    if (!capture.warnings().empty()) return CompileError(c, capture.warnings().front());
    return *std::move(grammar);
  }
};

ConstraintCompiler::ConstraintCompiler(const tokenizer::Tokenizer& tok, size_t n_vocab,
                                       std::vector<int32_t> end_tokens, size_t capacity)
    : impl_(std::make_unique<Impl>()) {
  impl_->tok = &tok;
  impl_->n_vocab = std::max(n_vocab, tok.n_vocab());
  impl_->end_tokens = std::move(end_tokens);
  impl_->capacity = std::max<size_t>(capacity, 1);
  impl_->stats.capacity = impl_->capacity;
}

ConstraintCompiler::~ConstraintCompiler() = default;

StatusOr<std::shared_ptr<const CompiledConstraint>> ConstraintCompiler::Compile(
    const Constraint& constraint) {
  const std::string key = constraint.Key();
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (auto it = impl_->index.find(key); it != impl_->index.end()) {
    impl_->lru.splice(impl_->lru.begin(), impl_->lru, it->second);
    ++impl_->stats.hits;
    return it->second->second;
  }
  ++impl_->stats.misses;
  StatusOr<xgrammar::CompiledGrammar> grammar = [&]() -> StatusOr<xgrammar::CompiledGrammar> {
    try {
      return impl_->CompileNew(constraint);
    } catch (const std::exception& e) {  // building the vocabulary's tables
      return InternalError(std::string("XGrammar: ") + e.what());
    }
  }();
  if (!grammar.ok()) return grammar.status();
  auto compiled = std::make_shared<const CompiledConstraint>(*std::move(grammar), impl_->n_vocab);
  // A constraint that no token can start (e.g. a regex matching only text
  // the vocabulary cannot spell) would fail every row: refuse it here.
  ConstraintMatcher probe(compiled);
  std::vector<uint32_t> mask(probe.mask_words());
  LOGITKIT_RETURN_IF_ERROR(probe.FillMask(mask));
  const bool any = std::any_of(mask.begin(), mask.end(), [](uint32_t w) { return w != 0; });
  if (!any) {
    return InvalidArgumentError(std::string(ConstraintKindName(constraint.kind)) +
                                ": no token of the vocabulary can start a matching text "
                                "(it matches nothing)");
  }
  impl_->lru.emplace_front(key, compiled);
  impl_->index[key] = impl_->lru.begin();
  if (impl_->lru.size() > impl_->capacity) {
    impl_->index.erase(impl_->lru.back().first);
    impl_->lru.pop_back();
  }
  impl_->stats.entries = impl_->lru.size();
  return std::shared_ptr<const CompiledConstraint>(compiled);
}

ConstraintCompiler::CacheStats ConstraintCompiler::cache_stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

}  // namespace logitkit
