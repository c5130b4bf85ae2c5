#include "tokenizer/unicode.h"

#include <algorithm>
#include <iterator>
#include <memory>

namespace logitkit::tokenizer {
namespace {

struct CodepointRun {
  uint32_t first;
  uint8_t flags;
};

#include "tokenizer/unicode_tables.inc"

constexpr uint32_t kMaxCodepoint = 0x10FFFF;

// One byte of flags per code point (1.1 MB), expanded once from the runs so
// the pre-tokenizers' inner loops are a single load.
const uint8_t* FlagTable() {
  static const std::unique_ptr<uint8_t[]> table = [] {
    std::unique_ptr<uint8_t[]> t(new uint8_t[kMaxCodepoint + 1]);
    const size_t n = std::size(kCodepointRuns);
    for (size_t r = 0; r < n; ++r) {
      const uint32_t end = r + 1 < n ? kCodepointRuns[r + 1].first : kMaxCodepoint + 1;
      std::fill(t.get() + kCodepointRuns[r].first, t.get() + end, kCodepointRuns[r].flags);
    }
    return t;
  }();
  return table.get();
}

}  // namespace

uint8_t CodepointFlags(uint32_t cpt) {
  return cpt <= kMaxCodepoint ? FlagTable()[cpt] : 0;
}

const char* UnicodeTableVersion() { return kUnicodeVersion; }

size_t DecodeUtf8(std::string_view s, uint32_t* cpt) {
  if (s.empty()) return 0;
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = b(0);
  if (b0 < 0x80) {
    *cpt = b0;
    return 1;
  }
  size_t len;
  uint32_t c, min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, c = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, c = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, c = b0 & 0x07, min = 0x10000;
  } else {
    return 0;  // a continuation byte or 0xF8..0xFF
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    c = (c << 6) | (b(i) & 0x3F);
  }
  if (c < min || c > kMaxCodepoint || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cpt = c;
  return len;
}

void AppendUtf8(uint32_t cpt, std::string* out) {
  if (cpt < 0x80) {
    out->push_back(static_cast<char>(cpt));
  } else if (cpt < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cpt >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

std::vector<uint32_t> DecodeUtf8Lossy(std::string_view text) {
  std::vector<uint32_t> cpts;
  cpts.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t c;
    const size_t len = DecodeUtf8(text.substr(pos), &c);
    cpts.push_back(len ? c : kReplacementChar);
    pos += len ? len : 1;
  }
  return cpts;
}

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t c;
    const size_t len = DecodeUtf8(text.substr(pos), &c);
    if (len) {
      out.append(text.substr(pos, len));
      pos += len;
    } else {
      AppendUtf8(kReplacementChar, &out);
      pos += 1;
    }
  }
  return out;
}

size_t IncompleteUtf8Suffix(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end
  // and whose bytes so far could still become valid.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const uint8_t b = static_cast<uint8_t>(s[s.size() - back]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: keep looking
    size_t len = 0;
    if ((b & 0xE0) == 0xC0) len = 2;
    else if ((b & 0xF0) == 0xE0) len = 3;
    else if ((b & 0xF8) == 0xF0) len = 4;
    if (len <= back) return 0;  // ASCII, invalid, or complete
    // Complete the prefix with the smallest continuation that keeps it valid
    // and check it decodes: rules out overlongs, surrogates, > 0x10FFFF early.
    std::string probe(s.substr(s.size() - back));
    const uint8_t b1_min = (b == 0xE0) ? 0xA0 : (b == 0xF0) ? 0x90 : 0x80;
    while (probe.size() < len) {
      probe.push_back(static_cast<char>(probe.size() == 1 ? b1_min : 0x80));
    }
    uint32_t c;
    return DecodeUtf8(probe, &c) == len ? back : 0;
  }
  return 0;
}

}  // namespace logitkit::tokenizer
