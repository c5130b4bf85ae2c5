// Tokenizers built from a GGUF file's metadata (`tokenizer.ggml.*`), matching
// llama.cpp's tokenization (its reference vectors are the tests):
//
//   tokenizer.ggml.model = "gpt2"   byte-level BPE; `tokenizer.ggml.pre` picks the
//       pre-tokenizer: "gpt-2"/"gpt2" (GPT-2), "llama-bpe"/"llama3"/"llama-v3"
//       (Llama 3: a pre-token that is itself a token skips the merges),
//       "smollm" (digits alone, then GPT-2), "qwen2" (Qwen2), "default" or no
//       key (llama.cpp's fallback pre-tokenizer).
//   tokenizer.ggml.model = "llama"  SentencePiece-style BPE (Llama 2, Mistral):
//       spaces become U+2581 "▁", a space is put before the text
//       (`tokenizer.ggml.add_space_prefix`, default true), pieces merge by
//       highest score, and what no token covers falls back to <0xXX> byte tokens
//       (or the unknown token when the byte has none).
//
// Special tokens. Control (token_type 3) and unknown (2) tokens are matched in
// the input text only when EncodeOptions::parse_special is set; otherwise text
// that looks like "<|eot_id|>" or "</s>" is tokenized as ordinary text (and
// never merges into the control token). User-defined tokens (4) are always
// matched, as llama.cpp and Hugging Face tokenizers do. Matching takes longer
// special tokens first.
//
// Invalid UTF-8 in the input is REPLACED, never rejected: each byte that does
// not start a valid sequence (stray continuation bytes, truncated or overlong
// sequences, surrogates, code points past U+10FFFF) becomes U+FFFD before
// tokenizing, so decode(encode(s)) == s exactly when s is valid UTF-8.
// (llama.cpp does the same for BPE vocabularies; it accepts overlongs and
// surrogates, and for SentencePiece ones it keeps the raw bytes.)
//
// Thread safety: a Tokenizer is immutable after construction; Encode and
// Decode may run concurrently. Copies share the vocabulary.
#ifndef LOGITKIT_TOKENIZER_H_
#define LOGITKIT_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/status.h"

namespace logitkit::tokenizer {

using TokenId = int32_t;
constexpr TokenId kNoToken = -1;

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// The tokenization algorithm (tokenizer.ggml.model): byte-level BPE ("gpt2")
// or SentencePiece BPE ("llama").
enum class Algorithm { kBpe, kSpm };

struct EncodeOptions {
  // Put the BOS token first; unset: the vocabulary's tokenizer.ggml.add_bos_token
  // (default: true for "llama" and Llama 3, false otherwise).
  std::optional<bool> add_bos;
  // Put the EOS token last; unset: tokenizer.ggml.add_eos_token (default false).
  std::optional<bool> add_eos;
  // Match control and unknown tokens written in the text (see above).
  bool parse_special = false;
};

struct DecodeOptions {
  // Write control and unknown tokens as their text ("<|eot_id|>"); otherwise
  // they decode to nothing.
  bool render_special = false;
  // For vocabularies that add a space prefix: drop the leading space of the
  // first piece of text, undoing the one the encoder added.
  bool strip_space_prefix = true;
};

class Tokenizer {
 public:
  // Builds the tokenizer from `file`'s metadata (the file may be closed after).
  // Errors name the key and the value: missing or mistyped arrays, arrays whose
  // lengths disagree, an unknown model or pre-tokenizer, out-of-range special
  // token ids, duplicate or invalid tokens, malformed merges.
  static StatusOr<Tokenizer> FromGguf(const gguf::File& file);
  // Opens a GGUF file (a full model or a vocabulary-only file) and builds it.
  static StatusOr<Tokenizer> Open(const std::string& path);

  // Token ids for `text`. Fails only when the vocabulary cannot represent a
  // byte (a byte-level vocabulary without that byte's token; a SentencePiece
  // one without its <0xXX> token nor an unknown token).
  StatusOr<std::vector<TokenId>> Encode(std::string_view text,
                                        const EncodeOptions& options = {}) const;

  // Token ids for text made of parts, each saying whether special tokens
  // written in it are matched (a rendered chat template: the template's own
  // markers are, the text a message brought is not). options.parse_special
  // is not read. A control or unknown token is matched only inside one part
  // that allows it (user-defined tokens, in every part, as Encode does); the text between special tokens is tokenized as one piece whatever
  // parts it spans, so the result is Encode(concatenation) whenever the
  // parts that do not parse special tokens hold no special token's text.
  // Each part's UTF-8 is sanitized on its own.
  struct TextPart {
    std::string_view text;
    bool parse_special = false;
  };
  StatusOr<std::vector<TokenId>> EncodeParts(std::span<const TextPart> parts,
                                             const EncodeOptions& options = {}) const;

  // The bytes of one token as it decodes (byte-level unmapping, "▁" to space,
  // <0xXX> to its byte). Out-of-range ids are an error.
  StatusOr<std::string> TokenToPiece(TokenId id, bool render_special = false) const;
  // The concatenated bytes of `ids` (which need not be valid UTF-8: a token can
  // hold part of a character; see StreamDecoder for text).
  StatusOr<std::string> Decode(std::span<const TokenId> ids,
                               const DecodeOptions& options = {}) const;

  // Vocabulary.
  size_t n_vocab() const;
  Algorithm algorithm() const;
  const std::string& pre() const;  // tokenizer.ggml.pre as given ("" if absent)
  const std::string& token_text(TokenId id) const;  // REQUIRES: 0 <= id < n_vocab()
  TokenType token_type(TokenId id) const;            // REQUIRES: 0 <= id < n_vocab()
  float token_score(TokenId id) const;               // REQUIRES: 0 <= id < n_vocab()
  // The id of the token whose text is exactly `text`, or kNoToken.
  TokenId FindToken(std::string_view text) const;
  bool add_bos() const;
  bool add_space_prefix() const;

  // Special tokens (kNoToken when the vocabulary has none).
  TokenId bos() const;
  TokenId eos() const;
  TokenId eot() const;  // end of turn: tokenizer.ggml.eot_token_id or a known text
  TokenId eom() const;
  TokenId pad() const;
  TokenId unk() const;
  // True for tokens that end generation: EOS, EOT, EOM.
  bool IsEndOfGeneration(TokenId id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Decodes a stream of tokens to UTF-8 text one token at a time. A token may end
// inside a multi-byte character (byte tokens, byte-level BPE): Push returns only
// complete characters and holds back an incomplete trailing sequence (at most 3
// bytes) until a later token completes it. Bytes that can never become valid
// UTF-8 are replaced by U+FFFD at once. So the concatenation of every Push and
// the final Flush is SanitizeUtf8(Decode(ids)).
class StreamDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {});

  // The text completed by `id` (possibly empty). Out-of-range ids are an error
  // and leave the decoder unchanged.
  StatusOr<std::string> Push(TokenId id);
  // What is held back, each byte of it replaced by U+FFFD (the stream ended
  // inside a character), and a reset for a new stream.
  std::string Flush();
  // Bytes held back now (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  DecodeOptions options_;
  std::string pending_;
  bool at_start_ = true;
};

// Replaces each byte of `text` that does not start a valid UTF-8 sequence with
// U+FFFD (what Encode does to its input).
std::string SanitizeUtf8(std::string_view text);

// ---- Building GGUF vocabularies from other tokenizer files ------------------

// A tiktoken BPE file ("base64(token) rank" per line, ranks 0..n-1, as Llama 3's
// tokenizer.model) to a byte-level BPE vocabulary: tokens in rank order mapped
// through GPT-2's byte-to-unicode table, merges recovered from the ranks (each
// token of two or more bytes is the merge of the two parts that BPE with the
// lower ranks leaves), tokenizer.ggml.pre = "llama-bpe", and Llama 3's 256
// special tokens appended as control tokens (<|begin_of_text|> = n, ...).
// Errors name the line.
StatusOr<gguf::Writer> TiktokenToGguf(std::string_view file_bytes);

// A SentencePiece ModelProto (.model, as Llama 2's and Mistral's) to a "llama"
// vocabulary: pieces, scores and types as they are; BOS/EOS/UNK/PAD ids and
// add_dummy_prefix from the trainer and normalizer specs. Errors name the
// field and its byte offset.
StatusOr<gguf::Writer> SentencePieceToGguf(std::string_view file_bytes);

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_TOKENIZER_H_
