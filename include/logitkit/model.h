// The transformer runtime: a GGUF model on the CPU, and a context (the KV
// cache of one sequence) that runs forward passes and returns logits for the
// decode head.
//
// Architectures: the llama family (RMSNorm, rotary embeddings, grouped-query
// attention, SwiGLU, tied or separate LM head, optional Q/K/V biases: SmolLM2,
// Llama 2 and 3, Mistral, Qwen2) and GPT-2 (LayerNorm, learned positions,
// fused QKV, GELU, biases). Weights stay in their file type (memory-mapped)
// and are read through quant::DotRow; activations are float32 by default.
#ifndef LOGITKIT_MODEL_H_
#define LOGITKIT_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/model_config.h"
#include "logitkit/status.h"
#include "logitkit/thread_pool.h"

namespace logitkit {

struct ModelWeights;  // internal: src/model/weights.h

class Model {
 public:
  // Opens, checks (every tensor the architecture needs: present, shaped and of
  // a type quant::DotRow takes) and maps the file.
  static StatusOr<std::unique_ptr<Model>> Load(const std::string& path);
  // The same over a parsed file the caller keeps alive (tests).
  static StatusOr<std::unique_ptr<Model>> FromFile(std::shared_ptr<const gguf::File> file);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const gguf::File& file() const { return *file_; }
  // Bytes of weights one decode step reads: every matrix once, the LM head
  // (unembedding) once, and one embedding row (the memory-bound yardstick).
  double weight_bytes_per_token() const;

 private:
  friend const ModelWeights& WeightsOf(const Model& model);  // src/model only
  Model() = default;
  ModelConfig config_;
  std::shared_ptr<const gguf::File> file_;
  std::unique_ptr<ModelWeights> weights_;
};

// The activations' precision in products with block-quantized weights:
// float32 (exact to float32 rounding), or int8 per 32 elements, as llama.cpp
// computes (coarser; faster on the K types). See model/matmul.h.
enum class Activations { kFloat32, kInt8 };

// Which positions' logits Eval returns.
enum class Logits { kLast, kAll, kNone };

// Residual-stream taps for the logit lens: after Eval, residual[l] holds the
// residual stream after block l (l = 0 .. n_layers - 1) for the positions
// whose logits were asked for (last or all), position-major, d_model floats
// each; embedding holds the residual stream before block 0 (the token
// embeddings, plus the position embeddings where they are learned), in the
// same layout. Capturing costs one copy per block; nothing when no tap is given.
struct ResidualTap {
  std::vector<std::vector<float>> residual;
  std::vector<float> embedding;
};

class Context {
 public:
  // A KV cache for up to max_tokens positions (0: the model's context
  // length). The pool runs the matrix products and attention heads.
  Context(const Model& model, size_t max_tokens, ThreadPool* pool,
          Activations activations = Activations::kFloat32);
  ~Context();

  // The most positions one forward pass runs: longer inputs are evaluated in
  // chunks of this many, so scratch memory stays bounded (a few MB) whatever
  // their length. Chunks change no result (see Eval).
  static constexpr size_t kMaxBatch = 64;

  // Appends tokens at positions [n_past(), n_past() + tokens.size()) and runs
  // the forward pass over them, kMaxBatch positions per pass. Every
  // position's logits are bitwise what evaluating the tokens one at a time
  // would give (a NaN, from weights that hold NaN or infinities, is NaN both
  // ways, though its sign bit may differ). logits gets n_vocab floats per returned position (1 for
  // kLast, tokens.size() for kAll), position-major. progress, if set, is
  // called after each pass with the number of tokens evaluated so far; if it
  // returns false after any pass but the last, Eval stops with a kCancelled
  // error.
  // Errors: empty input, a token id outside [0, n_vocab), more positions than
  // the cache holds, kCancelled. On error the context is unchanged.
  using Progress = std::function<bool(size_t evaluated)>;
  Status Eval(std::span<const int32_t> tokens, Logits which, std::vector<float>* logits,
              ResidualTap* tap = nullptr, const Progress& progress = {});

  // Every position's logits, as Eval(kAll) computes them, handed to `sink`
  // one pass at a time instead of kept: sink(first, logits) gets positions
  // [first, first + n) of `tokens` (n <= kMaxBatch), n_vocab floats each.
  // Memory stays that of one pass, for inputs of any length. A sink error
  // stops the evaluation and is returned; the positions evaluated until then
  // stay in the cache. Input errors: as Eval's, before anything runs.
  using LogitsSink = std::function<Status(size_t first, std::span<const float> logits)>;
  Status EvalEach(std::span<const int32_t> tokens, const LogitsSink& sink);

  // One decode step of several sequences together (a server's batch):
  // appends tokens[i] to *contexts[i] and runs them as one batch, so each
  // weight row is read once for all. logits gets n_vocab floats per context,
  // in order. Each context's logits are bitwise those a one-token Eval would
  // give it (see Eval), so a sequence's tokens never depend on which other
  // sequences share its steps.
  // Errors: as Eval's, naming the context's index; the contexts must be
  // distinct and share one model, pool and activations. On error no context
  // changes.
  static Status EvalBatch(std::span<Context* const> contexts, std::span<const int32_t> tokens,
                          std::vector<float>* logits);

  // The unembedding: the final norm and the LM head (the projection to the
  // vocabulary) applied to residual-stream vectors (a multiple of d_model
  // floats, e.g. a ResidualTap layer): logits gets n_vocab floats per vector.
  // Eval's own logits are this applied to the last block's output, so the
  // last tap gives them back exactly (the logit lens).
  Status Unembed(std::span<const float> residual, std::vector<float>* logits);

  size_t n_past() const { return n_past_; }
  size_t max_tokens() const { return max_tokens_; }
  // Forgets positions >= n (n <= n_past()).
  void Rewind(size_t n);

 private:
  struct Row;
  // Runs the blocks over rows (of this or other contexts, sharing the model),
  // writing their keys and values into their caches; returns the residual
  // stream of rows [first_out, rows.size()), d_model floats each.
  static std::vector<float> Forward(const Model& model, ThreadPool& pool, Activations activations,
                                    std::span<const Row> rows, size_t first_out, ResidualTap* tap);
  Status CheckEval(std::span<const int32_t> tokens) const;
  // One pass over at most kMaxBatch tokens at n_past(); returns the residual
  // stream from position first_out on. REQUIRES: CheckEval(tokens) is OK.
  std::vector<float> ForwardChunk(std::span<const int32_t> tokens, size_t first_out, ResidualTap* tap);

  const Model& model_;
  ThreadPool* pool_;
  Activations activations_;
  size_t max_tokens_;
  size_t n_past_ = 0;
  std::unique_ptr<float[]> k_cache_, v_cache_;  // [layer][max_tokens][kv_dim]
};

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_H_
