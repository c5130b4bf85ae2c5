// GPT-2's byte-to-unicode table: byte-level BPE vocabularies spell each byte as
// a printable code point (bytes 0x21..0x7E, 0xA1..0xAC and 0xAE..0xFF as
// themselves, the other 68 as U+0100.. in byte order), so " " is "Ġ" (U+0120).
#ifndef LOGITKIT_TOKENIZER_BYTE_LEVEL_H_
#define LOGITKIT_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace logitkit::tokenizer {

// The code point that spells `byte`.
uint32_t ByteToCodepoint(uint8_t byte);
// The byte a code point spells, or -1 if it spells none.
int ByteFromCodepoint(uint32_t cpt);
// `bytes` spelled in GPT-2 characters (UTF-8).
std::string ByteLevelEncode(std::string_view bytes);
// The inverse; a code point that spells no byte is kept as its UTF-8. Invalid
// UTF-8 in `text` is copied as it is.
std::string ByteLevelDecode(std::string_view text);

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_TOKENIZER_BYTE_LEVEL_H_
