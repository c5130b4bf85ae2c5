// Views of a model's tensors, found by its Architecture: matrices stay in the
// mapped file, in their own type; vectors (norm weights, biases) are
// converted to float32 at load. Internal to src/model.
#ifndef LOGITKIT_MODEL_WEIGHTS_H_
#define LOGITKIT_MODEL_WEIGHTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/model.h"
#include "logitkit/model_config.h"
#include "logitkit/quant.h"
#include "logitkit/status.h"
#include "model/architecture.h"

namespace logitkit {

// A rows x cols matrix, row-major: row r is `cols` elements of `type` at
// data + r * row_bytes (ggml's [cols, rows] tensor).
struct Matrix {
  quant::TensorType type = quant::TensorType::kF32;
  size_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  const uint8_t* data = nullptr;
  const uint8_t* Row(size_t r) const { return data + r * row_bytes; }
  // Rows [first, first + count) as a matrix of their own.
  Matrix RowRange(size_t first, size_t count) const;
};

// y = W x (+ bias): bias is empty, or W.rows floats.
struct Linear {
  Matrix w;
  std::vector<float> bias;
};

// d_model floats each; bias empty for RMSNorm.
struct NormWeights {
  std::vector<float> weight, bias;
};

struct LayerWeights {
  NormWeights attn_norm, ffn_norm;
  Linear q, k, v;         // [q_dim x d], [kv_dim x d] x 2 (row ranges of attn_qkv when fused)
  Linear o;               // [d x q_dim]
  Linear gate, up, down;  // [d_ff x d] x 2 (no gate for MlpKind::kGelu), [d x d_ff]
};

struct ModelWeights {
  const Architecture* architecture = nullptr;
  Matrix token_embd;     // n_vocab x d_model
  Matrix position_embd;  // Positions::kLearned: context_length x d_model
  std::vector<LayerWeights> layers;
  NormWeights output_norm;
  Matrix unembedding;    // the LM projection, n_vocab x d_model: output.weight, or token_embd if tied
};

// Finds and checks every tensor the model's architecture names. Errors name
// the tensor, its shape or type, and what was expected; an unknown
// architecture lists the supported ones.
StatusOr<ModelWeights> LoadWeights(const gguf::File& file, const ModelConfig& config);

// A model's weights (Model keeps them private).
const ModelWeights& WeightsOf(const Model& model);

// Bytes of weights one decode step reads: every matrix of every layer, the
// unembedding, and one embedding row.
double WeightBytesPerToken(const ModelWeights& w);

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_WEIGHTS_H_
