#include "logitkit/model_config.h"

#include <string>

namespace logitkit {
namespace {

using gguf::ValueType;

// A positive integer key that fits uint32. `fallback` (if nonzero) is used
// when the key is absent.
Status ReadCount(const gguf::File& f, const std::string& key, uint32_t fallback, uint32_t* out) {
  const gguf::Value* v = f.Find(key);
  if (v == nullptr) {
    if (fallback != 0) {
      *out = fallback;
      return OkStatus();
    }
    return InvalidArgumentError("model metadata: " + key + " is missing");
  }
  if (!gguf::IsIntegerType(v->type)) {
    return InvalidArgumentError("model metadata: " + key + " has type " +
                                gguf::ValueTypeName(v->type) + ", not an integer");
  }
  const bool negative = gguf::IsSignedType(v->type) && v->i < 0;
  const uint64_t value = gguf::IsSignedType(v->type) ? uint64_t(v->i) : v->u;
  if (negative || value == 0 || value > UINT32_MAX) {
    return InvalidArgumentError("model metadata: " + key + " = " + v->ToString() +
                                " is outside [1, 2^32)");
  }
  *out = uint32_t(value);
  return OkStatus();
}

Status ReadFloat(const gguf::File& f, const std::string& key, float* out) {
  const gguf::Value* v = f.Find(key);
  if (v == nullptr) return OkStatus();  // keeps the default
  if (v->type != ValueType::kFloat32 && v->type != ValueType::kFloat64) {
    return InvalidArgumentError("model metadata: " + key + " has type " +
                                gguf::ValueTypeName(v->type) + ", not a float");
  }
  if (!(v->f > 0) || v->f > 1e30) {
    return InvalidArgumentError("model metadata: " + key + " = " + v->ToString() + " is not a positive finite float");
  }
  *out = float(v->f);
  return OkStatus();
}

std::string Shape(const gguf::Tensor& t) {
  std::string s = "[";
  for (size_t d = 0; d < t.dims.size(); ++d) s += (d ? ", " : "") + std::to_string(t.dims[d]);
  return s + "]";
}

}  // namespace

StatusOr<ModelConfig> ModelConfig::FromGguf(const gguf::File& f) {
  ModelConfig c;
  const gguf::Value* arch = f.Find("general.architecture");
  if (arch == nullptr || arch->type != ValueType::kString) {
    return InvalidArgumentError("model metadata: general.architecture is missing or not a string");
  }
  c.architecture = std::string(arch->str);
  if (const gguf::Value* name = f.Find("general.name"); name && name->type == ValueType::kString) {
    c.name = std::string(name->str);
  }
  const std::string& a = c.architecture;
  LOGITKIT_RETURN_IF_ERROR(ReadCount(f, a + ".block_count", 0, &c.n_layers));
  // Every block has tensors of its own: a count past the tensor directory
  // (a hostile 2^32 - 1) is refused before anything is sized by it.
  if (c.n_layers > f.tensors().size()) {
    return InvalidArgumentError("model metadata: " + a + ".block_count = " + std::to_string(c.n_layers) +
                                " but the file has " + std::to_string(f.tensors().size()) + " tensors");
  }
  LOGITKIT_RETURN_IF_ERROR(ReadCount(f, a + ".embedding_length", 0, &c.d_model));
  LOGITKIT_RETURN_IF_ERROR(ReadCount(f, a + ".feed_forward_length", 0, &c.d_ff));
  LOGITKIT_RETURN_IF_ERROR(ReadCount(f, a + ".attention.head_count", 0, &c.n_attn_heads));
  LOGITKIT_RETURN_IF_ERROR(ReadCount(f, a + ".attention.head_count_kv", c.n_attn_heads, &c.n_attn_kv_heads));
  LOGITKIT_RETURN_IF_ERROR(ReadCount(f, a + ".context_length", 2048, &c.context_length));
  LOGITKIT_RETURN_IF_ERROR(ReadFloat(f, a + ".rope.freq_base", &c.rope_freq_base));
  LOGITKIT_RETURN_IF_ERROR(ReadFloat(f, a + ".attention.layer_norm_rms_epsilon", &c.norm_eps));
  LOGITKIT_RETURN_IF_ERROR(ReadFloat(f, a + ".attention.layer_norm_epsilon", &c.norm_eps));
  if (c.d_model % c.n_attn_heads != 0) {
    return InvalidArgumentError("model metadata: " + a + ".attention.head_count = " + std::to_string(c.n_attn_heads) +
                                " does not divide " + a + ".embedding_length = " + std::to_string(c.d_model));
  }
  if (c.n_attn_heads % c.n_attn_kv_heads != 0) {
    return InvalidArgumentError("model metadata: " + a + ".attention.head_count_kv = " +
                                std::to_string(c.n_attn_kv_heads) + " does not divide " + a +
                                ".attention.head_count = " + std::to_string(c.n_attn_heads));
  }
  c.attn_head_dim = c.d_model / c.n_attn_heads;
  LOGITKIT_RETURN_IF_ERROR(ReadCount(f, a + ".rope.dimension_count", c.attn_head_dim, &c.n_rot));
  if (c.n_rot > c.attn_head_dim || c.n_rot % 2 != 0) {
    return InvalidArgumentError("model metadata: " + a + ".rope.dimension_count = " + std::to_string(c.n_rot) +
                                " must be even and at most the head dimension " + std::to_string(c.attn_head_dim));
  }

  const gguf::Tensor* embd = f.FindTensor("token_embd.weight");
  if (embd == nullptr) return InvalidArgumentError("model tensors: token_embd.weight is missing");
  if (embd->dims.size() != 2 || embd->dims[0] != c.d_model || embd->dims[1] == 0 ||
      embd->dims[1] > UINT32_MAX) {
    return InvalidArgumentError("model tensors: token_embd.weight has shape " + Shape(*embd) + ", expected [" +
                                std::to_string(c.d_model) + ", n_vocab]");
  }
  c.n_vocab = uint32_t(embd->dims[1]);
  c.embedding_type = embd->type;
  const gguf::Tensor* out = f.FindTensor("output.weight");
  c.tied_embeddings = out == nullptr;
  if (out != nullptr && out->dims != embd->dims) {
    return InvalidArgumentError("model tensors: output.weight has shape " + Shape(*out) +
                                " but token_embd.weight has " + Shape(*embd));
  }
  c.unembedding_type = out ? out->type : embd->type;
  if (const gguf::Value* tokens = f.Find("tokenizer.ggml.tokens"); tokens != nullptr) {
    if (tokens->type != ValueType::kArray || tokens->count != c.n_vocab) {
      return InvalidArgumentError(
          "model: the vocabulary (tokenizer.ggml.tokens) has " +
          (tokens->type == ValueType::kArray ? std::to_string(tokens->count) : std::string("no")) +
          " tokens but token_embd.weight has " + std::to_string(c.n_vocab) + " rows");
    }
  }
  return c;
}

}  // namespace logitkit
