// The converters against small files written here (whose tokenization is known
// by construction) and, when the environment names them, the real Llama 3 and
// Mistral tokenizer files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "logitkit/tokenizer.h"
#include "tokenizer/testing.h"

namespace logitkit::tokenizer {
namespace {

std::string Base64(std::string_view bytes) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += abc[(v >> k) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += abc[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// 256 single bytes, then "ab" 256, "bb" 257, "abb" 258, " a" 259.
std::string TinyTiktoken() {
  std::string file;
  int rank = 0;
  for (int b = 0; b < 256; ++b) file += Base64(std::string(1, char(b))) + " " + std::to_string(rank++) + "\n";
  for (const char* t : {"ab", "bb", "abb", " a"}) file += Base64(t) + " " + std::to_string(rank++) + "\n";
  return file;
}

std::vector<TokenId> Encode(const Tokenizer& tok, std::string_view text) {
  EncodeOptions o;
  o.add_bos = false;
  StatusOr<std::vector<TokenId>> ids = tok.Encode(text, o);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<TokenId>{};
}

TEST(TiktokenToGguf, RecoversMergesFromRanks) {
  StatusOr<gguf::Writer> w = TiktokenToGguf(TinyTiktoken());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = testing::FromWriter(*w, &storage);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->n_vocab(), 260u + 256u);
  EXPECT_EQ(tok->pre(), "llama-bpe");
  EXPECT_EQ(tok->token_text(259), "\xC4\xA0" "a");  // " a" spelled with GPT-2's Ġ
  EXPECT_EQ(tok->token_text(260), "<|begin_of_text|>");
  EXPECT_EQ(tok->token_text(260 + 9), "<|eot_id|>");
  EXPECT_EQ(tok->token_text(260 + 255), "<|reserved_special_token_245|>");
  EXPECT_EQ(tok->token_type(260), TokenType::kControl);
  EXPECT_EQ(tok->bos(), 260);
  EXPECT_EQ(tok->eos(), 261);
  EXPECT_EQ(tok->eot(), 269);
  EXPECT_TRUE(tok->add_bos());
  // "abb" is the merge "ab" + "b"; "bbb" is "bb" + "b"; "abab" two "ab".
  EXPECT_EQ(Encode(*tok, "abb"), (std::vector<TokenId>{258}));
  EXPECT_EQ(Encode(*tok, "bbb"), (std::vector<TokenId>{257, 'b'}));
  EXPECT_EQ(Encode(*tok, "abab"), (std::vector<TokenId>{256, 256}));
  EXPECT_EQ(Encode(*tok, "x a"), (std::vector<TokenId>{'x', 259}));
  StatusOr<std::vector<TokenId>> with_special = tok->Encode("<|eot_id|>", {.add_bos = true, .add_eos = {}, .parse_special = true});
  ASSERT_TRUE(with_special.ok());
  EXPECT_EQ(*with_special, (std::vector<TokenId>{260, 269}));
}

TEST(TiktokenToGguf, ErrorsNameTheLine) {
  const std::string ok = TinyTiktoken();
  struct Case { std::string file; const char* expect; };
  for (const Case& c : {Case{"", "no tokens"}, Case{"YQ== 1\n", "line 1: rank 1, expected 0"},
                        Case{"YQ==\n", "line 1: expected 'base64 rank'"},
                        Case{"Y*== 0\n", "line 1: 'Y*==' is not base64"},
                        Case{"YQ== 0\nYQ== 1\n", "line 2: token repeats rank 0"},
                        Case{"YQ== x\n", "line 1: rank 'x'"}}) {
    StatusOr<gguf::Writer> w = TiktokenToGguf(c.file);
    ASSERT_FALSE(w.ok()) << c.expect;
    EXPECT_NE(w.status().message().find(c.expect), std::string::npos) << w.status().message();
  }
}

// Protobuf wire format helpers for a hand-made SentencePiece model.
void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(char(v | 0x80));
    v >>= 7;
  }
  out->push_back(char(v));
}
void Field(uint32_t field, uint32_t wire, std::string* out) { Varint(field << 3 | wire, out); }
void Bytes(uint32_t field, std::string_view b, std::string* out) {
  Field(field, 2, out);
  Varint(b.size(), out);
  out->append(b);
}
std::string Piece(std::string_view text, float score, int type) {
  std::string p;
  Bytes(1, text, &p);
  Field(2, 5, &p);
  char f[4];
  std::memcpy(f, &score, 4);
  p.append(f, 4);
  if (type != 1) {
    Field(3, 0, &p);
    Varint(type, &p);
  }
  return p;
}

std::string TinySentencePiece(int model_type = 2, bool dummy_prefix = true) {
  std::string m;
  Bytes(1, Piece("<unk>", 0, 2), &m);
  Bytes(1, Piece("<s>", 0, 3), &m);
  Bytes(1, Piece("</s>", 0, 3), &m);
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    Bytes(1, Piece(hex, 0, 6), &m);
  }
  Bytes(1, Piece("\xE2\x96\x81", -1, 1), &m);           // 259 ▁
  Bytes(1, Piece("h", -2, 1), &m);                      // 260
  Bytes(1, Piece("i", -2, 1), &m);                      // 261
  Bytes(1, Piece("\xE2\x96\x81h", -1.5f, 1), &m);       // 262 ▁h
  Bytes(1, Piece("\xE2\x96\x81hi", -1.2f, 1), &m);      // 263 ▁hi
  std::string trainer;
  Field(3, 0, &trainer);
  Varint(model_type, &trainer);
  Field(43, 0, &trainer);
  Varint(uint64_t(-1), &trainer);  // pad_id = -1: none
  Bytes(2, trainer, &m);
  std::string normalizer;
  Bytes(1, "identity", &normalizer);
  Field(3, 0, &normalizer);
  Varint(dummy_prefix, &normalizer);
  Bytes(3, normalizer, &m);
  return m;
}

TEST(SentencePieceToGguf, ConvertsPiecesScoresTypesAndSpecs) {
  StatusOr<gguf::Writer> w = SentencePieceToGguf(TinySentencePiece());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = testing::FromWriter(*w, &storage);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->n_vocab(), 264u);
  EXPECT_EQ(tok->algorithm(), Algorithm::kSpm);
  EXPECT_EQ(tok->unk(), 0);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_EQ(tok->pad(), kNoToken);
  EXPECT_EQ(tok->token_type(3 + 'A'), TokenType::kByte);
  EXPECT_FLOAT_EQ(tok->token_score(263), -1.2f);
  EXPECT_EQ(Encode(*tok, "hi"), (std::vector<TokenId>{263}));
  EXPECT_EQ(Encode(*tok, "hih"), (std::vector<TokenId>{263, 260}));
  EXPECT_EQ(Encode(*tok, "x"), (std::vector<TokenId>{259, 3 + 'x'}));  // byte fallback
  StatusOr<std::vector<TokenId>> with_bos = tok->Encode("hi");
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ(*with_bos, (std::vector<TokenId>{1, 263}));

  // add_dummy_prefix = false: no space before the text.
  StatusOr<gguf::Writer> w2 = SentencePieceToGguf(TinySentencePiece(2, false));
  ASSERT_TRUE(w2.ok());
  std::vector<uint8_t> storage2;
  StatusOr<Tokenizer> tok2 = testing::FromWriter(*w2, &storage2);
  ASSERT_TRUE(tok2.ok());
  EXPECT_EQ(Encode(*tok2, "hi"), (std::vector<TokenId>{260, 261}));
}

TEST(SentencePieceToGguf, MalformedFilesAreErrorsWithOffsets) {
  const std::string ok = TinySentencePiece();
  // Truncation at every byte: an error or (at a field boundary) a smaller model, never a crash.
  for (size_t n = 0; n < ok.size(); n += 7) {
    StatusOr<gguf::Writer> w = SentencePieceToGguf(std::string_view(ok).substr(0, n));
    if (!w.ok()) {
      EXPECT_FALSE(w.status().message().empty());
    }
  }
  StatusOr<gguf::Writer> unigram = SentencePieceToGguf(TinySentencePiece(1));
  ASSERT_FALSE(unigram.ok());
  EXPECT_NE(unigram.status().message().find("model_type = 1 is not BPE"), std::string::npos);
  StatusOr<gguf::Writer> bad_wire = SentencePieceToGguf(std::string("\x2F\x00", 2));  // field 5, wire type 7
  ASSERT_FALSE(bad_wire.ok());
  EXPECT_NE(bad_wire.status().message().find("byte offset 1: unknown wire type 7"), std::string::npos)
      << bad_wire.status().message();
  StatusOr<gguf::Writer> past_end = SentencePieceToGguf(std::string("\x0A\x7F" "ab", 4));
  ASSERT_FALSE(past_end.ok());
  EXPECT_NE(past_end.status().message().find("length 127 runs past the end"), std::string::npos);
}

// ---- The real files (paths from the environment; scripts/fetch-vocabs) -------

std::string RandomText(std::mt19937& rng) {
  static const char* parts[] = {"Hello", " world", "!", " 123", "\n", "\t", "  ", "é", "中文",
                                "😀", "[INST]", "</s>", "<|eot_id|>", "'s", "Ünïcödé", "\xCC\x81"};
  std::string s;
  for (int k = 0, n = 1 + rng() % 12; k < n; ++k) s += parts[rng() % std::size(parts)];
  return s;
}

TEST(RealVocabularies, MistralSentencePieceConvertsAndRoundTrips) {
  const char* path = std::getenv("LOGITKIT_MISTRAL_TOKENIZER");
  if (path == nullptr) {
    GTEST_SKIP() << "set LOGITKIT_MISTRAL_TOKENIZER to a Mistral SentencePiece .model "
                    "(scripts/fetch-vocabs: mistral-v1-tokenizer.model)";
  }
  std::string bytes;
  ASSERT_TRUE(testing::ReadFile(path, &bytes)) << path;
  StatusOr<gguf::Writer> w = SentencePieceToGguf(bytes);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = testing::FromWriter(*w, &storage);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_TRUE(tok->n_vocab() == 32000 || tok->n_vocab() == 32768) << tok->n_vocab();
  EXPECT_EQ(tok->token_text(tok->bos()), "<s>");
  EXPECT_EQ(tok->token_text(tok->eos()), "</s>");
  const TokenId newline = tok->FindToken("<0x0A>");  // 13 in v0.1; v0.3 has 768 controls first
  ASSERT_NE(newline, kNoToken);
  EXPECT_EQ(tok->token_type(newline), TokenType::kByte);
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    const std::string s = RandomText(rng);
    StatusOr<std::string> back = tok->Decode(Encode(*tok, s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
}

TEST(RealVocabularies, Llama3SpecialTokensHaveTheirNames) {
  const char* path = std::getenv("LOGITKIT_LLAMA3_TOKENIZER");
  if (path == nullptr) {
    GTEST_SKIP() << "set LOGITKIT_LLAMA3_TOKENIZER to Llama 3's tiktoken tokenizer.model "
                    "(scripts/fetch-vocabs: llama3-tokenizer.model)";
  }
  std::string bytes;
  ASSERT_TRUE(testing::ReadFile(path, &bytes)) << path;
  StatusOr<gguf::Writer> w = TiktokenToGguf(bytes);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = testing::FromWriter(*w, &storage);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->FindToken("<|begin_of_text|>"), 128000);
  EXPECT_EQ(tok->FindToken("<|end_of_text|>"), 128001);
  EXPECT_EQ(tok->FindToken("<|start_header_id|>"), 128006);
  EXPECT_EQ(tok->FindToken("<|end_header_id|>"), 128007);
  EXPECT_EQ(tok->FindToken("<|eot_id|>"), 128009);
  EXPECT_EQ(tok->eot(), 128009);
  EXPECT_EQ(tok->FindToken("<|reserved_special_token_245|>"), 128255);
  EncodeOptions special;
  special.parse_special = true;
  StatusOr<std::vector<TokenId>> ids =
      tok->Encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", special);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), 128000);
  EXPECT_EQ((*ids)[1], 128006);
  EXPECT_EQ(ids->back(), 128009);
  // Without parse_special the same text is text.
  const std::vector<TokenId> plain = Encode(*tok, "<|eot_id|>");
  EXPECT_GT(plain.size(), 1u);
  for (TokenId id : plain) EXPECT_LT(id, 128000);
}

}  // namespace
}  // namespace logitkit::tokenizer
