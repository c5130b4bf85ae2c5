// Architectures as data: one description per supported general.architecture,
// resolved once at load. The loader (weights.cc) finds the tensors it names
// and the forward pass (model.cc) branches on its fields, never on the name.
// Adding an architecture is one entry in architecture.cc, plus any kernel it
// needs (a new norm, positional scheme or MLP kind).
#ifndef LOGITKIT_MODEL_ARCHITECTURE_H_
#define LOGITKIT_MODEL_ARCHITECTURE_H_

#include <string>
#include <string_view>

#include "logitkit/status.h"

namespace logitkit {

// x ↦ RMSNorm(x) · weight, or LayerNorm(x) · weight + bias.
enum class NormKind { kRms, kLayer };

// Where positions enter: rotary embeddings on q and k, or a learned
// position_embd row added to the token's embedding.
enum class Positions { kRope, kLearned };

// How rotary embeddings pair the dimensions of an attention head: llama.cpp's
// GGUF conversion leaves llama models with adjacent pairs (2i, 2i + 1)
// ("normal"); Qwen2 keeps Hugging Face's halves (i, i + n_rot / 2) ("NeoX").
enum class RopeLayout { kAdjacent, kHalves };

// The feed-forward block: down(silu(gate·h) ⊙ up·h), or down(gelu(up·h)) with
// GELU's tanh form (ggml's).
enum class MlpKind { kSwiGlu, kGelu };

// Whether a bias vector is absent, may be present, or must be.
enum class Bias { kNone, kOptional, kRequired };

struct Architecture {
  std::string_view name;   // general.architecture
  NormKind norm;           // every norm: the blocks' two and the final one
  Positions positions;
  RopeLayout rope;         // with Positions::kRope
  bool fused_qkv;          // one attn_qkv.weight, rows q then k then v
  Bias qkv_bias;           // attn_q/k/v.bias, or attn_qkv.bias when fused
  Bias output_bias;        // attn_output.bias
  MlpKind mlp;
  Bias mlp_bias;           // ffn_up.bias, ffn_down.bias (and ffn_gate.bias for SwiGLU)
};

// The description of `name`; an error lists the supported names.
StatusOr<const Architecture*> FindArchitecture(std::string_view name);

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_ARCHITECTURE_H_
