#include "model/weights.h"

#include <string>


namespace logitkit {
namespace {

std::string ShapeString(const gguf::Tensor& t) {
  std::string s = "[";
  for (size_t d = 0; d < t.dims.size(); ++d) s += (d ? ", " : "") + std::to_string(t.dims[d]);
  return s + "]";
}

Status WrongShape(const gguf::Tensor& t, const std::string& expected) {
  return InvalidArgumentError("model tensors: " + std::string(t.name) + " has shape " + ShapeString(t) +
                              ", expected " + expected);
}

StatusOr<Matrix> GetMatrix(const gguf::File& f, const std::string& name, size_t cols, size_t rows) {
  const gguf::Tensor* t = f.FindTensor(name);
  if (t == nullptr) return InvalidArgumentError("model tensors: " + name + " is missing");
  if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows) {
    return WrongShape(*t, "[" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
  }
  const auto type = static_cast<quant::TensorType>(t->type);
  if (Status s = quant::CheckRow(type, cols); !s.ok()) {
    return InvalidArgumentError("model tensors: " + name + ": " + s.message());
  }
  Matrix m;
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  m.row_bytes = quant::RowBytes(type, cols);
  m.data = t->data;
  return m;
}

// A vector of n elements converted to float32; `optional` vectors may be
// absent (an empty result).
Status GetVector(const gguf::File& f, const std::string& name, size_t n, bool optional,
                 std::vector<float>* out) {
  const gguf::Tensor* t = f.FindTensor(name);
  if (t == nullptr) {
    return optional ? OkStatus() : InvalidArgumentError("model tensors: " + name + " is missing");
  }
  if (t->dims.size() != 1 || t->dims[0] != n) return WrongShape(*t, "[" + std::to_string(n) + "]");
  const auto type = static_cast<quant::TensorType>(t->type);
  if (Status s = quant::CheckRow(type, n); !s.ok()) {
    return InvalidArgumentError("model tensors: " + name + ": " + s.message());
  }
  out->resize(n);
  quant::DequantizeRow(type, t->data, n, out->data());
  return OkStatus();
}

}  // namespace

Matrix Matrix::RowRange(size_t first, size_t count) const {
  Matrix m = *this;
  m.rows = count;
  m.data = data + first * row_bytes;
  return m;
}

StatusOr<ModelWeights> LoadWeights(const gguf::File& f, const ModelConfig& c) {
  StatusOr<const Architecture*> found = FindArchitecture(c.architecture);
  if (!found.ok()) return found.status();
  const Architecture& arch = **found;
  const bool layer_norm = arch.norm == NormKind::kLayer;
  ModelWeights w;
  w.architecture = &arch;
  const size_t d = c.d_model, q_dim = size_t(c.n_attn_heads) * c.attn_head_dim,
               kv_dim = size_t(c.n_attn_kv_heads) * c.attn_head_dim, ff = c.d_ff;
  // The matrices (cols x rows) and vectors (n floats) to find, and where each
  // goes. A fused attn_qkv is read whole into `qkv`, then split.
  struct MatrixSpec { std::string name; size_t cols, rows; Matrix* out; };
  struct VectorSpec { std::string name; size_t n; bool optional; std::vector<float>* out; };
  std::vector<MatrixSpec> matrices = {{"token_embd.weight", d, c.n_vocab, &w.token_embd}};
  std::vector<VectorSpec> vectors;
  auto norm = [&](const std::string& name, NormWeights* out) {
    vectors.push_back({name + ".weight", d, false, &out->weight});
    if (layer_norm) vectors.push_back({name + ".bias", d, false, &out->bias});
  };
  auto bias = [&](const std::string& name, size_t n, Bias kind, std::vector<float>* out) {
    if (kind != Bias::kNone) vectors.push_back({name + ".bias", n, kind == Bias::kOptional, out});
  };
  auto linear = [&](const std::string& name, size_t cols, size_t rows, Bias kind, Linear* out) {
    matrices.push_back({name + ".weight", cols, rows, &out->w});
    bias(name, rows, kind, &out->bias);
  };
  norm("output_norm", &w.output_norm);
  if (!c.tied_embeddings) matrices.push_back({"output.weight", d, c.n_vocab, &w.unembedding});
  if (arch.positions == Positions::kLearned) {
    matrices.push_back({"position_embd.weight", d, c.context_length, &w.position_embd});
  }
  w.layers.resize(c.n_layers);
  std::vector<Linear> qkv(arch.fused_qkv ? c.n_layers : 0);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm", &L.attn_norm);
    norm(p + "ffn_norm", &L.ffn_norm);
    if (arch.fused_qkv) {
      linear(p + "attn_qkv", d, q_dim + 2 * kv_dim, arch.qkv_bias, &qkv[l]);
    } else {
      linear(p + "attn_q", d, q_dim, arch.qkv_bias, &L.q);
      linear(p + "attn_k", d, kv_dim, arch.qkv_bias, &L.k);
      linear(p + "attn_v", d, kv_dim, arch.qkv_bias, &L.v);
    }
    linear(p + "attn_output", q_dim, d, arch.output_bias, &L.o);
    if (arch.mlp == MlpKind::kSwiGlu) linear(p + "ffn_gate", d, ff, arch.mlp_bias, &L.gate);
    linear(p + "ffn_up", d, ff, arch.mlp_bias, &L.up);
    linear(p + "ffn_down", ff, d, arch.mlp_bias, &L.down);
  }
  for (const MatrixSpec& m : matrices) {
    StatusOr<Matrix> got = GetMatrix(f, m.name, m.cols, m.rows);
    if (!got.ok()) return got.status();
    *m.out = *got;
  }
  for (const VectorSpec& v : vectors) LOGITKIT_RETURN_IF_ERROR(GetVector(f, v.name, v.n, v.optional, v.out));
  // A fused q, k, v: row ranges of one matrix, and slices of its bias.
  for (size_t l = 0; l < qkv.size(); ++l) {
    LayerWeights& L = w.layers[l];
    const size_t starts[3] = {0, q_dim, q_dim + kv_dim}, sizes[3] = {q_dim, kv_dim, kv_dim};
    Linear* parts[3] = {&L.q, &L.k, &L.v};
    for (int i = 0; i < 3; ++i) {
      parts[i]->w = qkv[l].w.RowRange(starts[i], sizes[i]);
      if (!qkv[l].bias.empty()) {
        parts[i]->bias.assign(qkv[l].bias.begin() + starts[i], qkv[l].bias.begin() + starts[i] + sizes[i]);
      }
    }
  }
  if (c.tied_embeddings) w.unembedding = w.token_embd;
  return w;
}

double WeightBytesPerToken(const ModelWeights& w) {
  auto bytes = [](const Matrix& m) { return double(m.rows) * double(m.row_bytes); };
  double total = bytes(w.unembedding) + double(w.token_embd.row_bytes);
  for (const LayerWeights& L : w.layers) {
    for (const Linear* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) total += bytes(m->w);
  }
  return total;
}

}  // namespace logitkit
