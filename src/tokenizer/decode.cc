// Decoding: token -> bytes, whole sequences, and the streaming decoder.
#include <string>

#include "tokenizer/impl.h"
#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

Status BadId(TokenId id, size_t n_vocab) {
  return OutOfRangeError("token id " + std::to_string(id) + " is out of range for a vocabulary of " +
                         std::to_string(n_vocab) + " tokens");
}

}  // namespace

StatusOr<std::string> Tokenizer::TokenToPiece(TokenId id, bool render_special) const {
  const Impl& v = *impl_;
  if (id < 0 || static_cast<size_t>(id) >= v.tokens.size()) return BadId(id, v.tokens.size());
  const TokenType type = v.tokens[id].type;
  if (render_special && (type == TokenType::kControl || type == TokenType::kUnknown)) {
    return v.tokens[id].text;
  }
  return v.piece_plain[id];
}

StatusOr<std::string> Tokenizer::Decode(std::span<const TokenId> ids,
                                        const DecodeOptions& options) const {
  std::string out;
  bool strip = options.strip_space_prefix && impl_->add_space_prefix;
  for (TokenId id : ids) {
    StatusOr<std::string> piece = TokenToPiece(id, options.render_special);
    if (!piece.ok()) return piece.status();
    std::string_view p = *piece;
    if (strip && !p.empty()) {
      if (p[0] == ' ') p.remove_prefix(1);
      strip = false;
    }
    out.append(p);
  }
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options)
    : tokenizer_(&tokenizer), options_(options) {}

StatusOr<std::string> StreamDecoder::Push(TokenId id) {
  StatusOr<std::string> piece = tokenizer_->TokenToPiece(id, options_.render_special);
  if (!piece.ok()) return piece.status();
  std::string_view p = *piece;
  if (at_start_ && !p.empty()) {
    if (options_.strip_space_prefix && tokenizer_->add_space_prefix() && p[0] == ' ') {
      p.remove_prefix(1);
    }
    at_start_ = false;
  }
  pending_.append(p);
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const std::string_view rest = std::string_view(pending_).substr(pos);
    uint32_t cpt;
    if (const size_t len = DecodeUtf8(rest, &cpt)) {
      out.append(rest.substr(0, len));
      pos += len;
    } else if (rest.size() <= 3 && IncompleteUtf8Suffix(rest) == rest.size()) {
      break;  // may still complete: hold back
    } else {
      AppendUtf8(kReplacementChar, &out);
      ++pos;
    }
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  for (size_t i = 0; i < pending_.size(); ++i) AppendUtf8(kReplacementChar, &out);
  pending_.clear();
  at_start_ = true;
  return out;
}

}  // namespace logitkit::tokenizer
