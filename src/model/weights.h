// Views of a model's tensors: matrices stay in the mapped file, in their own
// type; vectors (norm weights, biases) are converted to float32 at load.
#ifndef LOGITKIT_MODEL_WEIGHTS_H_
#define LOGITKIT_MODEL_WEIGHTS_H_

#include <cstddef>
#include <cstdint>
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

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;  // d_model
  Matrix wq, wk, wv, wo;                   // [q_dim x d], [kv_dim x d] x 2, [d x q_dim]
  std::vector<float> bq, bk, bv;           // empty, or q_dim / kv_dim / kv_dim
  Matrix w_gate, w_up, w_down;             // [d_ff x d] x 2, [d x d_ff]
};

struct ModelWeights {
  Matrix token_embd;               // n_vocab x d_model
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;  // d_model
  Matrix lm_head;                  // n_vocab x d_model: output.weight, or token_embd if tied
};

// Finds and checks every tensor of a llama-family model. Errors name the
// tensor, its shape or type, and what was expected.
StatusOr<ModelWeights> LoadLlamaWeights(const gguf::File& file, const ModelConfig& config);

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_WEIGHTS_H_
