#include "tokenizer/pretokenize.h"

#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

constexpr uint32_t kOutside = 0xFFFFFFFF;  // a position past the piece

// A view of one input piece [begin, end) with class lookups that answer "none"
// outside it (as the regex cannot look past the piece), and the output.
class Cursor {
 public:
  Cursor(std::span<const uint32_t> cpts, size_t begin, size_t end, std::vector<size_t>* out)
      : cpts_(cpts), begin_(begin), end_(end), last_(begin), out_(out) {}

  bool inside(size_t pos) const { return pos >= begin_ && pos < end_; }
  uint32_t cpt(size_t pos) const { return inside(pos) ? cpts_[pos] : kOutside; }
  // Class bits, plus kInside so that "any code point" is a non-zero value.
  static constexpr uint16_t kInside = 0x100;
  uint16_t flags(size_t pos) const {
    return inside(pos) ? (CodepointFlags(cpts_[pos]) | kInside) : 0;
  }
  bool letter(size_t pos) const { return flags(pos) & kLetter; }
  bool number(size_t pos) const { return flags(pos) & kNumber; }
  bool space(size_t pos) const { return flags(pos) & kWhitespace; }
  // [^\s\p{L}\p{N}]: any code point of the piece that is none of the three.
  bool other(size_t pos) const {
    const uint16_t f = flags(pos);
    return f != 0 && !(f & (kLetter | kNumber | kWhitespace));
  }

  // Ends the current output piece at `pos` (if it is not empty); returns its length.
  size_t Emit(size_t pos) {
    const size_t len = pos - last_;
    if (len > 0) out_->push_back(len);
    last_ = pos;
    return len;
  }
  size_t begin() const { return begin_; }
  size_t end() const { return end_; }

 private:
  std::span<const uint32_t> cpts_;
  size_t begin_, end_, last_;
  std::vector<size_t>* out_;
};

uint32_t AsciiLower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// The contraction at `pos` ('s 't 're 've 'm 'll 'd), its length in code points
// or 0. `fold` makes it case-insensitive (ASCII only, as the vocabularies are).
size_t Contraction(const Cursor& c, size_t pos, bool fold) {
  if (c.cpt(pos) != '\'' || !c.inside(pos + 1)) return 0;
  const auto at = [&](size_t p) { return fold ? AsciiLower(c.cpt(p)) : c.cpt(p); };
  const uint32_t n1 = at(pos + 1);
  if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
  if (!c.inside(pos + 2)) return 0;
  const uint32_t n2 = at(pos + 2);
  if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
  return 0;
}

void SplitGpt2(Cursor& c) {
  for (size_t pos = c.begin(); pos < c.end();) {
    if (const size_t n = Contraction(c, pos, /*fold=*/false)) {
      pos += n;
      c.Emit(pos);
      continue;
    }
    // An optional leading space, then a run of one class.
    const size_t lead = c.cpt(pos) == ' ' ? 1 : 0;
    const size_t run = pos + lead;
    if (c.letter(run) || c.number(run) || c.other(run)) {
      const bool letter = c.letter(run), number = c.number(run);
      size_t p = run;
      if (letter) {
        while (c.letter(p)) ++p;
      } else if (number) {
        while (c.number(p)) ++p;
      } else {
        while (c.other(p)) ++p;
      }
      pos = p;
      c.Emit(pos);
      continue;
    }
    size_t n_space = 0;
    while (c.space(pos + n_space)) ++n_space;
    if (n_space > 1 && c.inside(pos + n_space)) {
      // \s+(?!\S): leave the last space to lead the next piece.
      pos += n_space - 1;
      c.Emit(pos);
      continue;
    }
    if (n_space > 0) {
      pos += n_space;
      c.Emit(pos);
      continue;
    }
    c.Emit(++pos);  // nothing matched: the code point alone
  }
}

// kLlama3 (max_digits 3) and kQwen2 (max_digits 1).
void SplitLlama3(Cursor& c, size_t max_digits) {
  for (size_t pos = c.begin(); pos < c.end();) {
    const uint32_t cpt = c.cpt(pos);
    if (const size_t n = Contraction(c, pos, /*fold=*/true)) {
      pos += n;
      c.Emit(pos);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (cpt != '\r' && cpt != '\n' && !c.number(pos) && (c.letter(pos) || c.letter(pos + 1))) {
      ++pos;
      while (c.letter(pos)) ++pos;
      c.Emit(pos);
      continue;
    }
    // \p{N}{1,max_digits}
    if (c.number(pos)) {
      size_t group = pos;
      while (c.number(pos)) {
        if (++pos - group >= max_digits) {
          c.Emit(pos);
          group = pos;
        }
      }
      c.Emit(pos);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'. As llama.cpp does, a space followed by the
    // end of the piece also takes this branch (and stands alone).
    const size_t lead = cpt == ' ' ? 1 : 0;
    const uint16_t next = c.flags(pos + lead);
    if (!(next & (kLetter | kNumber | kWhitespace)) && c.flags(pos) != 0) {
      pos += lead;
      while (c.other(pos)) ++pos;
      while (c.cpt(pos) == '\r' || c.cpt(pos) == '\n') ++pos;
      c.Emit(pos);
      continue;
    }
    size_t n_space = 0, last_newline_end = 0;
    while (c.space(pos + n_space)) {
      const uint32_t s = c.cpt(pos + n_space);
      if (s == '\r' || s == '\n') last_newline_end = pos + n_space + 1;
      ++n_space;
    }
    if (last_newline_end > 0) {  // \s*[\r\n]+
      pos = last_newline_end;
      c.Emit(pos);
      continue;
    }
    if (n_space > 1 && c.inside(pos + n_space)) {  // \s+(?!\S)
      pos += n_space - 1;
      c.Emit(pos);
      continue;
    }
    if (n_space > 0) {  // \s+
      pos += n_space;
      c.Emit(pos);
      continue;
    }
    c.Emit(++pos);
  }
}

// Splits out maximal runs of code points where `in_run` holds: the runs and
// the gaps between them each become a piece.
template <typename Pred>
void SplitRuns(Cursor& c, Pred in_run) {
  for (size_t pos = c.begin(); pos < c.end();) {
    const bool run = in_run(pos);
    while (pos < c.end() && in_run(pos) == run) ++pos;
    c.Emit(pos);
  }
}

// [0-9][0-9][0-9], leftmost and non-overlapping; the rest are gaps.
void SplitDigitTriples(Cursor& c) {
  const auto digit = [&](size_t p) { return c.cpt(p) >= '0' && c.cpt(p) <= '9'; };
  for (size_t pos = c.begin(); pos < c.end();) {
    if (digit(pos) && digit(pos + 1) && digit(pos + 2)) {
      c.Emit(pos);
      pos += 3;
      c.Emit(pos);
    } else {
      ++pos;
    }
  }
  c.Emit(c.end());
}

// Applies `split` to each piece of `pieces`.
template <typename Split>
std::vector<size_t> Apply(std::span<const uint32_t> cpts, const std::vector<size_t>& pieces,
                          Split split) {
  std::vector<size_t> out;
  out.reserve(pieces.size());
  size_t begin = 0;
  for (size_t len : pieces) {
    Cursor c(cpts, begin, begin + len, &out);
    split(c);
    begin += len;
  }
  return out;
}

}  // namespace

std::vector<size_t> PreTokenize(PreTokenizer pre, std::span<const uint32_t> cpts) {
  std::vector<size_t> pieces;
  if (cpts.empty()) return pieces;
  pieces.push_back(cpts.size());
  switch (pre) {
    case PreTokenizer::kGpt2:
      return Apply(cpts, pieces, [](Cursor& c) { SplitGpt2(c); });
    case PreTokenizer::kLlama3:
      return Apply(cpts, pieces, [](Cursor& c) { SplitLlama3(c, 3); });
    case PreTokenizer::kQwen2:
      return Apply(cpts, pieces, [](Cursor& c) { SplitLlama3(c, 1); });
    case PreTokenizer::kSmolLM:
      pieces = Apply(cpts, pieces, [](Cursor& c) {
        // Each number alone: a run of numbers becomes one piece per code point.
        for (size_t pos = c.begin(); pos < c.end();) {
          if (c.number(pos)) {
            c.Emit(pos);
            c.Emit(++pos);
          } else {
            ++pos;
          }
        }
        c.Emit(c.end());
      });
      return Apply(cpts, pieces, [](Cursor& c) { SplitGpt2(c); });
    case PreTokenizer::kDefault: {
      // [\p{P}\$\+<=>\^~\|]+ as llama.cpp matches it: ASCII punctuation is the
      // listed set (which leaves out ` and the symbols it adds back).
      pieces = Apply(cpts, pieces, [](Cursor& c) {
        SplitRuns(c, [&](size_t p) {
          const uint32_t x = c.cpt(p);
          if (x < 0x80) {
            return (x >= '!' && x <= '#') || (x >= '%' && x <= '*') || (x >= ',' && x <= '/') ||
                   x == ':' || x == ';' || x == '?' || x == '@' || (x >= '[' && x <= ']') ||
                   x == '_' || x == '{' || x == '}' || x == '$' || x == '+' || x == '<' ||
                   x == '=' || x == '>' || x == '^' || x == '~' || x == '|';
          }
          return (c.flags(p) & kPunctuation) != 0 && !(c.flags(p) & kWhitespace);
        });
      });
      pieces = Apply(cpts, pieces, [](Cursor& c) { SplitGpt2(c); });
      pieces = Apply(cpts, pieces, [](Cursor& c) {
        SplitRuns(c, [&](size_t p) { return c.number(p); });
      });
      return Apply(cpts, pieces, [](Cursor& c) { SplitDigitTriples(c); });
    }
  }
  return pieces;
}

}  // namespace logitkit::tokenizer
