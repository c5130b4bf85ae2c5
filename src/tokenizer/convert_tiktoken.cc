// TiktokenToGguf: a tiktoken BPE file (Llama 3's tokenizer.model) to a GGUF
// byte-level BPE vocabulary, as llama.cpp's converter would write it.
//
// tiktoken stores ranks, not merges: BPE there merges the adjacent pair whose
// concatenation has the lowest rank. The equivalent merge list has, for each
// token of two or more bytes in rank order, the two parts that running that
// BPE on the token's own bytes with only lower ranks leaves (when that is two).
#include <algorithm>
#include <string>
#include <unordered_map>

#include "logitkit/tokenizer.h"
#include "tokenizer/byte_level.h"

namespace logitkit::tokenizer {
namespace {

// Standard base64 with '=' padding; false on a bad character or length.
bool Base64Decode(std::string_view in, std::string* out) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t acc = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
        acc <<= 6;
        continue;
      }
      const int v = value(c);
      if (v < 0 || pad > 0) return false;
      acc = (acc << 6) | static_cast<uint32_t>(v);
    }
    out->push_back(static_cast<char>(acc >> 16));
    if (pad < 2) out->push_back(static_cast<char>((acc >> 8) & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(acc & 0xFF));
  }
  return true;
}

// Llama 3's special tokens after the 128,000 ranks (llama-models' tokenizer.py).
std::vector<std::string> Llama3SpecialTokens() {
  std::vector<std::string> names = {
      "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
      "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
      "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
      "<|python_tag|>", "<|image|>"};
  const size_t named = names.size();
  for (size_t i = 0; i < 256 - named; ++i) {
    names.push_back("<|reserved_special_token_" + std::to_string(2 + i) + "|>");
  }
  return names;
}

}  // namespace

StatusOr<gguf::Writer> TiktokenToGguf(std::string_view file) {
  // Parse "base64 rank" lines.
  std::vector<std::string> by_rank;
  std::unordered_map<std::string, int32_t> rank_of;
  size_t line_no = 0;
  for (size_t pos = 0; pos < file.size();) {
    size_t eol = file.find('\n', pos);
    if (eol == std::string_view::npos) eol = file.size();
    std::string_view line = file.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::string where = "tiktoken line " + std::to_string(line_no) + ": ";
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return InvalidArgumentError(where + "expected 'base64 rank'");
    }
    std::string bytes;
    if (!Base64Decode(line.substr(0, space), &bytes) || bytes.empty()) {
      return InvalidArgumentError(where + "'" + std::string(line.substr(0, space)) +
                                  "' is not base64 of a non-empty token");
    }
    const std::string_view rank_text = line.substr(space + 1);
    int64_t rank = 0;
    if (rank_text.empty() || rank_text.size() > 9) {
      return InvalidArgumentError(where + "rank '" + std::string(rank_text) + "' is not a rank");
    }
    for (char c : rank_text) {
      if (c < '0' || c > '9') {
        return InvalidArgumentError(where + "rank '" + std::string(rank_text) + "' is not a rank");
      }
      rank = rank * 10 + (c - '0');
    }
    if (rank != static_cast<int64_t>(by_rank.size())) {
      return InvalidArgumentError(where + "rank " + std::to_string(rank) + ", expected " +
                                  std::to_string(by_rank.size()) + " (ranks in order from 0)");
    }
    if (!rank_of.emplace(bytes, static_cast<int32_t>(rank)).second) {
      return InvalidArgumentError(where + "token repeats rank " + std::to_string(rank_of[bytes]));
    }
    by_rank.push_back(std::move(bytes));
  }
  if (by_rank.empty()) return InvalidArgumentError("tiktoken file has no tokens");

  // Recover the merges.
  std::vector<std::string> merges;
  std::vector<std::string> parts;
  for (size_t r = 0; r < by_rank.size(); ++r) {
    const std::string& token = by_rank[r];
    if (token.size() < 2) continue;
    parts.clear();
    for (char c : token) parts.emplace_back(1, c);
    while (parts.size() > 2) {
      int32_t best_rank = static_cast<int32_t>(r);
      size_t best = parts.size();
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        auto it = rank_of.find(parts[i] + parts[i + 1]);
        if (it != rank_of.end() && it->second < best_rank) {
          best_rank = it->second;
          best = i;
        }
      }
      if (best == parts.size()) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + best + 1);
    }
    // A token that lower ranks cannot build (Llama 3 has a few, e.g. ".:.:")
    // gets no merge, as in Hugging Face's converter: only a whole pre-token
    // can be it (ignore_merges).
    if (parts.size() != 2) continue;
    merges.push_back(ByteLevelEncode(parts[0]) + " " + ByteLevelEncode(parts[1]));
  }

  std::vector<std::string> tokens;
  tokens.reserve(by_rank.size() + 256);
  for (const std::string& t : by_rank) tokens.push_back(ByteLevelEncode(t));
  std::vector<int32_t> types(tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  const uint32_t first_special = static_cast<uint32_t>(tokens.size());
  for (std::string& name : Llama3SpecialTokens()) {
    tokens.push_back(std::move(name));
    types.push_back(static_cast<int32_t>(TokenType::kControl));
  }

  gguf::Writer w;
  w.AddString("general.architecture", "llama");
  w.AddString("tokenizer.ggml.model", "gpt2");
  w.AddString("tokenizer.ggml.pre", "llama-bpe");
  w.AddStringArray("tokenizer.ggml.tokens", tokens);
  w.AddInt32Array("tokenizer.ggml.token_type", types);
  w.AddStringArray("tokenizer.ggml.merges", merges);
  w.AddUint32("tokenizer.ggml.bos_token_id", first_special + 0);  // <|begin_of_text|>
  w.AddUint32("tokenizer.ggml.eos_token_id", first_special + 1);  // <|end_of_text|>
  w.AddUint32("tokenizer.ggml.eom_token_id", first_special + 8);  // <|eom_id|>
  w.AddUint32("tokenizer.ggml.eot_token_id", first_special + 9);  // <|eot_id|>
  w.AddBool("tokenizer.ggml.add_bos_token", true);
  return w;
}

}  // namespace logitkit::tokenizer
