// The tokenizer's contracts beyond the reference vectors: special tokens stay
// text unless asked, round trips on random Unicode for every tokenizer kind,
// the streaming decoder, invalid UTF-8, and errors for bad metadata.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "logitkit/tokenizer.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/testing.h"
#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

using testing::FromWriter;
using testing::VectorsDir;

const Tokenizer* Gpt2() {
  static const StatusOr<Tokenizer> tok = Tokenizer::Open(VectorsDir() + "ggml-vocab-gpt-2.gguf");
  return tok.ok() ? &*tok : nullptr;
}
const Tokenizer* LlamaSpm() {
  static const StatusOr<Tokenizer> tok =
      Tokenizer::Open(VectorsDir() + "ggml-vocab-llama-spm.gguf");
  return tok.ok() ? &*tok : nullptr;
}
#define REQUIRE_VOCAB(tok) \
  if ((tok) == nullptr) GTEST_SKIP() << "shared vocabulary files not found in " << VectorsDir()

std::vector<TokenId> Encode(const Tokenizer& tok, std::string_view text, bool parse_special = false,
                            bool add_bos = false) {
  EncodeOptions o;
  o.add_bos = add_bos;
  o.parse_special = parse_special;
  StatusOr<std::vector<TokenId>> ids = tok.Encode(text, o);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<TokenId>{};
}

std::string Decode(const Tokenizer& tok, const std::vector<TokenId>& ids, bool special = false) {
  DecodeOptions o;
  o.render_special = special;
  StatusOr<std::string> text = tok.Decode(ids, o);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "";
}

bool Contains(const std::vector<TokenId>& ids, TokenId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// A copy of the GPT-2 vocabulary's tokenizer keys with another pre-tokenizer.
StatusOr<Tokenizer> Gpt2WithPre(const std::string& pre, std::vector<uint8_t>* storage) {
  StatusOr<gguf::File> f = gguf::File::Open(VectorsDir() + "ggml-vocab-gpt-2.gguf");
  if (!f.ok()) return f.status();
  std::vector<std::string> tokens, merges;
  for (std::string_view v : f->Find("tokenizer.ggml.tokens")->strings) tokens.emplace_back(v);
  for (std::string_view v : f->Find("tokenizer.ggml.merges")->strings) merges.emplace_back(v);
  std::vector<int32_t> types;
  const gguf::Value* token_types = f->Find("tokenizer.ggml.token_type");
  for (size_t k = 0; k < token_types->count; ++k) types.push_back(static_cast<int32_t>(token_types->IntAt(k)));
  gguf::Writer w;
  w.AddString("tokenizer.ggml.model", "gpt2");
  w.AddString("tokenizer.ggml.pre", pre);
  w.AddStringArray("tokenizer.ggml.tokens", tokens);
  w.AddInt32Array("tokenizer.ggml.token_type", types);
  w.AddStringArray("tokenizer.ggml.merges", merges);
  w.AddUint32("tokenizer.ggml.bos_token_id", 50256);
  return FromWriter(w, storage);
}

// Random valid UTF-8: ASCII (letters, digits, punctuation, whitespace), Latin,
// Greek, Cyrillic, CJK, combining marks, emoji, and rare planes.
std::string RandomText(std::mt19937& rng, size_t n_cpts) {
  static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E}, {0x09, 0x0D}, {0x30, 0x39}, {0xA0, 0x24F}, {0x370, 0x3FF}, {0x400, 0x4FF},
      {0x300, 0x36F}, {0x660, 0x669}, {0x2000, 0x206F}, {0x3040, 0x30FF}, {0x4E00, 0x9FFF},
      {0xAC00, 0xD7A3}, {0xE000, 0xE0FF}, {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF}};
  std::string s;
  for (size_t i = 0; i < n_cpts; ++i) {
    const auto& r = ranges[rng() % ranges.size()];
    uint32_t c = r.first + rng() % (r.second - r.first + 1);
    if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
    AppendUtf8(c, &s);
  }
  return s;
}

void ExpectRoundTrips(const Tokenizer& tok, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < 200; ++i) {
    const std::string s = RandomText(rng, 1 + rng() % 60);
    EXPECT_EQ(Decode(tok, Encode(tok, s)), s) << "case " << i;
  }
}

// ---- Special tokens -----------------------------------------------------------

TEST(TokenizerSpecial, ControlTokenTextStaysTextUnlessParseSpecial) {
  REQUIRE_VOCAB(Gpt2());
  const Tokenizer& tok = *Gpt2();
  const std::string text = "a<|endoftext|>b";
  EXPECT_FALSE(Contains(Encode(tok, text), 50256));
  EXPECT_EQ(Decode(tok, Encode(tok, text)), text);
  const std::vector<TokenId> parsed = Encode(tok, text, /*parse_special=*/true);
  EXPECT_EQ(parsed, (std::vector<TokenId>{64, 50256, 65}));
  EXPECT_EQ(Decode(tok, parsed), "ab");                   // control tokens decode to nothing
  EXPECT_EQ(Decode(tok, parsed, true), text);             // unless rendered
  EXPECT_EQ(tok.eot(), 50256);                            // found by its text
  EXPECT_TRUE(tok.IsEndOfGeneration(50256));
  EXPECT_EQ(tok.token_type(50256), TokenType::kControl);
}

TEST(TokenizerSpecial, SentencePieceControlTextNeverMergesIntoTheControlToken) {
  REQUIRE_VOCAB(LlamaSpm());
  const Tokenizer& tok = *LlamaSpm();
  for (const char* text : {"<s>", "</s>", "<unk>", "a</s>b", "<s><s>", "<0x0A>"}) {
    const std::vector<TokenId> ids = Encode(tok, text);
    EXPECT_FALSE(Contains(ids, 0) || Contains(ids, 1) || Contains(ids, 2)) << text;
    EXPECT_FALSE(Contains(ids, 3 + 0x0A)) << text;
    EXPECT_EQ(Decode(tok, ids), text);
  }
  // parse_special: the token, and a space prefix for the text after it.
  const std::vector<TokenId> ids = Encode(tok, "a</s>b", /*parse_special=*/true);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 2);
  EXPECT_EQ(ids[2], Encode(tok, "b")[0]);  // "▁b"
}

TEST(TokenizerSpecial, BosFromMetadataUnlessOverridden) {
  REQUIRE_VOCAB(LlamaSpm());
  EXPECT_TRUE(LlamaSpm()->add_bos());
  StatusOr<std::vector<TokenId>> ids = LlamaSpm()->Encode("Hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<TokenId>{1, 15043}));
  EXPECT_EQ(Encode(*LlamaSpm(), ""), std::vector<TokenId>{});
  EXPECT_EQ(Encode(*LlamaSpm(), "", false, /*add_bos=*/true), std::vector<TokenId>{1});
  EXPECT_EQ(Decode(*LlamaSpm(), {1, 15043}), "Hello");  // the added space is stripped
  EXPECT_FALSE(Gpt2() && Gpt2()->add_bos());
}

// A tiny SentencePiece vocabulary: user-defined tokens always match.
StatusOr<Tokenizer> TinySpm(std::vector<uint8_t>* storage, bool with_bytes = true) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "<|user|>", "\xE2\x96\x81", "a", "b",
                                     "\xE2\x96\x81" "a", "ab"};
  std::vector<float> scores = {0, 0, 0, 0, -1, -2, -3, -1.5f, -0.5f};
  std::vector<int32_t> types = {2, 3, 3, 4, 1, 1, 1, 1, 1};
  if (with_bytes) {
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      tokens.push_back(hex);
      scores.push_back(0);
      types.push_back(6);
    }
  }
  gguf::Writer w;
  w.AddString("tokenizer.ggml.model", "llama");
  w.AddStringArray("tokenizer.ggml.tokens", tokens);
  w.AddFloat32Array("tokenizer.ggml.scores", scores);
  w.AddInt32Array("tokenizer.ggml.token_type", types);
  return FromWriter(w, storage);
}

TEST(TokenizerSpecial, UserDefinedTokensAlwaysMatch) {
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = TinySpm(&storage);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  // "▁ab" merges "ab" first (score -0.5), then nothing: ▁ + ab.
  EXPECT_EQ(Encode(*tok, "ab"), (std::vector<TokenId>{4, 8}));
  const std::vector<TokenId> ids = Encode(*tok, "a<|user|>b");
  EXPECT_EQ(ids, (std::vector<TokenId>{7, 3, 4, 6}));
  EXPECT_EQ(Decode(*tok, ids), "a<|user|> b");  // the space prefix after a special token
  // Bytes with no piece fall back to <0xXX>.
  EXPECT_EQ(Encode(*tok, "c"), (std::vector<TokenId>{4, 9 + 'c'}));
}

TEST(TokenizerSpecial, MissingByteTokenFallsBackToUnknown) {
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = TinySpm(&storage, /*with_bytes=*/false);
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(Encode(*tok, "c"), (std::vector<TokenId>{4, 0}));
}

// ---- Pre-tokenizers -------------------------------------------------------------

std::vector<std::string> Split(PreTokenizer pre, std::string_view text) {
  const std::vector<uint32_t> cpts = DecodeUtf8Lossy(text);
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t len : PreTokenize(pre, cpts)) {
    std::string s;
    for (size_t k = pos; k < pos + len; ++k) AppendUtf8(cpts[k], &s);
    out.push_back(s);
    pos += len;
  }
  return out;
}
using Pieces = std::vector<std::string>;

TEST(PreTokenize, Gpt2) {
  EXPECT_EQ(Split(PreTokenizer::kGpt2, "Hello world's 12345 ok!!  \n x"),
            (Pieces{"Hello", " world", "'s", " 12345", " ok", "!!", "  \n", " x"}));
  EXPECT_EQ(Split(PreTokenizer::kGpt2, "DON'T"), (Pieces{"DON", "'", "T"}));
  EXPECT_EQ(Split(PreTokenizer::kGpt2, "a  "), (Pieces{"a", "  "}));
}

TEST(PreTokenize, Llama3GroupsThreeDigitsAndFoldsContractions) {
  EXPECT_EQ(Split(PreTokenizer::kLlama3, "DON'T 1234567 $x\r\n\n  y"),
            (Pieces{"DON", "'T", " ", "123", "456", "7", " $", "x", "\r\n\n", " ", " y"}));
  EXPECT_EQ(Split(PreTokenizer::kLlama3, "...\n\nok"), (Pieces{"...\n\n", "ok"}));
}

TEST(PreTokenize, Qwen2SplitsEveryDigit) {
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "abc 12345"),
            (Pieces{"abc", " ", "1", "2", "3", "4", "5"}));
  EXPECT_EQ(Split(PreTokenizer::kQwen2, "\xD9\xA1\xD9\xA2x"),  // Arabic-Indic digits
            (Pieces{"\xD9\xA1", "\xD9\xA2", "x"}));
}

TEST(PreTokenize, SmolLMSplitsDigitsThenGpt2) {
  EXPECT_EQ(Split(PreTokenizer::kSmolLM, "ab 123 cd"),
            (Pieces{"ab", " ", "1", "2", "3", " cd"}));
}

TEST(PreTokenize, DefaultSplitsPunctuationRunsAndDigitTriples) {
  EXPECT_EQ(Split(PreTokenizer::kDefault, "a+b 12345"),
            (Pieces{"a", "+", "b", " ", "123", "45"}));
}

TEST(PreTokenize, LongInputsAreLinear) {
  // 1 MB of one class: one piece each, in one pass.
  for (PreTokenizer pre : {PreTokenizer::kGpt2, PreTokenizer::kLlama3, PreTokenizer::kQwen2}) {
    const std::vector<uint32_t> cpts(1 << 20, 'a');
    EXPECT_EQ(PreTokenize(pre, cpts).size(), 1u);
  }
}

// ---- Round trips ----------------------------------------------------------------

TEST(TokenizerRoundTrip, Gpt2RandomUnicode) {
  REQUIRE_VOCAB(Gpt2());
  ExpectRoundTrips(*Gpt2(), 1);
}

TEST(TokenizerRoundTrip, SentencePieceRandomUnicode) {
  REQUIRE_VOCAB(LlamaSpm());
  ExpectRoundTrips(*LlamaSpm(), 2);
}

TEST(TokenizerRoundTrip, EveryBytePreTokenizerRandomUnicode) {
  REQUIRE_VOCAB(Gpt2());
  for (const char* pre : {"llama-bpe", "qwen2", "smollm", "default"}) {
    std::vector<uint8_t> storage;
    StatusOr<Tokenizer> tok = Gpt2WithPre(pre, &storage);
    ASSERT_TRUE(tok.ok()) << pre << ": " << tok.status().ToString();
    SCOPED_TRACE(pre);
    ExpectRoundTrips(*tok, 3);
  }
}

TEST(TokenizerRoundTrip, InvalidUtf8IsReplacedNotRejected) {
  REQUIRE_VOCAB(LlamaSpm());
  const std::string bad = "a\xFF" "b\xE2\x82" " \xED\xA0\x80 \xC0\xAF\x80";
  for (const Tokenizer* tok : {Gpt2(), LlamaSpm()}) {
    EXPECT_EQ(Decode(*tok, Encode(*tok, bad)), SanitizeUtf8(bad));
  }
  EXPECT_EQ(SanitizeUtf8("a\xFF"), "a\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xE2\x82\xAC"), "\xE2\x82\xAC");
}

TEST(TokenizerRoundTrip, LongTextWithoutSpacesEncodes) {
  REQUIRE_VOCAB(Gpt2());
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "abcdefghij"[i % 10];
  const std::vector<TokenId> ids = Encode(*Gpt2(), text);
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ(Decode(*Gpt2(), ids), text);
}

// ---- Decoding -------------------------------------------------------------------

TEST(TokenizerDecode, OutOfRangeIdsAreErrors) {
  REQUIRE_VOCAB(Gpt2());
  EXPECT_EQ(Gpt2()->TokenToPiece(-1).status().code(), StatusCode::kOutOfRange);
  StatusOr<std::string> text = Gpt2()->Decode(std::vector<TokenId>{50257});
  EXPECT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("50257"), std::string::npos);
}

TEST(StreamDecoder, HoldsBackSplitCharactersUntilComplete) {
  REQUIRE_VOCAB(LlamaSpm());
  const Tokenizer& tok = *LlamaSpm();
  const auto byte = [](uint8_t b) { return static_cast<TokenId>(3 + b); };  // <0x00> is id 3
  StreamDecoder dec(tok);
  EXPECT_EQ(*dec.Push(byte(0xE2)), "");
  EXPECT_EQ(*dec.Push(byte(0x82)), "");
  EXPECT_EQ(dec.pending_bytes(), 2u);
  EXPECT_EQ(*dec.Push(byte(0xAC)), "\xE2\x82\xAC");  // €
  EXPECT_EQ(*dec.Push(byte(0xF0)), "");
  EXPECT_EQ(*dec.Push(byte(0x9F)), "");
  EXPECT_EQ(dec.Flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");  // ended inside a character
  EXPECT_EQ(*dec.Push(byte(0x80)), "\xEF\xBF\xBD");    // can never become valid
  EXPECT_EQ(*dec.Push(byte(0xE2)), "");
  EXPECT_EQ(*dec.Push(byte('A')), "\xEF\xBF\xBD" "A");  // broken by an ASCII byte
  EXPECT_FALSE(dec.Push(99999).ok());
  EXPECT_EQ(dec.Flush(), "");
}

TEST(StreamDecoder, EqualsSanitizedDecodeOnRandomTokenStreams) {
  REQUIRE_VOCAB(Gpt2());
  for (const Tokenizer* tok : {Gpt2(), LlamaSpm()}) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<TokenId> ids(1 + rng() % 20);
      for (TokenId& id : ids) {
        // Byte tokens often (split characters), any token sometimes.
        id = rng() % 2 ? static_cast<TokenId>(rng() % tok->n_vocab())
                       : (tok->algorithm() == Algorithm::kSpm ? 3 + static_cast<TokenId>(rng() % 256)
                                                      : static_cast<TokenId>(rng() % 256));
      }
      StreamDecoder dec(*tok);
      std::string streamed;
      for (TokenId id : ids) streamed += *dec.Push(id);
      streamed += dec.Flush();
      EXPECT_EQ(streamed, SanitizeUtf8(Decode(*tok, ids))) << "trial " << trial;
    }
  }
}

TEST(Unicode, IncompleteSuffix) {
  EXPECT_EQ(IncompleteUtf8Suffix(""), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("a"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xE2"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xE2\x82"), 2u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xE2\x82\xAC"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xE0\x80"), 0u);  // overlong: never valid
  EXPECT_EQ(IncompleteUtf8Suffix("\xED\xA0"), 0u);  // surrogate
  EXPECT_EQ(IncompleteUtf8Suffix("\xF4\x90"), 0u);  // past U+10FFFF
  EXPECT_EQ(IncompleteUtf8Suffix("\x80"), 0u);
}

TEST(Unicode, ClassesFromTheGeneratedTable) {
  EXPECT_EQ(CodepointFlags('a'), kLetter);
  EXPECT_EQ(CodepointFlags('7'), kNumber);
  EXPECT_EQ(CodepointFlags(' '), kWhitespace);
  EXPECT_EQ(CodepointFlags(0x3000), kWhitespace);       // ideographic space
  EXPECT_EQ(CodepointFlags(0x4E2D), kLetter);           // 中
  EXPECT_EQ(CodepointFlags(0x2167), kNumber);           // Ⅷ (Nl)
  EXPECT_EQ(CodepointFlags('!'), kPunctuation);
  EXPECT_EQ(CodepointFlags(0x1F600), 0);                // 😀 is a symbol
  EXPECT_EQ(CodepointFlags(0x110000), 0);
}

// ---- Bad metadata ---------------------------------------------------------------

struct BadCase {
  const char* name;
  void (*edit)(gguf::Writer*);
  const char* expect;  // in the message
};

void Base(gguf::Writer* w, bool tokens = true, bool types = true) {
  w->AddString("tokenizer.ggml.model", "gpt2");
  w->AddString("tokenizer.ggml.pre", "gpt-2");
  if (tokens) w->AddStringArray("tokenizer.ggml.tokens", {"a", "b", "ab"});
  if (types) w->AddInt32Array("tokenizer.ggml.token_type", {1, 1, 1});
  w->AddStringArray("tokenizer.ggml.merges", {"a b"});
}

TEST(TokenizerMetadata, ErrorsNameTheKeyAndValue) {
  const std::vector<BadCase> cases = {
      {"no tokens", [](gguf::Writer* w) { Base(w, false); }, "tokenizer.ggml.tokens is missing"},
      {"unknown model",
       [](gguf::Writer* w) {
         w->AddString("tokenizer.ggml.model", "t5");
         w->AddStringArray("tokenizer.ggml.tokens", {"a"});
       },
       "tokenizer.ggml.model = 't5'"},
      {"unknown pre",
       [](gguf::Writer* w) {
         w->AddString("tokenizer.ggml.model", "gpt2");
         w->AddString("tokenizer.ggml.pre", "falcon");
       },
       "tokenizer.ggml.pre = 'falcon'"},
      {"types length",
       [](gguf::Writer* w) {
         Base(w, true, false);
         w->AddInt32Array("tokenizer.ggml.token_type", {1, 1});
       },
       "tokenizer.ggml.token_type has 2 elements but tokenizer.ggml.tokens has 3"},
      {"scores length",
       [](gguf::Writer* w) {
         Base(w);
         w->AddFloat32Array("tokenizer.ggml.scores", {1, 2, 3, 4});
       },
       "tokenizer.ggml.scores has 4 elements"},
      {"tokens not strings",
       [](gguf::Writer* w) {
         w->AddString("tokenizer.ggml.model", "gpt2");
         w->AddInt32Array("tokenizer.ggml.tokens", {1, 2});
       },
       "tokenizer.ggml.tokens is an array of int32"},
      {"bos out of range",
       [](gguf::Writer* w) {
         Base(w);
         w->AddUint32("tokenizer.ggml.bos_token_id", 3);
       },
       "tokenizer.ggml.bos_token_id = 3 is out of range for a vocabulary of 3 tokens"},
      {"negative eos",
       [](gguf::Writer* w) {
         Base(w);
         w->AddInt32("tokenizer.ggml.eos_token_id", -5);
       },
       "tokenizer.ggml.eos_token_id = -5"},
      {"eot not an integer",
       [](gguf::Writer* w) {
         Base(w);
         w->AddString("tokenizer.ggml.eot_token_id", "7");
       },
       "tokenizer.ggml.eot_token_id is a string"},
      {"bad token type",
       [](gguf::Writer* w) {
         Base(w, true, false);
         w->AddInt32Array("tokenizer.ggml.token_type", {1, 9, 1});
       },
       "tokenizer.ggml.token_type[1] = 9"},
      {"duplicate token",
       [](gguf::Writer* w) {
         w->AddString("tokenizer.ggml.model", "gpt2");
         w->AddString("tokenizer.ggml.pre", "gpt-2");
         w->AddStringArray("tokenizer.ggml.tokens", {"a", "b", "a"});
       },
       "tokenizer.ggml.tokens[2] = 'a' duplicates token 0"},
      {"no merges",
       [](gguf::Writer* w) {
         w->AddString("tokenizer.ggml.model", "gpt2");
         w->AddStringArray("tokenizer.ggml.tokens", {"a"});
       },
       "tokenizer.ggml.merges is missing"},
      {"bad merge",
       [](gguf::Writer* w) {
         w->AddString("tokenizer.ggml.model", "gpt2");
         w->AddStringArray("tokenizer.ggml.tokens", {"a"});
         w->AddStringArray("tokenizer.ggml.merges", {"ab"});
       },
       "tokenizer.ggml.merges[0] = 'ab'"},
      {"add_bos without bos",
       [](gguf::Writer* w) {
         Base(w);
         w->AddBool("tokenizer.ggml.add_bos_token", true);
       },
       "add_bos_token is true"},
      {"byte token not <0xXX>",
       [](gguf::Writer* w) {
         w->AddString("tokenizer.ggml.model", "llama");
         w->AddStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0xZZ>"});
         w->AddInt32Array("tokenizer.ggml.token_type", {2, 3, 3, 6});
       },
       "tokenizer.ggml.token_type[3] is 6 (byte) but the token is '<0xZZ>'"},
      {"model not a string",
       [](gguf::Writer* w) { w->AddUint32("tokenizer.ggml.model", 1); },
       "tokenizer.ggml.model is a uint32"},
  };
  for (const BadCase& c : cases) {
    gguf::Writer w;
    c.edit(&w);
    std::vector<uint8_t> storage;
    StatusOr<Tokenizer> tok = FromWriter(w, &storage);
    ASSERT_FALSE(tok.ok()) << c.name;
    EXPECT_NE(tok.status().message().find(c.expect), std::string::npos)
        << c.name << ": " << tok.status().message();
  }
}

TEST(TokenizerMetadata, MinimalBpeVocabularyWorks) {
  gguf::Writer w;
  Base(&w);
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = FromWriter(w, &storage);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(Encode(*tok, "abab"), (std::vector<TokenId>{2, 2}));
  // A byte with no token is an error, not a crash or a dropped byte.
  StatusOr<std::vector<TokenId>> ids = tok->Encode("abc");
  ASSERT_FALSE(ids.ok());
  EXPECT_NE(ids.status().message().find("byte 0x63"), std::string::npos);
}

}  // namespace
}  // namespace logitkit::tokenizer
