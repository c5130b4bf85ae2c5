// The shape of a transformer in a GGUF file, read from its metadata and
// checked against its tensor directory: what `logitkit inspect` summarises and
// what the forward pass is built from.
#ifndef LOGITKIT_MODEL_CONFIG_H_
#define LOGITKIT_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "logitkit/gguf.h"
#include "logitkit/status.h"

namespace logitkit {

struct ModelConfig {
  std::string architecture;         // general.architecture: "llama", ...
  std::string name;                 // general.name, if present
  uint32_t n_layers = 0;            // {arch}.block_count
  uint32_t d_model = 0;             // {arch}.embedding_length
  uint32_t d_ff = 0;                // {arch}.feed_forward_length
  uint32_t n_attn_heads = 0;        // {arch}.attention.head_count: attention (query) heads
  uint32_t n_attn_kv_heads = 0;     // {arch}.attention.head_count_kv (default n_attn_heads)
  uint32_t attn_head_dim = 0;       // d_model / n_attn_heads
  uint32_t context_length = 0;      // {arch}.context_length
  float rope_freq_base = 10000.0f;  // {arch}.rope.freq_base
  uint32_t n_rot = 0;               // {arch}.rope.dimension_count (default attn_head_dim)
  float norm_eps = 1e-5f;           // {arch}.attention.layer_norm_rms_epsilon (RMSNorm)
                                    // or .layer_norm_epsilon (LayerNorm, GPT-2)
  uint32_t n_vocab = 0;             // rows of token_embd.weight
  bool tied_embeddings = false;     // no output.weight: the unembedding is token_embd.weight
  uint32_t embedding_type = 0;      // quant::TensorType of token_embd.weight
  uint32_t unembedding_type = 0;    // of output.weight (the LM head), or token_embd.weight if tied

  // Reads and checks the metadata against the tensors: required keys present
  // with integer / float types; n_layers at most the number of tensors;
  // n_attn_heads divides d_model and n_attn_kv_heads
  // divides n_attn_heads; token_embd.weight is d_model x n_vocab; the vocabulary
  // (tokenizer.ggml.tokens), if present, has n_vocab tokens; output.weight, if
  // present, has the same shape. Errors name the key or tensor and the values.
  static StatusOr<ModelConfig> FromGguf(const gguf::File& file);
};

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_CONFIG_H_
