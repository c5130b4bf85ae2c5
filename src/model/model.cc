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

// Rotates each attn_head_dim-float head of v (n_attn_heads of them) for position pos.
// Rotates the first n_rot dimensions of each head.
void Rope(float* v, size_t n_attn_heads, size_t attn_head_dim, size_t n_rot, size_t pos, float freq_base,
          RopeLayout layout) {
  for (size_t i = 0; i < n_rot / 2; ++i) {
    const double theta = double(pos) * std::pow(double(freq_base), -2.0 * double(i) / double(n_rot));
    const float c = float(std::cos(theta)), s = float(std::sin(theta));
    for (size_t h = 0; h < n_attn_heads; ++h) {
      float* head = v + h * attn_head_dim;
      const size_t a = layout == RopeLayout::kAdjacent ? 2 * i : i;
      const size_t b = layout == RopeLayout::kAdjacent ? 2 * i + 1 : i + n_rot / 2;
      const float x0 = head[a], x1 = head[b];
      head[a] = x0 * c - x1 * s;
      head[b] = x0 * s + x1 * c;
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
  const Architecture& arch = *w.architecture;
  const size_t T = rows.size();
  const size_t d = c.d_model, hd = c.attn_head_dim, n_heads = c.n_attn_heads, n_kv = c.n_attn_kv_heads;
  const size_t q_dim = n_heads * hd, kv_dim = n_kv * hd, ff = c.d_ff;
  const size_t group = n_heads / n_kv;
  // out = W in (+ bias), for the T rows.
  auto linear = [&](const Linear& m, const float* in, float* out) {
    MatMul(m.w, in, T, out, pool, activations);
    AddBias(out, m.bias, T);
  };
  auto norm = [&](const NormWeights& weights, const float* in, float* out) {
    Norm(arch.norm, weights, c.norm_eps, d, T, in, out);
  };

  std::vector<float> x(T * d), h(T * d), q(T * q_dim), k(T * kv_dim), v(T * kv_dim), att(T * q_dim);
  std::vector<float> gate(T * ff), up(T * ff), delta(T * d);
  const bool learned_positions = arch.positions == Positions::kLearned;
  std::vector<float> pos(learned_positions ? d : 0);
  for (size_t t = 0; t < T; ++t) {
    quant::DequantizeRow(w.token_embd.type, w.token_embd.Row(size_t(rows[t].token)), d, x.data() + t * d);
    if (learned_positions) {
      quant::DequantizeRow(w.position_embd.type, w.position_embd.Row(rows[t].position), d, pos.data());
      for (size_t i = 0; i < d; ++i) x[t * d + i] += pos[i];
    }
  }
  if (tap) tap->residual.assign(c.n_layers, {});

  const float inv_sqrt_hd = float(1.0 / std::sqrt(double(hd)));
  std::vector<std::vector<float>> scores(pool.num_threads());
  // Layer l's keys (or values) of row t's sequence: [position][kv_dim].
  auto cache = [&](size_t t, size_t l, bool values) {
    Context& ctx = *rows[t].context;
    return (values ? ctx.v_cache_ : ctx.k_cache_).get() + l * ctx.max_tokens_ * kv_dim;
  };
  for (size_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    norm(L.attn_norm, x.data(), h.data());
    linear(L.q, h.data(), q.data());
    linear(L.k, h.data(), k.data());
    linear(L.v, h.data(), v.data());
    for (size_t t = 0; t < T; ++t) {
      const size_t p = rows[t].position;
      if (arch.positions == Positions::kRope) {
        Rope(&q[t * q_dim], n_heads, hd, c.n_rot, p, c.rope_freq_base, arch.rope);
        Rope(&k[t * kv_dim], n_kv, hd, c.n_rot, p, c.rope_freq_base, arch.rope);
      }
      std::memcpy(cache(t, l, false) + p * kv_dim, &k[t * kv_dim], kv_dim * sizeof(float));
      std::memcpy(cache(t, l, true) + p * kv_dim, &v[t * kv_dim], kv_dim * sizeof(float));
    }
    // Attention: one task per (row, attention head), over the row's sequence
    // up to its position.
    pool.Run(T * n_heads, [&](size_t task, size_t thread) {
      const size_t t = task / n_heads, attn_head = task % n_heads;
      const size_t n_ctx = rows[t].position + 1;
      const float* k_cache = cache(t, l, false);
      const float* v_cache = cache(t, l, true);
      const float* qh = &q[t * q_dim + attn_head * hd];
      const size_t kv_off = (attn_head / group) * hd;
      std::vector<float>& s = scores[thread];
      s.resize(n_ctx);
      float max = -INFINITY;
      for (size_t p = 0; p < n_ctx; ++p) {
        s[p] = ops::Dot(k_cache + p * kv_dim + kv_off, qh, hd) * inv_sqrt_hd;
        max = std::max(max, s[p]);
      }
      double sum = 0;
      for (size_t p = 0; p < n_ctx; ++p) sum += s[p] = std::exp(s[p] - max);
      const float inv = float(1.0 / sum);
      float* out = &att[t * q_dim + attn_head * hd];
      std::fill(out, out + hd, 0.0f);
      for (size_t p = 0; p < n_ctx; ++p) {
        const float weight = s[p] * inv;
        const float* vp = v_cache + p * kv_dim + kv_off;
        for (size_t i = 0; i < hd; ++i) out[i] += weight * vp[i];
      }
    });
    linear(L.o, att.data(), delta.data());
    for (size_t i = 0; i < T * d; ++i) x[i] += delta[i];

    norm(L.ffn_norm, x.data(), h.data());
    linear(L.up, h.data(), up.data());
    switch (arch.mlp) {
      case MlpKind::kGelu:
        for (size_t i = 0; i < T * ff; ++i) gate[i] = Gelu(up[i]);
        break;
      case MlpKind::kSwiGlu:
        linear(L.gate, h.data(), gate.data());
        for (size_t i = 0; i < T * ff; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
        break;
    }
    linear(L.down, gate.data(), delta.data());
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
                     ResidualTap* tap, const std::function<void(size_t)>& progress) {
  LOGITKIT_RETURN_IF_ERROR(CheckEval(tokens));
  const size_t T = tokens.size(), d = model_.config().d_model;
  if (tap) tap->residual.assign(model_.config().n_layers, {});
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
    }
    if (x.size() >= d && which == Logits::kAll) {
      std::vector<float> rows;
      LOGITKIT_RETURN_IF_ERROR(Unembed(x, &rows));
      logits->insert(logits->end(), rows.begin(), rows.end());
    } else if (x.size() >= d) {
      LOGITKIT_RETURN_IF_ERROR(Unembed(x, logits));
    }
    if (progress) progress(start + n);
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
  std::vector<float> h(residual.size());
  Norm(w.architecture->norm, w.output_norm, c.norm_eps, d, n, residual.data(), h.data());
  logits->resize(n * c.n_vocab);
  MatMul(w.unembedding, h.data(), n, logits->data(), *pool_, activations_);
  return OkStatus();
}

}  // namespace logitkit
