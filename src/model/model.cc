// The forward pass over a batch of new tokens, with a KV cache.
//
// llama family, per block, for each new position t (x: the residual stream,
// d_model floats; x starts as the token's embedding):
//   h = RMSNorm(x) · attn_norm
//   q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv); RoPE on q and k at position t
//   a = softmax(q · K^T / sqrt(head_dim)) V over positions <= t, per head
//       (head h reads KV head h / (n_heads / n_kv_heads))
//   x += Wo a
//   h = RMSNorm(x) · ffn_norm;  x += W_down (silu(W_gate h) · W_up h)
// then logits = W_lm_head (RMSNorm(x) · output_norm).
//
// GPT-2: x starts as the token's embedding plus the position's; norms are
// LayerNorm with bias; q, k, v come from one fused matrix (+bias), without
// RoPE; x += Wo a + bo; the MLP is x += W_down gelu(W_up h + b_up) + b_down
// (GELU's tanh form, as ggml); the final norm is a LayerNorm too.
#include "logitkit/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "logitkit/tensor_types.h"
#include "model/matmul.h"
#include "model/weights.h"

namespace logitkit {
namespace {

// How rotary embeddings pair the dimensions of a head: llama.cpp's GGUF
// conversion leaves llama models with adjacent pairs (2i, 2i + 1) ("normal");
// Qwen2 keeps Hugging Face's halves (i, i + n_rot / 2) ("NeoX").
enum class RopeLayout { kAdjacent, kHalves };

RopeLayout RopeLayoutOf(const std::string& architecture) {
  return architecture == "qwen2" ? RopeLayout::kHalves : RopeLayout::kAdjacent;
}

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

// Rotates each head_dim-float head of v (n_heads of them) for position pos.
// Rotates the first n_rot dimensions of each head.
void Rope(float* v, size_t n_heads, size_t head_dim, size_t n_rot, size_t pos, float freq_base,
          RopeLayout layout) {
  for (size_t i = 0; i < n_rot / 2; ++i) {
    const double theta = double(pos) * std::pow(double(freq_base), -2.0 * double(i) / double(n_rot));
    const float c = float(std::cos(theta)), s = float(std::sin(theta));
    for (size_t h = 0; h < n_heads; ++h) {
      float* head = v + h * head_dim;
      const size_t a = layout == RopeLayout::kAdjacent ? 2 * i : i;
      const size_t b = layout == RopeLayout::kAdjacent ? 2 * i + 1 : i + n_rot / 2;
      const float x0 = head[a], x1 = head[b];
      head[a] = x0 * c - x1 * s;
      head[b] = x0 * s + x1 * c;
    }
  }
}

// out[t] = norm(in[t]) for n rows of d floats: RMSNorm for the llama family,
// LayerNorm with bias for GPT-2.
void Norm(Family family, const float* in, const std::vector<float>& weight, const std::vector<float>& bias,
          float eps, size_t d, size_t n, float* out) {
  for (size_t t = 0; t < n; ++t) {
    if (family == Family::kGpt2) {
      LayerNorm(in + t * d, weight.data(), bias.data(), d, eps, out + t * d);
    } else {
      RmsNorm(in + t * d, weight.data(), d, eps, out + t * d);
    }
  }
}

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

Context::Context(const Model& model, size_t max_tokens, ThreadPool* pool, Activations activations)
    : model_(model), pool_(pool), activations_(activations),
      max_tokens_(max_tokens == 0 ? model.config().context_length
                                  : std::min<size_t>(max_tokens, model.config().context_length)) {
  const ModelConfig& c = model.config();
  const size_t kv_dim = size_t(c.n_kv_heads) * c.head_dim;
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
  const ModelWeights& w = model.weights();
  const size_t T = rows.size();
  const bool gpt2 = w.family == Family::kGpt2;
  const RopeLayout rope = RopeLayoutOf(c.architecture);
  const size_t d = c.d_model, hd = c.head_dim, n_heads = c.n_heads, n_kv = c.n_kv_heads;
  const size_t q_dim = n_heads * hd, kv_dim = n_kv * hd, ff = c.d_ff;
  const size_t group = n_heads / n_kv;
  auto matmul = [&](const Matrix& m, const float* in, float* out) { MatMul(m, in, T, out, pool, activations); };
  auto norm = [&](const float* in, const std::vector<float>& weight, const std::vector<float>& bias, float* out,
                  size_t n_rows) { Norm(w.family, in, weight, bias, c.norm_eps, d, n_rows, out); };

  std::vector<float> x(T * d), h(T * d), q(T * q_dim), k(T * kv_dim), v(T * kv_dim), att(T * q_dim);
  std::vector<float> gate(T * ff), up(T * ff), delta(T * d), qkv(gpt2 ? T * 3 * d : 0), pos(gpt2 ? d : 0);
  for (size_t t = 0; t < T; ++t) {
    gguf::DequantizeRow(w.token_embd.type, w.token_embd.Row(size_t(rows[t].token)), d, x.data() + t * d);
    if (gpt2) {
      gguf::DequantizeRow(w.position_embd.type, w.position_embd.Row(rows[t].position), d, pos.data());
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
    norm(x.data(), L.attn_norm, L.attn_norm_b, h.data(), T);
    if (gpt2) {
      matmul(L.wqkv, h.data(), qkv.data());
      AddBias(qkv.data(), L.bqkv, T);
      for (size_t t = 0; t < T; ++t) {
        std::memcpy(&q[t * q_dim], &qkv[t * 3 * d], d * sizeof(float));
        std::memcpy(&k[t * kv_dim], &qkv[t * 3 * d + d], d * sizeof(float));
        std::memcpy(&v[t * kv_dim], &qkv[t * 3 * d + 2 * d], d * sizeof(float));
      }
    } else {
      matmul(L.wq, h.data(), q.data());
      matmul(L.wk, h.data(), k.data());
      matmul(L.wv, h.data(), v.data());
      AddBias(q.data(), L.bq, T);
      AddBias(k.data(), L.bk, T);
      AddBias(v.data(), L.bv, T);
    }
    for (size_t t = 0; t < T; ++t) {
      const size_t p = rows[t].position;
      if (!gpt2) {
        Rope(&q[t * q_dim], n_heads, hd, c.n_rot, p, c.rope_freq_base, rope);
        Rope(&k[t * kv_dim], n_kv, hd, c.n_rot, p, c.rope_freq_base, rope);
      }
      std::memcpy(cache(t, l, false) + p * kv_dim, &k[t * kv_dim], kv_dim * sizeof(float));
      std::memcpy(cache(t, l, true) + p * kv_dim, &v[t * kv_dim], kv_dim * sizeof(float));
    }
    // Attention: one task per (row, head), over the row's sequence up to its position.
    pool.Run(T * n_heads, [&](size_t task, size_t thread) {
      const size_t t = task / n_heads, head = task % n_heads;
      const size_t n_ctx = rows[t].position + 1;
      const float* k_cache = cache(t, l, false);
      const float* v_cache = cache(t, l, true);
      const float* qh = &q[t * q_dim + head * hd];
      const size_t kv_off = (head / group) * hd;
      std::vector<float>& s = scores[thread];
      s.resize(n_ctx);
      float max = -INFINITY;
      for (size_t p = 0; p < n_ctx; ++p) {
        s[p] = gguf::DotRow(gguf::TensorType::kF32, k_cache + p * kv_dim + kv_off, qh, hd) * inv_sqrt_hd;
        max = std::max(max, s[p]);
      }
      double sum = 0;
      for (size_t p = 0; p < n_ctx; ++p) sum += s[p] = std::exp(s[p] - max);
      const float inv = float(1.0 / sum);
      float* out = &att[t * q_dim + head * hd];
      std::fill(out, out + hd, 0.0f);
      for (size_t p = 0; p < n_ctx; ++p) {
        const float weight = s[p] * inv;
        const float* vp = v_cache + p * kv_dim + kv_off;
        for (size_t i = 0; i < hd; ++i) out[i] += weight * vp[i];
      }
    });
    matmul(L.wo, att.data(), delta.data());
    AddBias(delta.data(), L.bo, T);
    for (size_t i = 0; i < T * d; ++i) x[i] += delta[i];

    norm(x.data(), L.ffn_norm, L.ffn_norm_b, h.data(), T);
    matmul(L.w_up, h.data(), up.data());
    if (gpt2) {
      AddBias(up.data(), L.b_up, T);
      for (size_t i = 0; i < T * ff; ++i) gate[i] = Gelu(up[i]);
    } else {
      matmul(L.w_gate, h.data(), gate.data());
      for (size_t i = 0; i < T * ff; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    }
    matmul(L.w_down, gate.data(), delta.data());
    AddBias(delta.data(), L.b_down, T);
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
      LOGITKIT_RETURN_IF_ERROR(Head(x, &rows));
      logits->insert(logits->end(), rows.begin(), rows.end());
    } else if (x.size() >= d) {
      LOGITKIT_RETURN_IF_ERROR(Head(x, logits));
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
    LOGITKIT_RETURN_IF_ERROR(Head(x, &logits));
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
  return contexts[0]->Head(x, logits);
}

Status Context::Head(std::span<const float> residual, std::vector<float>* logits) {
  const ModelConfig& c = model_.config();
  const ModelWeights& w = model_.weights();
  const size_t d = c.d_model;
  if (residual.empty() || residual.size() % d != 0) {
    return InvalidArgumentError("model: the residual holds " + std::to_string(residual.size()) +
                                " floats, not a positive multiple of d_model = " + std::to_string(d));
  }
  const size_t n = residual.size() / d;
  std::vector<float> h(residual.size());
  Norm(w.family, residual.data(), w.output_norm, w.output_norm_b, c.norm_eps, d, n, h.data());
  logits->resize(n * c.n_vocab);
  MatMul(w.lm_head, h.data(), n, logits->data(), *pool_, activations_);
  return OkStatus();
}

}  // namespace logitkit
