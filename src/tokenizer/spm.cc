// SentencePiece-style BPE (tokenizer.ggml.model = "llama"), as llama.cpp's
// llm_tokenizer_spm: the text's characters are the first symbols; the adjacent
// pair whose concatenation is a token with the highest score merges first (ties:
// leftmost), until no pair is a token. A symbol left that is no token falls back
// to its bytes' <0xXX> tokens. Linked list plus max-heap: O(n log n).
#include <cstdio>
#include <queue>
#include <string>

#include "tokenizer/impl.h"
#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

struct Symbol {
  int32_t prev, next;
  uint32_t begin, len;  // bytes of the text; len == 0 once merged away
};

struct Candidate {
  float score;
  int32_t left, right;
  uint32_t len;  // bytes of left + right when pushed
  bool operator<(const Candidate& o) const {  // max-heap: higher score, then lower left
    return score != o.score ? score < o.score : left > o.left;
  }
};

}  // namespace

Status EncodeSpm(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>* out) {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cpt;
    size_t len = DecodeUtf8(text.substr(pos), &cpt);
    if (len == 0) len = 1;  // not reached: the caller sanitized the text
    const int32_t i = static_cast<int32_t>(symbols.size());
    symbols.push_back({i - 1, pos + len < text.size() ? i + 1 : -1, static_cast<uint32_t>(pos),
                       static_cast<uint32_t>(len)});
    pos += len;
  }
  std::priority_queue<Candidate> heap;
  const auto push = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t len = symbols[left].len + symbols[right].len;
    const TokenId id = v.FindMergeable(text.substr(symbols[left].begin, len));
    if (id == kNoToken) return;
    heap.push({v.tokens[id].score, left, right, len});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push(i, i + 1);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& l = symbols[c.left];
    Symbol& r = symbols[c.right];
    // Stale: one side merged away or grew since the candidate was pushed.
    if (l.len == 0 || r.len == 0 || l.len + r.len != c.len || l.next != c.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = c.left;
    push(l.prev, c.left);
    push(c.left, l.next);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const TokenId id = v.FindMergeable(text.substr(s.begin, s.len));
    if (id != kNoToken) {
      out->push_back(id);
      continue;
    }
    for (uint32_t k = s.begin; k < s.begin + s.len; ++k) {
      const uint8_t b = static_cast<uint8_t>(text[k]);
      if (v.byte_token[b] != kNoToken) {
        out->push_back(v.byte_token[b]);
      } else if (v.unk != kNoToken) {
        out->push_back(v.unk);
      } else {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02X", b);
        return FailedPreconditionError(std::string("byte ") + hex +
                                       " has no <0xXX> token and the vocabulary has no unknown token");
      }
    }
  }
  return OkStatus();
}

}  // namespace logitkit::tokenizer
