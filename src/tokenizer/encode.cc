// Tokenizer::Encode: sanitize the UTF-8, split out special tokens, tokenize the
// text between them, add BOS / EOS.
#include <string>

#include "tokenizer/impl.h"
#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

struct Fragment {
  TokenId token;       // kNoToken for raw text
  size_t begin, size;  // raw text: bytes of the sanitized input
};

// Splits the raw fragments at every occurrence of each special token, longest
// tokens first, as llama.cpp's tokenizer_st_partition does. A token whose text
// does not occur in the input costs one search.
std::vector<Fragment> Partition(const Tokenizer::Impl& v, std::string_view text,
                                bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({kNoToken, 0, text.size()});
  std::vector<Fragment> next;
  for (TokenId id : v.special_by_length) {
    const Tokenizer::Impl::Token& t = v.tokens[id];
    if (!parse_special && t.type != TokenType::kUserDefined) continue;
    if (text.find(t.text) == std::string_view::npos) continue;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t pos = f.begin;
      const size_t end = f.begin + f.size;
      while (pos < end) {
        const size_t hit = text.substr(0, end).find(t.text, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) next.push_back({kNoToken, pos, hit - pos});
        next.push_back({id, 0, 0});
        pos = hit + t.text.size();
      }
      if (pos < end) next.push_back({kNoToken, pos, end - pos});
    }
    frags.swap(next);
  }
  return frags;
}

}  // namespace

StatusOr<std::vector<TokenId>> Tokenizer::Encode(std::string_view raw_text,
                                                 const EncodeOptions& options) const {
  const Impl& v = *impl_;
  const std::string text = SanitizeUtf8(raw_text);
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
  for (const Fragment& f : Partition(v, text, options.parse_special)) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    const std::string_view piece = std::string_view(text).substr(f.begin, f.size);
    if (v.model == Model::kBpe) {
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
