// Tokenizer::Encode: sanitize the UTF-8, split out special tokens, tokenize the
// text between them, add BOS / EOS.
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/impl.h"
#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

struct Fragment {
  TokenId token;       // kNoToken for raw text
  size_t begin, size;  // raw text: bytes of the sanitized input
  bool literal;        // raw text in which special tokens are not matched
};

// Splits the raw fragments at every occurrence of each special token, longest
// tokens first, as llama.cpp's tokenizer_st_partition does, then joins raw
// fragments that touch (text that spans parts is one piece). `frags` starts
// as one raw fragment per part. A token whose text does not occur in the
// input costs one search.
std::vector<Fragment> Partition(const Tokenizer::Impl& v, std::string_view text, std::vector<Fragment> frags) {
  std::vector<Fragment> next;
  for (TokenId id : v.special_by_length) {
    const Tokenizer::Impl::Token& t = v.tokens[id];
    if (text.find(t.text) == std::string_view::npos) continue;
    const bool user_defined = t.type == TokenType::kUserDefined;  // matched everywhere
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token != kNoToken || (f.literal && !user_defined)) {
        next.push_back(f);
        continue;
      }
      size_t pos = f.begin;
      const size_t end = f.begin + f.size;
      while (pos < end) {
        const size_t hit = text.substr(0, end).find(t.text, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) next.push_back({kNoToken, pos, hit - pos, f.literal});
        next.push_back({id, 0, 0, false});
        pos = hit + t.text.size();
      }
      if (pos < end) next.push_back({kNoToken, pos, end - pos, f.literal});
    }
    frags.swap(next);
  }
  next.clear();
  for (const Fragment& f : frags) {
    if (f.token == kNoToken && f.size == 0) continue;
    if (f.token == kNoToken && !next.empty() && next.back().token == kNoToken) {
      next.back().size += f.size;  // raw fragments are in order and contiguous
    } else {
      next.push_back(f);
    }
  }
  return next;
}

}  // namespace

StatusOr<std::vector<TokenId>> Tokenizer::Encode(std::string_view raw_text,
                                                 const EncodeOptions& options) const {
  const TextPart part{raw_text, options.parse_special};
  return EncodeParts(std::span(&part, 1), options);
}

StatusOr<std::vector<TokenId>> Tokenizer::EncodeParts(std::span<const TextPart> parts,
                                                      const EncodeOptions& options) const {
  const Impl& v = *impl_;
  std::string text;
  std::vector<Fragment> frags;
  for (const TextPart& p : parts) {
    const std::string sanitized = SanitizeUtf8(p.text);
    if (sanitized.empty()) continue;
    // A control or unknown token is matched only where the part allows it;
    // user-defined tokens always are.
    frags.push_back({kNoToken, text.size(), sanitized.size(), !p.parse_special});
    text += sanitized;
  }
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (options.add_bos.value_or(v.add_bos)) {
    if (v.bos == kNoToken) {
      return FailedPreconditionError("add_bos is set but the vocabulary has no BOS token");
    }
    out.push_back(v.bos);
  }
  bool after_special = true;  // SPM: a space prefix for the first text and after specials
  std::string escaped;
  for (const Fragment& f : Partition(v, text, std::move(frags))) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    const std::string_view piece = std::string_view(text).substr(f.begin, f.size);
    if (v.algorithm == Algorithm::kBpe) {
      LOGITKIT_RETURN_IF_ERROR(EncodeBpe(v, piece, &out));
    } else {
      // Spaces become U+2581 "▁", as SentencePiece escapes them.
      escaped.clear();
      if (v.add_space_prefix && after_special) escaped += "\xE2\x96\x81";
      for (char c : piece) {
        if (c == ' ') {
          escaped += "\xE2\x96\x81";
        } else {
          escaped += c;
        }
      }
      LOGITKIT_RETURN_IF_ERROR(EncodeSpm(v, escaped, &out));
    }
    after_special = false;
  }
  if (options.add_eos.value_or(v.add_eos)) {
    if (v.eos == kNoToken) {
      return FailedPreconditionError("add_eos is set but the vocabulary has no EOS token");
    }
    out.push_back(v.eos);
  }
  return out;
}

}  // namespace logitkit::tokenizer
