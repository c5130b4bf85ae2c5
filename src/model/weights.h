// Views of a model's tensors: matrices stay in the mapped file, in their own
// type; vectors (norm weights, biases) are converted to float32 at load.
#ifndef LOGITKIT_MODEL_WEIGHTS_H_
#define LOGITKIT_MODEL_WEIGHTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/model_config.h"
#include "logitkit/status.h"

namespace logitkit {

// A rows x cols matrix, row-major: row r is `cols` elements of `type` at
// data + r * row_bytes (ggml's [cols, rows] tensor).
struct Matrix {
  gguf::TensorType type = gguf::TensorType::kF32;
  size_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  const uint8_t* data = nullptr;
  const uint8_t* Row(size_t r) const { return data + r * row_bytes; }
};

// The families of forward pass (model.cc).
enum class Family {
  kLlama,  // RMSNorm, RoPE, GQA, SwiGLU (llama, mistral, qwen2)
  kGpt2,   // LayerNorm, learned positions, fused QKV, GELU, biases
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;      // d_model
  std::vector<float> attn_norm_b, ffn_norm_b;  // GPT-2: LayerNorm biases
  Matrix wq, wk, wv;                           // llama: [q_dim x d], [kv_dim x d] x 2
  Matrix wqkv;                                 // GPT-2: [3d x d], rows q, then k, then v
  std::vector<float> bq, bk, bv, bqkv;         // empty, or the matching output sizes
  Matrix wo;                                   // [d x q_dim]
  std::vector<float> bo;                       // GPT-2: d
  Matrix w_gate, w_up, w_down;                 // [d_ff x d] x 2 (no gate for GPT-2), [d x d_ff]
  std::vector<float> b_up, b_down;             // GPT-2: d_ff, d
};

struct ModelWeights {
  Family family = Family::kLlama;
  Matrix token_embd;               // n_vocab x d_model
  Matrix position_embd;            // GPT-2: context_length x d_model
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;  // d_model
  std::vector<float> output_norm_b;  // GPT-2
  Matrix lm_head;                  // n_vocab x d_model: output.weight, or token_embd if tied
};

// The family of an architecture name; an error names the supported ones.
StatusOr<Family> FamilyOf(const std::string& architecture);

// Finds and checks every tensor the model's family needs. Errors name the
// tensor, its shape or type, and what was expected.
StatusOr<ModelWeights> LoadWeights(const gguf::File& file, const ModelConfig& config);

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_WEIGHTS_H_
