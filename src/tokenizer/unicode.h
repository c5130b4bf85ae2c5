// UTF-8 and the code point classes the pre-tokenizers match (\p{L}, \p{N},
// \p{P}, \s), from the generated table unicode_tables.inc.
#ifndef LOGITKIT_TOKENIZER_UNICODE_H_
#define LOGITKIT_TOKENIZER_UNICODE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace logitkit::tokenizer {

constexpr uint32_t kReplacementChar = 0xFFFD;

// Code point classes, as bits.
enum CodepointClass : uint8_t {
  kLetter = 1,       // \p{L}
  kNumber = 2,       // \p{N}
  kWhitespace = 4,   // \s (the White_Space property)
  kPunctuation = 8,  // \p{P}
};

// The class bits of `cpt`; 0 for code points past 0x10FFFF.
uint8_t CodepointFlags(uint32_t cpt);
// The Unicode version the table was generated from.
const char* UnicodeTableVersion();

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it does not
// start with one (a stray continuation byte, a truncated or overlong sequence,
// a surrogate, or a code point past 0x10FFFF). Writes the code point on success.
size_t DecodeUtf8(std::string_view s, uint32_t* cpt);

// Appends the UTF-8 encoding of `cpt` (REQUIRES: cpt <= 0x10FFFF).
void AppendUtf8(uint32_t cpt, std::string* out);

// Decodes `text` to code points. Each byte that does not start a valid
// sequence becomes one U+FFFD (so "\xE2\x82" gives two). Never fails.
std::vector<uint32_t> DecodeUtf8Lossy(std::string_view text);

// `text` with each invalid byte replaced by U+FFFD, as DecodeUtf8Lossy does.
std::string SanitizeUtf8(std::string_view text);

// How many bytes at the end of `s` are a valid but incomplete UTF-8 prefix
// (0..3): what a streaming decoder must hold back.
size_t IncompleteUtf8Suffix(std::string_view s);

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_TOKENIZER_UNICODE_H_
