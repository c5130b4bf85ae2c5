#include "model/weights.h"

#include <string>

#include "logitkit/tensor_types.h"

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
  const auto type = static_cast<gguf::TensorType>(t->type);
  if (Status s = gguf::CheckRow(type, cols); !s.ok()) {
    return InvalidArgumentError("model tensors: " + name + ": " + s.message());
  }
  Matrix m;
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  m.row_bytes = gguf::RowBytes(type, cols);
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
  const auto type = static_cast<gguf::TensorType>(t->type);
  if (Status s = gguf::CheckRow(type, n); !s.ok()) {
    return InvalidArgumentError("model tensors: " + name + ": " + s.message());
  }
  out->resize(n);
  gguf::DequantizeRow(type, t->data, n, out->data());
  return OkStatus();
}

}  // namespace

StatusOr<ModelWeights> LoadLlamaWeights(const gguf::File& f, const ModelConfig& c) {
  ModelWeights w;
  const size_t d = c.d_model, q_dim = size_t(c.n_heads) * c.head_dim,
               kv_dim = size_t(c.n_kv_heads) * c.head_dim, ff = c.d_ff;
  StatusOr<Matrix> m = GetMatrix(f, "token_embd.weight", d, c.n_vocab);
  if (!m.ok()) return m.status();
  w.token_embd = *m;
  if (c.tied_embeddings) {
    w.lm_head = w.token_embd;
  } else {
    m = GetMatrix(f, "output.weight", d, c.n_vocab);
    if (!m.ok()) return m.status();
    w.lm_head = *m;
  }
  LOGITKIT_RETURN_IF_ERROR(GetVector(f, "output_norm.weight", d, false, &w.output_norm));
  w.layers.resize(c.n_layers);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    struct { const char* name; size_t cols, rows; Matrix* out; } matrices[] = {
        {"attn_q.weight", d, q_dim, &L.wq},       {"attn_k.weight", d, kv_dim, &L.wk},
        {"attn_v.weight", d, kv_dim, &L.wv},      {"attn_output.weight", q_dim, d, &L.wo},
        {"ffn_gate.weight", d, ff, &L.w_gate},    {"ffn_up.weight", d, ff, &L.w_up},
        {"ffn_down.weight", ff, d, &L.w_down}};
    for (const auto& spec : matrices) {
      m = GetMatrix(f, p + spec.name, spec.cols, spec.rows);
      if (!m.ok()) return m.status();
      *spec.out = *m;
    }
    LOGITKIT_RETURN_IF_ERROR(GetVector(f, p + "attn_norm.weight", d, false, &L.attn_norm));
    LOGITKIT_RETURN_IF_ERROR(GetVector(f, p + "ffn_norm.weight", d, false, &L.ffn_norm));
    LOGITKIT_RETURN_IF_ERROR(GetVector(f, p + "attn_q.bias", q_dim, true, &L.bq));
    LOGITKIT_RETURN_IF_ERROR(GetVector(f, p + "attn_k.bias", kv_dim, true, &L.bk));
    LOGITKIT_RETURN_IF_ERROR(GetVector(f, p + "attn_v.bias", kv_dim, true, &L.bv));
  }
  return w;
}

}  // namespace logitkit
