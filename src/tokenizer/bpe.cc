// Byte-level BPE (tokenizer.ggml.model = "gpt2"): pre-tokenize, then within each
// pre-token merge adjacent symbols, lowest merge rank first (ties: leftmost).
//
// The symbols of a pre-token are its bytes, kept in a doubly linked list; the
// candidate merges of adjacent pairs wait in a min-heap keyed (rank, left
// position). A popped candidate whose symbols have changed since it was pushed
// is stale and skipped. Each merge removes one symbol and pushes at most two
// candidates, so a pre-token of n bytes costs O(n log n), whatever its content.
#include <cstdio>
#include <functional>
#include <queue>
#include <string>

#include "tokenizer/byte_level.h"
#include "tokenizer/impl.h"
#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

struct Symbol {
  int32_t prev, next;  // list links, -1 at the ends
  int32_t piece;       // piece id, or -1 (a byte no piece spells); -2 once merged away
  uint32_t begin, len;  // bytes of the pre-token
};

// 16 bytes, so that more of a long pre-token's heap stays in cache.
struct Candidate {
  uint64_t key;                      // rank << 32 | left symbol index: the heap order
  int32_t left_piece, right_piece;   // the pair's pieces when pushed
  bool operator>(const Candidate& o) const { return key > o.key; }
};

class Merger {
 public:
  explicit Merger(const Tokenizer::Impl& v) : v_(v) {}

  // Appends the tokens of one pre-token.
  Status Encode(std::string_view bytes, std::vector<TokenId>* out) {
    if (v_.ignore_merges) {
      const TokenId whole = v_.FindMergeable(ByteLevelEncode(bytes));
      if (whole != kNoToken) {
        out->push_back(whole);
        return OkStatus();
      }
    }
    const int32_t n = static_cast<int32_t>(bytes.size());
    symbols_.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      symbols_[i] = {i - 1, i + 1 < n ? i + 1 : -1,
                     v_.byte_piece[static_cast<uint8_t>(bytes[i])], static_cast<uint32_t>(i), 1};
    }
    heap_ = {};
    for (int32_t i = 0; i + 1 < n; ++i) Push(i, i + 1);
    while (!heap_.empty()) {
      const Candidate c = heap_.top();
      heap_.pop();
      const int32_t left = static_cast<int32_t>(c.key & 0xFFFFFFFF);
      Symbol& l = symbols_[left];
      // Stale unless both symbols are as they were: the left one only changes by
      // absorbing its right neighbour, the right one by absorbing its own.
      if (l.piece != c.left_piece || l.next < 0) continue;
      Symbol& r = symbols_[l.next];
      if (r.piece != c.right_piece) continue;
      l.piece = v_.merges.find(PairKey(c.left_piece, c.right_piece))->second.result;
      l.len += r.len;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = left;
      r.piece = -2;
      if (l.prev >= 0) Push(l.prev, left);
      if (l.next >= 0) Push(left, l.next);
    }
    const int32_t n_vocab = static_cast<int32_t>(v_.tokens.size());
    for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = symbols_[i].next) {
      const Symbol& s = symbols_[i];
      if (s.piece >= 0 && s.piece < n_vocab && Tokenizer::Impl::Mergeable(v_.tokens[s.piece].type)) {
        out->push_back(s.piece);
        continue;
      }
      // A symbol no token spells: its bytes one by one.
      for (uint32_t k = s.begin; k < s.begin + s.len; ++k) {
        const uint8_t b = static_cast<uint8_t>(bytes[k]);
        if (v_.byte_token[b] == kNoToken) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "0x%02X", b);
          return FailedPreconditionError(std::string("byte ") + hex +
                                         " has no token in this byte-level vocabulary");
        }
        out->push_back(v_.byte_token[b]);
      }
    }
    return OkStatus();
  }

 private:
  static uint64_t PairKey(int32_t left_piece, int32_t right_piece) {
    return static_cast<uint64_t>(left_piece) << 32 | static_cast<uint32_t>(right_piece);
  }
  void Push(int32_t left, int32_t right) {
    const int32_t lp = symbols_[left].piece, rp = symbols_[right].piece;
    if (lp < 0 || rp < 0) return;
    auto it = v_.merges.find(PairKey(lp, rp));
    if (it == v_.merges.end()) return;
    heap_.push({static_cast<uint64_t>(it->second.rank) << 32 | static_cast<uint32_t>(left), lp, rp});
  }

  const Tokenizer::Impl& v_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap_;
};

size_t Utf8Length(uint32_t cpt) { return cpt < 0x80 ? 1 : cpt < 0x800 ? 2 : cpt < 0x10000 ? 3 : 4; }

}  // namespace

Status EncodeBpe(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>* out) {
  const std::vector<uint32_t> cpts = DecodeUtf8Lossy(text);  // text is valid: no replacement
  const std::vector<size_t> pieces = PreTokenize(v.pre, cpts);
  Merger merger(v);
  size_t cpt_pos = 0, byte_pos = 0;
  for (size_t len : pieces) {
    size_t bytes = 0;
    for (size_t k = 0; k < len; ++k) bytes += Utf8Length(cpts[cpt_pos + k]);
    LOGITKIT_RETURN_IF_ERROR(merger.Encode(text.substr(byte_pos, bytes), out));
    cpt_pos += len;
    byte_pos += bytes;
  }
  return OkStatus();
}

}  // namespace logitkit::tokenizer
