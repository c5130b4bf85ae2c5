// Structured output against independent references: the allowed-token masks
// XGrammar fills for our vocabularies (byte-level BPE and SentencePiece) equal
// the sets computed here from each token's bytes; the compile cache; and the
// errors for constraints we refuse.
#include "logitkit/structured.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "logitkit/gguf_convert.h"
#include "logitkit/loaded_model.h"

namespace logitkit {
namespace {

using tokenizer::TokenType;
using tokenizer::Tokenizer;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string VectorsDir() { return std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/"; }

bool Required() {
  const char* need = std::getenv("LOGITKIT_REQUIRE_PEERS");
  return need != nullptr && std::string(need) == "1";
}

// A vocabulary under test, owning the bytes a converted one is read from.
struct Vocab {
  std::string name;
  std::vector<uint8_t> storage;
  std::unique_ptr<Tokenizer> tok;
};

std::unique_ptr<Vocab> FromGgufPath(const std::string& name, const std::string& path) {
  StatusOr<Tokenizer> tok = Tokenizer::Open(path);
  if (!tok.ok()) return nullptr;
  auto v = std::make_unique<Vocab>();
  v->name = name;
  v->tok = std::make_unique<Tokenizer>(*std::move(tok));
  return v;
}

std::unique_ptr<Vocab> FromConverted(const std::string& name, StatusOr<gguf::Writer> w) {
  if (!w.ok()) return nullptr;
  auto v = std::make_unique<Vocab>();
  v->name = name;
  v->storage = w->Finish();
  StatusOr<gguf::File> f = gguf::File::FromBytes(v->storage);
  if (!f.ok()) return nullptr;
  StatusOr<Tokenizer> tok = Tokenizer::FromGguf(*f);
  if (!tok.ok()) return nullptr;
  v->tok = std::make_unique<Tokenizer>(*std::move(tok));
  return v;
}

// GPT-2 and Llama 2 (SentencePiece) from ../shared; the default model's
// (SmolLM2, byte-level BPE); Llama 3's (tiktoken) and Mistral's
// (SentencePiece) from scripts/fetch-vocabs through the environment.
std::vector<std::unique_ptr<Vocab>> Vocabularies(std::vector<std::string>* missing) {
  std::vector<std::unique_ptr<Vocab>> out;
  auto add = [&](std::unique_ptr<Vocab> v, const std::string& what) {
    if (v) out.push_back(std::move(v));
    else missing->push_back(what);
  };
  add(FromGgufPath("gpt-2", VectorsDir() + "ggml-vocab-gpt-2.gguf"), "GPT-2 (../shared)");
  add(FromGgufPath("llama-spm", VectorsDir() + "ggml-vocab-llama-spm.gguf"), "Llama SPM (../shared)");
  add(FromGgufPath("smollm2", DefaultModelPath()), "the default model (scripts/fetch-model)");
  const char* llama3 = std::getenv("LOGITKIT_LLAMA3_TOKENIZER");
  add(llama3 ? FromConverted("llama3", tokenizer::TiktokenToGguf(ReadFile(llama3))) : nullptr,
      "Llama 3 (LOGITKIT_LLAMA3_TOKENIZER)");
  const char* mistral = std::getenv("LOGITKIT_MISTRAL_TOKENIZER");
  add(mistral ? FromConverted("mistral", tokenizer::SentencePieceToGguf(ReadFile(mistral))) : nullptr,
      "Mistral (LOGITKIT_MISTRAL_TOKENIZER)");
  return out;
}

bool Bit(const std::vector<uint32_t>& mask, size_t t) { return (mask[t / 32] >> (t % 32)) & 1u; }

// Tokens whose bytes are a non-empty prefix of one of `texts` (control and
// unused tokens excepted): what may start a text that is one of them.
std::vector<bool> ReferenceStarts(const Tokenizer& tok, const std::vector<std::string>& texts) {
  std::vector<bool> allowed(tok.n_vocab(), false);
  for (size_t id = 0; id < tok.n_vocab(); ++id) {
    const TokenType type = tok.token_type(static_cast<int32_t>(id));
    if (type == TokenType::kControl || type == TokenType::kUnused || type == TokenType::kUnknown) continue;
    const std::string piece = *tok.TokenToPiece(static_cast<int32_t>(id));
    if (piece.empty()) continue;
    for (const std::string& text : texts) {
      if (text.compare(0, piece.size(), piece) == 0 && piece.size() <= text.size()) allowed[id] = true;
    }
  }
  return allowed;
}

std::vector<int32_t> Ends(const Tokenizer& tok) {
  std::vector<int32_t> ends;
  for (int32_t id : {tok.eos(), tok.eot(), tok.eom()}) {
    if (id != tokenizer::kNoToken && std::find(ends.begin(), ends.end(), id) == ends.end()) ends.push_back(id);
  }
  return ends;
}

// On every vocabulary: the first mask of a choice constraint is exactly the
// tokens whose bytes start a choice (multi-byte UTF-8 split across tokens
// included); after the tokens of a choice, exactly the end tokens.
TEST(Constraint, MasksMatchTheTokensBytesOnEveryVocabulary) {
  std::vector<std::string> missing;
  const std::vector<std::unique_ptr<Vocab>> vocabs = Vocabularies(&missing);
  if (!missing.empty() && Required()) FAIL() << "missing: " << missing[0];
  ASSERT_GE(vocabs.size(), 2u);
  const std::vector<std::string> choices = {"héllo wörld", " Paris", "中文 text", "{\"a\": 1}"};
  for (const auto& v : vocabs) {
    SCOPED_TRACE(v->name);
    const Tokenizer& tok = *v->tok;
    const size_t n_vocab = tok.n_vocab() + 7;  // the model's rows may be padded past the tokenizer
    ConstraintCompiler compiler(tok, n_vocab, Ends(tok));
    Constraint c;
    c.kind = Constraint::Kind::kChoice;
    c.choices = choices;
    StatusOr<std::shared_ptr<const CompiledConstraint>> compiled = compiler.Compile(c);
    ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
    const std::vector<bool> want = ReferenceStarts(tok, choices);
    ConstraintMatcher m(*compiled);
    ASSERT_EQ(m.mask_words(), (n_vocab + 31) / 32);
    std::vector<uint32_t> mask(m.mask_words());
    ASSERT_TRUE(m.FillMask(mask).ok());
    size_t n_allowed = 0;
    for (size_t t = 0; t < n_vocab; ++t) {
      const bool expected = t < want.size() && want[t];
      ASSERT_EQ(Bit(mask, t), expected) << "token " << t << " '" << (t < tok.n_vocab() ? tok.token_text(t) : "") << "'";
      n_allowed += expected;
    }
    EXPECT_GT(n_allowed, 4u);
    for (const std::string& choice : choices) {
      ConstraintMatcher walk(*compiled);
      // Spell the choice with the longest token whose bytes come next.
      for (size_t at = 0; at < choice.size();) {
        int32_t best = -1;
        size_t best_len = 0;
        for (size_t id = 0; id < want.size(); ++id) {
          if (tok.token_type(int32_t(id)) == TokenType::kControl) continue;
          const std::string piece = *tok.TokenToPiece(int32_t(id));
          if (piece.size() > best_len && choice.compare(at, piece.size(), piece) == 0) {
            best = int32_t(id);
            best_len = piece.size();
          }
        }
        ASSERT_GE(best, 0) << choice << " at byte " << at;
        ASSERT_TRUE(walk.Accept(best).ok()) << choice << ": token " << best;
        at += best_len;
      }
      EXPECT_TRUE(walk.complete()) << choice;
      ASSERT_TRUE(walk.FillMask(mask).ok());
      const std::vector<int32_t> ends = Ends(tok);
      for (size_t t = 0; t < n_vocab; ++t) {
        const bool is_end = std::find(ends.begin(), ends.end(), int32_t(t)) != ends.end();
        ASSERT_EQ(Bit(mask, t), is_end) << choice << ": token " << t;
      }
      ASSERT_TRUE(walk.Accept(ends[0]).ok());
      EXPECT_TRUE(walk.terminated());
      EXPECT_EQ(walk.FillMask(mask).message(), "the constraint accepted an end token: no token can follow");
      EXPECT_FALSE(walk.Accept(ends[0]).ok());
    }
  }
}

// A regex: the first mask is the tokens made of 1 to 3 digits.
TEST(Constraint, RegexMaskIsTheTokensThatStartAMatch) {
  std::unique_ptr<Vocab> v = FromGgufPath("gpt-2", VectorsDir() + "ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(v);
  ConstraintCompiler compiler(*v->tok, v->tok->n_vocab(), Ends(*v->tok));
  Constraint c;
  c.kind = Constraint::Kind::kRegex;
  c.source = "[0-9]{1,3}";
  auto compiled = compiler.Compile(c);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  ConstraintMatcher m(*compiled);
  std::vector<uint32_t> mask(m.mask_words());
  ASSERT_TRUE(m.FillMask(mask).ok());
  for (size_t t = 0; t < v->tok->n_vocab(); ++t) {
    const std::string piece = *v->tok->TokenToPiece(int32_t(t));
    const bool digits = !piece.empty() && piece.size() <= 3 &&
                        std::all_of(piece.begin(), piece.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    ASSERT_EQ(Bit(mask, t), digits) << "token " << t << " '" << piece << "'";
  }
  EXPECT_FALSE(m.Accept(v->tok->FindToken("abc")).ok());
}

// The cache: the same constraint twice is one compile; past the capacity the
// least recently used is dropped.
TEST(Constraint, CompiledConstraintsAreCachedInABoundedLru) {
  std::unique_ptr<Vocab> v = FromGgufPath("gpt-2", VectorsDir() + "ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(v);
  ConstraintCompiler compiler(*v->tok, v->tok->n_vocab(), Ends(*v->tok), /*capacity=*/2);
  auto regex = [](const std::string& r) {
    Constraint c;
    c.kind = Constraint::Kind::kRegex;
    c.source = r;
    return c;
  };
  auto a1 = compiler.Compile(regex("a+"));
  auto a2 = compiler.Compile(regex("a+"));
  ASSERT_TRUE(a1.ok() && a2.ok());
  EXPECT_EQ(a1->get(), a2->get());
  EXPECT_EQ(compiler.cache_stats().hits, 1u);
  ASSERT_TRUE(compiler.Compile(regex("b+")).ok());
  ASSERT_TRUE(compiler.Compile(regex("a+")).ok());  // a+ is now the most recent
  ASSERT_TRUE(compiler.Compile(regex("c+")).ok());  // evicts b+
  EXPECT_EQ(compiler.cache_stats().entries, 2u);
  EXPECT_EQ(compiler.cache_stats().hits, 2u);
  auto a3 = compiler.Compile(regex("a+"));
  EXPECT_EQ(a3->get(), a1->get());
  EXPECT_EQ(compiler.cache_stats().misses, 3u);
  ASSERT_TRUE(compiler.Compile(regex("b+")).ok());
  EXPECT_EQ(compiler.cache_stats().misses, 4u);
  // A choice list and a regex with the same text are different keys.
  Constraint choice;
  choice.kind = Constraint::Kind::kChoice;
  choice.choices = {"a", "b"};
  Constraint other = choice;
  other.choices = {"a\0b", ""};
  EXPECT_NE(choice.Key(), other.Key());
}

// Each refused constraint gets an error naming the kind and the place.
TEST(Constraint, BadConstraintsAreErrorsThatNameThePlace) {
  std::unique_ptr<Vocab> v = FromGgufPath("gpt-2", VectorsDir() + "ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(v);
  ConstraintCompiler compiler(*v->tok, v->tok->n_vocab(), Ends(*v->tok));
  auto error = [&](Constraint::Kind kind, const std::string& source,
                   std::vector<std::string> choices = {}) {
    Constraint c;
    c.kind = kind;
    c.source = source;
    c.choices = std::move(choices);
    StatusOr<std::shared_ptr<const CompiledConstraint>> r = compiler.Compile(c);
    EXPECT_FALSE(r.ok()) << source;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    }
    return r.ok() ? std::string() : r.status().message();
  };
  using K = Constraint::Kind;
  EXPECT_EQ(error(K::kJsonSchema,
                  R"({"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}})"),
            "json_schema: keyword 'uniqueItems' at /properties/tags is not supported");
  EXPECT_EQ(error(K::kJsonSchema, R"({"not": {"type": "string"}})"),
            "json_schema: keyword 'not' at / is not supported");
  EXPECT_EQ(error(K::kJsonSchema, R"({"type": "string", "format": "color"})"),
            "json_schema: format \"color\" at / is not supported");
  EXPECT_EQ(error(K::kJsonSchema, R"({"anyOf": [{"type": "number", "multipleOf": 0.5}]})"),
            "json_schema: multipleOf on a type other than integer at /anyOf/0 is not supported");
  EXPECT_TRUE(error(K::kJsonSchema, R"({"type": "object",)").starts_with("json_schema is not valid JSON: byte"));
  EXPECT_TRUE(error(K::kJsonSchema, R"({"type": "strin"})").starts_with("json_schema: "));
  EXPECT_TRUE(error(K::kGrammar, "root ::= \"a\" | ").starts_with("grammar: "));
  EXPECT_TRUE(error(K::kGrammar, "start ::= \"a\"").starts_with("grammar: "));
  EXPECT_TRUE(error(K::kRegex, "(ab").starts_with("regex: "));
  EXPECT_EQ(error(K::kRegex, ""), "regex is empty");
  EXPECT_EQ(error(K::kChoice, "", {}), "choice: the list is empty");
  EXPECT_EQ(error(K::kChoice, "", {"yes", ""}), "choice[1] is empty");
  EXPECT_EQ(error(K::kRegex, "a(?=b)"),
            "regex: Regex parsing error at position 4: Lookahead is not supported yet.");
  // XGrammar would match "\\x{41}" as the letters "x{41}" (it warns): refused.
  EXPECT_TRUE(error(K::kRegex, "\\x{41}").starts_with("regex: Regex parsing warning at position 1"));
  // A regex that matches nothing.
  EXPECT_EQ(error(K::kRegex, "[^\\s\\S]"),
            "regex: no token of the vocabulary can start a matching text (it matches nothing)");
}

}  // namespace
}  // namespace logitkit
