// The state behind a Tokenizer: the vocabulary, its lookups, and the BPE merge
// table. Built once by FromGguf (tokenizer.cc), read-only afterwards.
#ifndef LOGITKIT_TOKENIZER_IMPL_H_
#define LOGITKIT_TOKENIZER_IMPL_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "logitkit/tokenizer.h"
#include "tokenizer/pretokenize.h"

namespace logitkit::tokenizer {

struct Tokenizer::Impl {
  struct Token {
    std::string text;
    float score = 0;
    TokenType type = TokenType::kNormal;
  };
  std::vector<Token> tokens;  // [n_vocab]
  // Every token's text -> id. Views into `tokens` (never resized after build).
  std::unordered_map<std::string_view, TokenId> text_to_id;

  Algorithm algorithm = Algorithm::kBpe;
  std::string pre_name;
  PreTokenizer pre = PreTokenizer::kGpt2;
  bool ignore_merges = false;     // Llama 3: a pre-token that is a token is emitted whole
  bool add_space_prefix = false;  // SPM: " " before the text and after each special token
  bool add_bos = false;
  bool add_eos = false;
  TokenId bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, pad = kNoToken,
          unk = kNoToken;

  // Tokens matched in the input before tokenizing: control, unknown and
  // user-defined ones, longest text first (ties by id).
  std::vector<TokenId> special_by_length;

  // Byte fallback: the token for each byte value, or kNoToken. BPE: the token
  // whose text is the byte's GPT-2 character; SPM: "<0xXX>", else the byte itself.
  std::array<TokenId, 256> byte_token;

  // BPE merges. Pieces are the strings merges mention: ids < n_vocab are the
  // tokens, larger ids index `extra_pieces` (merge parts that are no token).
  struct Merge {
    int32_t rank;
    int32_t result;  // piece id of left+right
  };
  std::unordered_map<uint64_t, Merge> merges;  // key: left piece << 32 | right piece
  std::vector<std::string> extra_pieces;
  std::array<int32_t, 256> byte_piece;  // the piece of each byte's GPT-2 character, or -1

  // The decoded bytes of each token for DecodeOptions::render_special = false
  // and = true (they differ for control and unknown tokens only).
  std::vector<std::string> piece_plain, piece_special;

  // True when a token of this type may come out of merging text (and so the
  // text "<s>" cannot become the control token <s>).
  static bool Mergeable(TokenType t) {
    return t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUnused ||
           t == TokenType::kUndefined;
  }
  // The id of a mergeable token with this text, or kNoToken.
  TokenId FindMergeable(std::string_view text) const {
    auto it = text_to_id.find(text);
    return (it != text_to_id.end() && Mergeable(tokens[it->second].type)) ? it->second : kNoToken;
  }
};

// Appends the tokens of one piece of raw text (no special tokens in it; valid
// UTF-8) to `out`. bpe.cc and spm.cc.
Status EncodeBpe(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>* out);
Status EncodeSpm(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>* out);

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_TOKENIZER_IMPL_H_
