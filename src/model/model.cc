// The forward pass over a batch of new tokens, with a KV cache, for any
// Architecture (model/architecture.h): its fields choose the norm, the
// positions, the MLP and which biases exist; absent biases are empty and add
// nothing.
//
// SmolLM2 / Llama (RMSNorm, RoPE, SwiGLU), per block, for each new position t (x: the residual stream,
// d_model floats; x starts as the token's embedding):
//   h = RMSNorm(x) · attn_norm
//   q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv); RoPE on q and k at position t
//   a = softmax(q · K^T / sqrt(attn_head_dim)) V over positions <= t, per head
//       (head h reads KV head h / (n_attn_heads / n_attn_kv_heads))
//   x += Wo a
//   h = RMSNorm(x) · ffn_norm;  x += W_down (silu(W_gate h) · W_up h)
// then logits = W_unembedding (RMSNorm(x) · output_norm) (the LM head).
//
// GPT-2 (LayerNorm, learned positions, GELU): x starts as the token's
// embedding plus the position's; norms are LayerNorm with bias; q, k, v are
// row ranges of one fused matrix (+bias), without RoPE; x += Wo a + bo; the
// MLP is x += W_down gelu(W_up h + b_up) + b_down (GELU's tanh form, as ggml).
#include "logitkit/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "model/architecture.h"
#include "model/matmul.h"
#include "model/weights.h"
#include "ops/row_ops.h"

namespace logitkit {
namespace {

void RmsNorm(const float* x, const float* weight, size_t n, float eps, float* out) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  const float scale = float(1.0 / std::sqrt(sum / double(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void LayerNorm(const float* x, const float* weight, const float* bias, size_t n, float eps, float* out) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / double(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float scale = float(1.0 / std::sqrt(var / double(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = float(x[i] - mean) * scale * weight[i] + bias[i];
}

// GELU, tanh approximation (ggml's gelu).
float Gelu(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

// Rotates the first n_rot dimensions of each attention head of v (n_heads
// heads of head_dim floats) for position pos.
void Rope(float* v, size_t n_heads, size_t head_dim, size_t n_rot, size_t pos, float freq_base,
          RopeLayout layout) {
  for (size_t i = 0; i < n_rot / 2; ++i) {
    const double theta = double(pos) * std::pow(double(freq_base), -2.0 * double(i) / double(n_rot));
    const float c = float(std::cos(theta)), s = float(std::sin(theta));
    for (size_t h = 0; h < n_heads; ++h) {
      float* attn_head = v + h * head_dim;
      const size_t a = layout == RopeLayout::kAdjacent ? 2 * i : i;
      const size_t b = layout == RopeLayout::kAdjacent ? 2 * i + 1 : i + n_rot / 2;
      const float x0 = attn_head[a], x1 = attn_head[b];
      attn_head[a] = x0 * c - x1 * s;
      attn_head[b] = x0 * s + x1 * c;
    }
  }
}

// out[t] = norm(in[t]) for n rows of d floats.
void Norm(NormKind kind, const NormWeights& w, float eps, size_t d, size_t n, const float* in, float* out) {
  for (size_t t = 0; t < n; ++t) {
    if (kind == NormKind::kLayer) {
      LayerNorm(in + t * d, w.weight.data(), w.bias.data(), d, eps, out + t * d);
    } else {
      RmsNorm(in + t * d, w.weight.data(), d, eps, out + t * d);
    }
  }
}

// x[t] += bias for n_tokens rows of bias.size() floats; nothing if bias is empty.
void AddBias(float* x, const std::vector<float>& bias, size_t n_tokens) {
  if (bias.empty()) return;
  for (size_t t = 0; t < n_tokens; ++t) {
    for (size_t i = 0; i < bias.size(); ++i) x[t * bias.size() + i] += bias[i];
  }
}

// Validates tokens for a model: each in [0, n_vocab). `where` names the input.
Status CheckTokens(const ModelConfig& c, std::span<const int32_t> tokens, const std::string& where) {
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || uint32_t(tokens[t]) >= c.n_vocab) {
      return InvalidArgumentError("model: " + where + std::to_string(t) + " = " + std::to_string(tokens[t]) +
                                  " is outside [0, " + std::to_string(c.n_vocab) + ")");
    }
  }
  return OkStatus();
}

// One forward pass over T rows: the model's shapes, its architecture, the
// products' pool and precision, and the scratch rows of the blocks. The
// scratch is aligned for whole-vector loads: a product's activation row at
// an address that is not a multiple of the vector size splits every load of
// its dot products across two cache lines (-13% measured on the Q4_1 rows
// of a decode step with AVX-512).
struct Pass {
  Pass(const ModelConfig& c, const Architecture& arch, ThreadPool& pool, Activations activations, size_t T)
      : config(c), architecture(arch), pool(pool), activations(activations), T(T) {
    const size_t q_dim = size_t(c.n_attn_heads) * c.attn_head_dim;
    const size_t kv_dim = size_t(c.n_attn_kv_heads) * c.attn_head_dim;
    h = hwy::AllocateAligned<float>(T * c.d_model);
    delta = hwy::AllocateAligned<float>(T * c.d_model);
    q = hwy::AllocateAligned<float>(T * q_dim);
    att = hwy::AllocateAligned<float>(T * q_dim);
    k = hwy::AllocateAligned<float>(T * kv_dim);
    v = hwy::AllocateAligned<float>(T * kv_dim);
    gate = hwy::AllocateAligned<float>(T * c.d_ff);
    up = hwy::AllocateAligned<float>(T * c.d_ff);
  }

  const ModelConfig& config;
  const Architecture& architecture;
  ThreadPool& pool;
  Activations activations;
  size_t T;
  // T rows each: d_model floats (h: a norm's output; delta: a block's), q_dim
  // (q, att), kv_dim (k, v), d_ff (gate, up).
  hwy::AlignedFreeUniquePtr<float[]> h, delta, q, att, k, v, gate, up;

  // out = W in (+ bias), for the T rows.
  void Apply(const Linear& m, const float* in, float* out) const {
    MatMul(m.w, in, T, out, pool, activations);
    AddBias(out, m.bias, T);
  }
  // out = the architecture's norm of in, for the T rows of d_model floats.
  void Normalize(const NormWeights& w, const float* in, float* out) const {
    Norm(architecture.norm, w, config.norm_eps, config.d_model, T, in, out);
  }
};

// The attention block of one layer: out = Wo · attention(q, k, v) (+ bo) for
// the T rows of h (the normalised residual, d_model floats each). Row t sits
// at positions[t] of its sequence, whose layer keys and values are keys[t]
// and values[t] ([position][kv_dim]); its own k and v are written there
// first, and it attends over positions 0 .. positions[t].
void Attention(const Pass& p, const LayerWeights& L, std::span<const size_t> positions,
               std::span<float* const> keys, std::span<float* const> values, const float* h,
               std::vector<std::vector<float>>& scores, float* out) {
  const ModelConfig& c = p.config;
  const Architecture& arch = p.architecture;
  const size_t T = p.T, hd = c.attn_head_dim, n_attn = c.n_attn_heads, n_kv = c.n_attn_kv_heads;
  const size_t q_dim = n_attn * hd, kv_dim = n_kv * hd;
  const size_t group = n_attn / n_kv;  // query heads per key/value head
  float* q = p.q.get();
  float* k = p.k.get();
  float* v = p.v.get();
  float* att = p.att.get();
  p.Apply(L.q, h, q);
  p.Apply(L.k, h, k);
  p.Apply(L.v, h, v);
  for (size_t t = 0; t < T; ++t) {
    const size_t pos = positions[t];
    if (arch.positions == Positions::kRope) {
      Rope(&q[t * q_dim], n_attn, hd, c.n_rot, pos, c.rope_freq_base, arch.rope);
      Rope(&k[t * kv_dim], n_kv, hd, c.n_rot, pos, c.rope_freq_base, arch.rope);
    }
    std::memcpy(keys[t] + pos * kv_dim, &k[t * kv_dim], kv_dim * sizeof(float));
    std::memcpy(values[t] + pos * kv_dim, &v[t * kv_dim], kv_dim * sizeof(float));
  }
  const float inv_sqrt_hd = float(1.0 / std::sqrt(double(hd)));
  // One task per (row, attention head).
  p.pool.Run(T * n_attn, [&](size_t task, size_t thread) {
    const size_t t = task / n_attn, attn_head = task % n_attn;
    const size_t n_ctx = positions[t] + 1;
    const float* qh = &q[t * q_dim + attn_head * hd];
    const size_t kv_off = (attn_head / group) * hd;
    std::vector<float>& s = scores[thread];
    s.resize(n_ctx);
    ops::Dots(keys[t] + kv_off, kv_dim, n_ctx, qh, hd, s.data());
    float max = -INFINITY;
    for (size_t i = 0; i < n_ctx; ++i) {
      s[i] *= inv_sqrt_hd;
      max = std::max(max, s[i]);
    }
    double sum = 0;
    for (size_t i = 0; i < n_ctx; ++i) sum += s[i] = std::exp(s[i] - max);
    const float inv = float(1.0 / sum);
    for (size_t i = 0; i < n_ctx; ++i) s[i] *= inv;
    float* a = &att[t * q_dim + attn_head * hd];
    ops::WeightedSum(values[t] + kv_off, kv_dim, n_ctx, s.data(), hd, a);
  });
  p.Apply(L.o, att, out);
}

// The feed-forward block of one layer: out = W_down mlp(h) (+ b_down) for the
// T rows of h, mlp being the architecture's (SwiGLU or GELU).
void FeedForward(const Pass& p, const LayerWeights& L, const float* h, float* out) {
  const size_t n = p.T * p.config.d_ff;
  float* gate = p.gate.get();
  float* up = p.up.get();
  p.Apply(L.up, h, up);
  switch (p.architecture.mlp) {
    case MlpKind::kGelu:
      for (size_t i = 0; i < n; ++i) gate[i] = Gelu(up[i]);
      break;
    case MlpKind::kSwiGlu:
      p.Apply(L.gate, h, gate);
      for (size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
      break;
  }
  p.Apply(L.down, gate, out);
}

}  // namespace

Model::~Model() = default;

StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path) {
  StatusOr<gguf::File> file = gguf::File::Open(path);
  if (!file.ok()) return file.status();
  return FromFile(std::make_shared<const gguf::File>(std::move(*file)));
}

StatusOr<std::unique_ptr<Model>> Model::FromFile(std::shared_ptr<const gguf::File> file) {
  StatusOr<ModelConfig> config = ModelConfig::FromGguf(*file);
  if (!config.ok()) return config.status();
  StatusOr<ModelWeights> weights = LoadWeights(*file, *config);
  if (!weights.ok()) return weights.status();
  std::unique_ptr<Model> model(new Model());
  model->config_ = *config;
  model->file_ = std::move(file);
  model->weights_ = std::make_unique<ModelWeights>(std::move(*weights));
  return model;
}

double Model::weight_bytes_per_token() const { return WeightBytesPerToken(*weights_); }

const ModelWeights& WeightsOf(const Model& model) { return *model.weights_; }

Context::Context(const Model& model, size_t max_tokens, ThreadPool* pool, Activations activations)
    : model_(model), pool_(pool), activations_(activations),
      max_tokens_(max_tokens == 0 ? model.config().context_length
                                  : std::min<size_t>(max_tokens, model.config().context_length)) {
  const ModelConfig& c = model.config();
  const size_t kv_dim = size_t(c.n_attn_kv_heads) * c.attn_head_dim;
  // Default-initialised: the pages are committed as positions are written.
  const size_t n = size_t(c.n_layers) * max_tokens_ * kv_dim;
  k_cache_.reset(new float[n]);
  v_cache_.reset(new float[n]);
}

Context::~Context() = default;

void Context::Rewind(size_t n) { n_past_ = std::min(n, n_past_); }


// One position of a forward pass: its token, its position in its sequence,
// and that sequence's context (whose KV cache it reads and appends to).
struct Context::Row {
  int32_t token;
  size_t position;
  Context* context;
};

std::vector<float> Context::Forward(const Model& model, ThreadPool& pool, Activations activations,
                                    std::span<const Row> rows, size_t first_out, ResidualTap* tap) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = WeightsOf(model);
  const size_t T = rows.size(), d = c.d_model;
  const size_t kv_dim = size_t(c.n_attn_kv_heads) * c.attn_head_dim;
  const Pass pass(c, *w.architecture, pool, activations, T);

  // The residual stream: each token's embedding (plus its position's, when
  // positions are learned).
  std::vector<float> x(T * d);
  float* h = pass.h.get();
  float* delta = pass.delta.get();
  const bool learned_positions = w.architecture->positions == Positions::kLearned;
  std::vector<float> pos(learned_positions ? d : 0);
  for (size_t t = 0; t < T; ++t) {
    quant::DequantizeRow(w.token_embd.type, w.token_embd.Row(size_t(rows[t].token)), d, x.data() + t * d);
    if (learned_positions) {
      quant::DequantizeRow(w.position_embd.type, w.position_embd.Row(rows[t].position), d, pos.data());
      for (size_t i = 0; i < d; ++i) x[t * d + i] += pos[i];
    }
  }
  if (tap) {
    tap->residual.assign(c.n_layers, {});
    tap->embedding.assign(x.begin() + first_out * d, x.end());
  }

  std::vector<size_t> positions(T);
  for (size_t t = 0; t < T; ++t) positions[t] = rows[t].position;
  std::vector<float*> keys(T), values(T);  // layer l's cache of row t's sequence
  std::vector<std::vector<float>> scores(pool.num_threads());
  for (size_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    for (size_t t = 0; t < T; ++t) {
      Context& ctx = *rows[t].context;
      keys[t] = ctx.k_cache_.get() + l * ctx.max_tokens_ * kv_dim;
      values[t] = ctx.v_cache_.get() + l * ctx.max_tokens_ * kv_dim;
    }
    pass.Normalize(L.attn_norm, x.data(), h);
    Attention(pass, L, positions, keys, values, h, scores, delta);
    for (size_t i = 0; i < T * d; ++i) x[i] += delta[i];

    pass.Normalize(L.ffn_norm, x.data(), h);
    FeedForward(pass, L, h, delta);
    for (size_t i = 0; i < T * d; ++i) x[i] += delta[i];
    if (tap) tap->residual[l].assign(x.begin() + first_out * d, x.end());
  }
  x.erase(x.begin(), x.begin() + first_out * d);
  return x;
}

Status Context::CheckEval(std::span<const int32_t> tokens) const {
  const size_t T = tokens.size();
  if (T == 0) return InvalidArgumentError("model: no tokens to evaluate (an empty prompt)");
  if (T > max_tokens_ - n_past_) {
    return OutOfRangeError("model: " + std::to_string(n_past_) + " + " + std::to_string(T) +
                           " tokens exceed the context of " + std::to_string(max_tokens_));
  }
  return CheckTokens(model_.config(), tokens, "token ");
}

std::vector<float> Context::ForwardChunk(std::span<const int32_t> tokens, size_t first_out,
                                         ResidualTap* tap) {
  std::vector<Row> rows(tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t) rows[t] = {tokens[t], n_past_ + t, this};
  std::vector<float> x = Forward(model_, *pool_, activations_, rows, first_out, tap);
  n_past_ += tokens.size();
  return x;
}

Status Context::Eval(std::span<const int32_t> tokens, Logits which, std::vector<float>* logits,
                     ResidualTap* tap, const Progress& progress) {
  LOGITKIT_RETURN_IF_ERROR(CheckEval(tokens));
  const size_t T = tokens.size(), d = model_.config().d_model, n_past_before = n_past_;
  if (tap) {
    tap->residual.assign(model_.config().n_layers, {});
    tap->embedding.clear();
  }
  if (which == Logits::kAll) logits->clear();
  ResidualTap chunk_tap;
  for (size_t start = 0; start < T; start += kMaxBatch) {
    const size_t n = std::min(kMaxBatch, T - start);
    const bool last = start + n == T;
    // Positions whose logits (and taps) are wanted: all, the last one, or none.
    const size_t first_out = which == Logits::kAll ? 0 : which == Logits::kLast && last ? n - 1 : n;
    std::vector<float> x = ForwardChunk(tokens.subspan(start, n), first_out, tap ? &chunk_tap : nullptr);
    if (tap) {
      for (size_t l = 0; l < chunk_tap.residual.size(); ++l) {
        tap->residual[l].insert(tap->residual[l].end(), chunk_tap.residual[l].begin(),
                                chunk_tap.residual[l].end());
      }
      tap->embedding.insert(tap->embedding.end(), chunk_tap.embedding.begin(), chunk_tap.embedding.end());
    }
    if (x.size() >= d && which == Logits::kAll) {
      std::vector<float> rows;
      LOGITKIT_RETURN_IF_ERROR(Unembed(x, &rows));
      logits->insert(logits->end(), rows.begin(), rows.end());
    } else if (x.size() >= d) {
      LOGITKIT_RETURN_IF_ERROR(Unembed(x, logits));
    }
    if (progress && !progress(start + n) && start + n < T) {
      Rewind(n_past_before);
      return Status(StatusCode::kCancelled, "model: stopped after " + std::to_string(start + n) + " of " +
                                                std::to_string(T) + " tokens (asked by the progress callback)");
    }
  }
  return OkStatus();
}

Status Context::EvalEach(std::span<const int32_t> tokens, const LogitsSink& sink) {
  LOGITKIT_RETURN_IF_ERROR(CheckEval(tokens));
  std::vector<float> logits;
  for (size_t start = 0; start < tokens.size(); start += kMaxBatch) {
    const size_t n = std::min(kMaxBatch, tokens.size() - start);
    std::vector<float> x = ForwardChunk(tokens.subspan(start, n), 0, nullptr);
    LOGITKIT_RETURN_IF_ERROR(Unembed(x, &logits));
    LOGITKIT_RETURN_IF_ERROR(sink(start, logits));
  }
  return OkStatus();
}

Status Context::EvalBatch(std::span<Context* const> contexts, std::span<const int32_t> tokens,
                          std::vector<float>* logits) {
  if (contexts.empty()) return InvalidArgumentError("model: a batch of no contexts");
  if (contexts.size() != tokens.size()) {
    return InvalidArgumentError("model: " + std::to_string(contexts.size()) + " contexts but " +
                                std::to_string(tokens.size()) + " tokens");
  }
  const Context& first = *contexts[0];
  std::vector<Row> rows(contexts.size());
  for (size_t i = 0; i < contexts.size(); ++i) {
    Context* ctx = contexts[i];
    const std::string where = "context " + std::to_string(i);
    if (&ctx->model_ != &first.model_ || ctx->pool_ != first.pool_ || ctx->activations_ != first.activations_) {
      return InvalidArgumentError("model: " + where + " has another model, pool or activations than context 0");
    }
    for (size_t j = 0; j < i; ++j) {
      if (contexts[j] == ctx) return InvalidArgumentError("model: " + where + " is context " + std::to_string(j) + " again");
    }
    if (ctx->n_past_ >= ctx->max_tokens_) {
      return OutOfRangeError("model: " + where + " is full (" + std::to_string(ctx->max_tokens_) + " tokens)");
    }
    rows[i] = {tokens[i], ctx->n_past_, ctx};
  }
  if (Status s = CheckTokens(first.model_.config(), tokens, "the token of context "); !s.ok()) return s;
  std::vector<float> x = Forward(first.model_, *first.pool_, first.activations_, rows, 0, nullptr);
  for (Context* ctx : contexts) ++ctx->n_past_;
  return contexts[0]->Unembed(x, logits);
}

Status Context::Unembed(std::span<const float> residual, std::vector<float>* logits) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = WeightsOf(model_);
  const size_t d = c.d_model;
  if (residual.empty() || residual.size() % d != 0) {
    return InvalidArgumentError("model: the residual holds " + std::to_string(residual.size()) +
                                " floats, not a positive multiple of d_model = " + std::to_string(d));
  }
  const size_t n = residual.size() / d;
  hwy::AlignedFreeUniquePtr<float[]> h = hwy::AllocateAligned<float>(residual.size());  // see Pass
  Norm(w.architecture->norm, w.output_norm, c.norm_eps, d, n, residual.data(), h.get());
  logits->resize(n * c.n_vocab);
  MatMul(w.unembedding, h.get(), n, logits->data(), *pool_, activations_);
  return OkStatus();
}

}  // namespace logitkit
