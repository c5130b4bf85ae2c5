#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

bool Printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

const std::array<uint32_t, 256>& Table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = Printable(b) ? b : next++;
    return t;
  }();
  return table;
}

}  // namespace

uint32_t ByteToCodepoint(uint8_t byte) { return Table()[byte]; }

int ByteFromCodepoint(uint32_t cpt) {
  if (cpt < 256) return Printable(static_cast<int>(cpt)) ? static_cast<int>(cpt) : -1;
  static const std::array<int16_t, 68> inverse = [] {
    std::array<int16_t, 68> inv{};
    for (int b = 0; b < 256; ++b) {
      if (!Printable(b)) inv[Table()[b] - 256] = static_cast<int16_t>(b);
    }
    return inv;
  }();
  return cpt - 256 < inverse.size() ? inverse[cpt - 256] : -1;
}

std::string ByteLevelEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(c)), &out);
  return out;
}

std::string ByteLevelDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cpt;
    const size_t len = DecodeUtf8(text.substr(pos), &cpt);
    if (len == 0) {
      out.push_back(text[pos++]);
      continue;
    }
    const int byte = ByteFromCodepoint(cpt);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

}  // namespace logitkit::tokenizer
