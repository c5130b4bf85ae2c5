// Pre-tokenizers: split text (as code points) into the pieces BPE merges within.
// Each is the pre-tokenizer regex of a model family, matched by hand (no regex
// engine), with llama.cpp's semantics where it differs from the regex's:
//
//   kGpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2   as kLlama3 with \p{N} (one digit) for \p{N}{1,3}
//   kSmolLM  every \p{N} alone first, then kGpt2 on what lies between
//   kDefault llama.cpp's fallback for a BPE vocabulary without a known
//            pre-tokenizer: runs of [\p{P}$+<=>^~|], then kGpt2, then \p{N}+,
//            then [0-9]{3}, each applied within the pieces of the one before
//
// Cost: O(n) in the number of code points, one table load per code point.
#ifndef LOGITKIT_TOKENIZER_PRETOKENIZE_H_
#define LOGITKIT_TOKENIZER_PRETOKENIZE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace logitkit::tokenizer {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kSmolLM, kDefault };

// Returns the pieces' lengths in code points, in order; they are all > 0 and
// sum to cpts.size().
std::vector<size_t> PreTokenize(PreTokenizer pre, std::span<const uint32_t> cpts);

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_TOKENIZER_PRETOKENIZE_H_
