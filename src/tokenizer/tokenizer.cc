// Tokenizer::FromGguf: reads and checks the tokenizer.ggml.* metadata and builds
// the lookups. Every error names the key, the index and the value.
#include <algorithm>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "tokenizer/byte_level.h"
#include "tokenizer/impl.h"
#include "tokenizer/unicode.h"

namespace logitkit::tokenizer {
namespace {

using gguf::Value;
using gguf::ValueType;

constexpr const char* kModel = "tokenizer.ggml.model";
constexpr const char* kPre = "tokenizer.ggml.pre";
constexpr const char* kTokens = "tokenizer.ggml.tokens";
constexpr const char* kScores = "tokenizer.ggml.scores";
constexpr const char* kTypes = "tokenizer.ggml.token_type";
constexpr const char* kMerges = "tokenizer.ggml.merges";

std::string Quote(std::string_view s) {
  std::string q = "'";
  for (char c : s.substr(0, 64)) q += c;
  return q + (s.size() > 64 ? "...'" : "'");
}

// An optional string key; a key of another type is an error.
StatusOr<std::optional<std::string>> GetString(const gguf::File& f, const char* key) {
  const Value* v = f.Find(key);
  if (v == nullptr) return std::optional<std::string>();
  if (v->type != ValueType::kString) {
    return InvalidArgumentError(std::string(key) + " is a " + gguf::ValueTypeName(v->type) +
                                ", expected a string");
  }
  return std::optional<std::string>(std::string(v->str));
}

StatusOr<std::optional<bool>> GetBool(const gguf::File& f, const char* key) {
  const Value* v = f.Find(key);
  if (v == nullptr) return std::optional<bool>();
  if (v->type != ValueType::kBool) {
    return InvalidArgumentError(std::string(key) + " is a " + gguf::ValueTypeName(v->type) +
                                ", expected a bool");
  }
  return std::optional<bool>(v->u != 0);
}

// An array key whose elements have one of `types` (the first listed in the
// message). nullptr when absent and not required.
StatusOr<const Value*> GetArray(const gguf::File& f, const char* key,
                                std::initializer_list<ValueType> types, bool required) {
  const Value* v = f.Find(key);
  if (v == nullptr) {
    if (required) return InvalidArgumentError(std::string(key) + " is missing");
    return static_cast<const Value*>(nullptr);
  }
  const char* want = gguf::ValueTypeName(*types.begin());
  if (v->type != ValueType::kArray) {
    return InvalidArgumentError(std::string(key) + " is a " + gguf::ValueTypeName(v->type) +
                                ", expected an array of " + want);
  }
  if (std::find(types.begin(), types.end(), v->element_type) == types.end()) {
    return InvalidArgumentError(std::string(key) + " is an array of " +
                                gguf::ValueTypeName(v->element_type) + ", expected " + want);
  }
  return v;
}

// A special token id key: absent leaves `*id` as it is; present must be an
// integer in [0, n_vocab).
Status GetTokenId(const gguf::File& f, const char* key, size_t n_vocab, TokenId* id) {
  const Value* v = f.Find(key);
  if (v == nullptr) return OkStatus();
  if (!gguf::IsIntegerType(v->type)) {
    return InvalidArgumentError(std::string(key) + " is a " + gguf::ValueTypeName(v->type) +
                                ", expected an integer token id");
  }
  const bool negative = gguf::IsSignedType(v->type) && v->i < 0;
  const uint64_t u = gguf::IsSignedType(v->type) ? static_cast<uint64_t>(v->i) : v->u;
  if (negative || u >= n_vocab) {
    return OutOfRangeError(std::string(key) + " = " +
                           (negative ? std::to_string(v->i) : std::to_string(u)) +
                           " is out of range for a vocabulary of " + std::to_string(n_vocab) +
                           " tokens");
  }
  *id = static_cast<TokenId>(u);
  return OkStatus();
}

StatusOr<PreTokenizer> ParsePre(const std::string& name, bool* ignore_merges, bool* add_bos) {
  if (name.empty() || name == "default") return PreTokenizer::kDefault;
  if (name == "gpt-2" || name == "gpt2") return PreTokenizer::kGpt2;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") {
    *ignore_merges = true;
    *add_bos = true;
    return PreTokenizer::kLlama3;
  }
  if (name == "smollm") return PreTokenizer::kSmolLM;
  if (name == "qwen2") return PreTokenizer::kQwen2;
  return InvalidArgumentError(std::string(kPre) + " = " + Quote(name) +
                              " is not a supported pre-tokenizer (gpt-2, gpt2, llama-bpe, "
                              "llama3, llama-v3, smollm, qwen2, default)");
}

// Texts llama.cpp treats as end of turn / end of message / end of generation,
// and marks as control tokens if the file says otherwise.
constexpr const char* kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                     "<|endoftext|>", "<|end_of_text|>", "<EOT>"};
constexpr const char* kEomText = "<|eom_id|>";

}  // namespace

StatusOr<Tokenizer> Tokenizer::Open(const std::string& path) {
  StatusOr<gguf::File> file = gguf::File::Open(path);
  if (!file.ok()) return file.status();
  StatusOr<Tokenizer> t = FromGguf(*file);
  if (!t.ok()) return t.status().WithContext(path + ": ");
  return t;
}

StatusOr<Tokenizer> Tokenizer::FromGguf(const gguf::File& f) {
  auto v = std::make_shared<Impl>();

  StatusOr<std::optional<std::string>> model = GetString(f, kModel);
  if (!model.ok()) return model.status();
  if (!model->has_value()) return InvalidArgumentError(std::string(kModel) + " is missing");
  if (**model == "gpt2") {
    v->algorithm = Algorithm::kBpe;
  } else if (**model == "llama") {
    v->algorithm = Algorithm::kSpm;
  } else {
    return InvalidArgumentError(std::string(kModel) + " = " + Quote(**model) +
                                " is not a supported tokenizer (gpt2, llama)");
  }
  StatusOr<std::optional<std::string>> pre = GetString(f, kPre);
  if (!pre.ok()) return pre.status();
  v->pre_name = pre->value_or("");
  if (v->algorithm == Algorithm::kBpe) {
    StatusOr<PreTokenizer> p = ParsePre(v->pre_name, &v->ignore_merges, &v->add_bos);
    if (!p.ok()) return p.status();
    v->pre = *p;
  } else {
    v->add_space_prefix = true;
    v->add_bos = true;
  }

  // Tokens, scores, types.
  StatusOr<const Value*> tokens = GetArray(f, kTokens, {ValueType::kString}, true);
  if (!tokens.ok()) return tokens.status();
  const size_t n = (*tokens)->count;
  if (n == 0) return InvalidArgumentError(std::string(kTokens) + " is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return InvalidArgumentError(std::string(kTokens) + " has " + std::to_string(n) +
                                " tokens, more than int32 ids can number");
  }
  StatusOr<const Value*> scores =
      GetArray(f, kScores, {ValueType::kFloat32, ValueType::kInt32}, false);
  if (!scores.ok()) return scores.status();
  StatusOr<const Value*> types = GetArray(f, kTypes, {ValueType::kInt32}, false);
  if (!types.ok()) return types.status();
  for (auto [key, arr] : {std::pair{kScores, *scores}, std::pair{kTypes, *types}}) {
    if (arr != nullptr && arr->count != n) {
      return InvalidArgumentError(std::string(key) + " has " + std::to_string(arr->count) +
                                  " elements but " + kTokens + " has " + std::to_string(n));
    }
  }
  v->tokens.resize(n);
  v->text_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Impl::Token& t = v->tokens[i];
    t.text = std::string((*tokens)->strings[i]);
    if (t.text.empty()) t.text = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp
    if (*scores != nullptr) {
      t.score = static_cast<float>((*scores)->FloatAt(i));
    }
    if (*types != nullptr) {
      const int64_t type = (*types)->IntAt(i);
      if (type < 0 || type > 6) {
        return InvalidArgumentError(std::string(kTypes) + "[" + std::to_string(i) + "] = " +
                                    std::to_string(type) + " is not a token type (0..6)");
      }
      t.type = static_cast<TokenType>(type);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    auto [it, inserted] = v->text_to_id.emplace(v->tokens[i].text, static_cast<TokenId>(i));
    if (!inserted) {
      return InvalidArgumentError(std::string(kTokens) + "[" + std::to_string(i) + "] = " +
                                  Quote(v->tokens[i].text) + " duplicates token " +
                                  std::to_string(it->second));
    }
  }

  // Special tokens: llama.cpp's defaults for "llama", then the metadata.
  if (v->algorithm == Algorithm::kSpm) {
    if (n > 0) v->unk = 0;
    if (n > 1) v->bos = 1;
    if (n > 2) v->eos = 2;
  }
  struct IdKey { const char* key; TokenId* id; };
  for (IdKey k : {IdKey{"tokenizer.ggml.bos_token_id", &v->bos},
                  IdKey{"tokenizer.ggml.eos_token_id", &v->eos},
                  IdKey{"tokenizer.ggml.eot_token_id", &v->eot},
                  IdKey{"tokenizer.ggml.eom_token_id", &v->eom},
                  IdKey{"tokenizer.ggml.padding_token_id", &v->pad},
                  IdKey{"tokenizer.ggml.unknown_token_id", &v->unk}}) {
    LOGITKIT_RETURN_IF_ERROR(GetTokenId(f, k.key, n, k.id));
  }
  for (const char* text : kEotTexts) {
    auto it = v->text_to_id.find(text);
    if (it == v->text_to_id.end()) continue;
    if (v->eot == kNoToken) v->eot = it->second;
    if (v->tokens[it->second].type == TokenType::kNormal) {
      v->tokens[it->second].type = TokenType::kControl;
    }
  }
  if (auto it = v->text_to_id.find(kEomText); it != v->text_to_id.end()) {
    if (v->eom == kNoToken) v->eom = it->second;
    if (v->tokens[it->second].type == TokenType::kNormal) {
      v->tokens[it->second].type = TokenType::kControl;
    }
  }
  for (auto [key, flag] : {std::pair{"tokenizer.ggml.add_bos_token", &v->add_bos},
                           std::pair{"tokenizer.ggml.add_eos_token", &v->add_eos},
                           std::pair{"tokenizer.ggml.add_space_prefix", &v->add_space_prefix}}) {
    StatusOr<std::optional<bool>> b = GetBool(f, key);
    if (!b.ok()) return b.status();
    if (b->has_value()) *flag = **b;
  }
  if (v->add_bos && v->bos == kNoToken) {
    return InvalidArgumentError("tokenizer.ggml.add_bos_token is true but the vocabulary has no "
                                "tokenizer.ggml.bos_token_id");
  }
  if (v->add_eos && v->eos == kNoToken) {
    return InvalidArgumentError("tokenizer.ggml.add_eos_token is true but the vocabulary has no "
                                "tokenizer.ggml.eos_token_id");
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = v->tokens[i].type;
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      v->special_by_length.push_back(static_cast<TokenId>(i));
    }
  }
  std::stable_sort(v->special_by_length.begin(), v->special_by_length.end(),
                   [&](TokenId a, TokenId b) {
                     return v->tokens[a].text.size() > v->tokens[b].text.size();
                   });

  // Byte fallback.
  v->byte_token.fill(kNoToken);
  for (int b = 0; b < 256; ++b) {
    if (v->algorithm == Algorithm::kBpe) {
      v->byte_token[b] = v->FindMergeable(ByteLevelEncode(std::string(1, static_cast<char>(b))));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      auto it = v->text_to_id.find(hex);
      if (it != v->text_to_id.end() && v->tokens[it->second].type != TokenType::kControl) {
        v->byte_token[b] = it->second;
      } else {
        v->byte_token[b] = v->FindMergeable(std::string(1, static_cast<char>(b)));
      }
    }
  }

  // Merges: "left right", rank = index. Parts that are no token get piece ids
  // past the vocabulary.
  v->byte_piece.fill(-1);
  if (v->algorithm == Algorithm::kBpe) {
    StatusOr<const Value*> merges = GetArray(f, kMerges, {ValueType::kString}, true);
    if (!merges.ok()) return merges.status();
    std::unordered_map<std::string, int32_t> extra;
    const auto piece = [&](std::string_view s) -> int32_t {
      auto it = v->text_to_id.find(s);
      if (it != v->text_to_id.end()) return it->second;
      auto [e, inserted] = extra.emplace(std::string(s), static_cast<int32_t>(n + extra.size()));
      return e->second;
    };
    const auto& list = (*merges)->strings;
    v->merges.reserve(list.size());
    for (size_t r = 0; r < list.size(); ++r) {
      const std::string_view m = list[r];
      const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
      if (space == std::string_view::npos || space + 1 >= m.size()) {
        return InvalidArgumentError(std::string(kMerges) + "[" + std::to_string(r) + "] = " +
                                    Quote(m) + " is not two pieces separated by a space");
      }
      if (r >= static_cast<size_t>(INT32_MAX) || n + extra.size() + 3 >= INT32_MAX) {
        return InvalidArgumentError(std::string(kMerges) + " has too many entries");
      }
      const std::string_view left = m.substr(0, space), right = m.substr(space + 1);
      const int32_t l = piece(left), rp = piece(right);
      const int32_t result = piece(std::string(left) + std::string(right));
      v->merges.emplace(static_cast<uint64_t>(l) << 32 | static_cast<uint32_t>(rp),
                        Impl::Merge{static_cast<int32_t>(r), result});
    }
    for (int b = 0; b < 256; ++b) {
      const std::string ch = ByteLevelEncode(std::string(1, static_cast<char>(b)));
      auto it = v->text_to_id.find(ch);
      if (it != v->text_to_id.end()) {
        v->byte_piece[b] = it->second;
      } else if (auto e = extra.find(ch); e != extra.end()) {
        v->byte_piece[b] = e->second;
      }
    }
  }

  // Decoded pieces.
  v->piece_plain.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Impl::Token& t = v->tokens[i];
    std::string& p = v->piece_plain[i];
    switch (t.type) {
      case TokenType::kNormal:
        if (v->algorithm == Algorithm::kBpe) {
          p = ByteLevelDecode(t.text);
        } else {
          for (size_t k = 0; k < t.text.size();) {
            if (t.text.compare(k, 3, "\xE2\x96\x81") == 0) {
              p += ' ';
              k += 3;
            } else {
              p += t.text[k++];
            }
          }
        }
        break;
      case TokenType::kUserDefined:
        p = t.text;
        break;
      case TokenType::kByte: {
        unsigned byte = 0;
        char close = 0;
        if (t.text.size() == 6 && std::sscanf(t.text.c_str(), "<0x%2X%c", &byte, &close) == 2 &&
            close == '>') {
          p = std::string(1, static_cast<char>(byte));
        } else {
          return InvalidArgumentError(std::string(kTypes) + "[" + std::to_string(i) +
                                      "] is 6 (byte) but the token is " + Quote(t.text) +
                                      ", not <0xXX>");
        }
        break;
      }
      default:  // control, unknown (rendered on request), unused, undefined: nothing
        break;
    }
  }
  return Tokenizer(std::move(v));
}

size_t Tokenizer::n_vocab() const { return impl_->tokens.size(); }
Algorithm Tokenizer::algorithm() const { return impl_->algorithm; }
const std::string& Tokenizer::pre() const { return impl_->pre_name; }
const std::string& Tokenizer::token_text(TokenId id) const { return impl_->tokens[id].text; }
TokenType Tokenizer::token_type(TokenId id) const { return impl_->tokens[id].type; }
float Tokenizer::token_score(TokenId id) const { return impl_->tokens[id].score; }
TokenId Tokenizer::FindToken(std::string_view text) const {
  auto it = impl_->text_to_id.find(text);
  return it == impl_->text_to_id.end() ? kNoToken : it->second;
}
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_space_prefix() const { return impl_->add_space_prefix; }
TokenId Tokenizer::bos() const { return impl_->bos; }
TokenId Tokenizer::eos() const { return impl_->eos; }
TokenId Tokenizer::eot() const { return impl_->eot; }
TokenId Tokenizer::eom() const { return impl_->eom; }
TokenId Tokenizer::pad() const { return impl_->pad; }
TokenId Tokenizer::unk() const { return impl_->unk; }
bool Tokenizer::IsEndOfGeneration(TokenId id) const {
  return id != kNoToken && (id == impl_->eos || id == impl_->eot || id == impl_->eom);
}

}  // namespace logitkit::tokenizer
