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

StatusOr<Family> FamilyOf(const std::string& architecture) {
  if (architecture == "llama" || architecture == "mistral" || architecture == "qwen2") return Family::kLlama;
  if (architecture == "gpt2") return Family::kGpt2;
  return InvalidArgumentError("model: architecture '" + architecture +
                              "' is not supported (supported: llama, mistral, qwen2, gpt2)");
}

StatusOr<ModelWeights> LoadWeights(const gguf::File& f, const ModelConfig& c) {
  StatusOr<Family> family = FamilyOf(c.architecture);
  if (!family.ok()) return family.status();
  const bool gpt2 = *family == Family::kGpt2;
  ModelWeights w;
  w.family = *family;
  const size_t d = c.d_model, q_dim = size_t(c.n_heads) * c.head_dim,
               kv_dim = size_t(c.n_kv_heads) * c.head_dim, ff = c.d_ff;
  // The matrices (cols x rows) and vectors (n floats) to find, and where each goes.
  struct MatrixSpec { std::string name; size_t cols, rows; Matrix* out; };
  struct VectorSpec { std::string name; size_t n; bool optional; std::vector<float>* out; };
  std::vector<MatrixSpec> matrices = {{"token_embd.weight", d, c.n_vocab, &w.token_embd}};
  std::vector<VectorSpec> vectors = {{"output_norm.weight", d, false, &w.output_norm}};
  if (!c.tied_embeddings) matrices.push_back({"output.weight", d, c.n_vocab, &w.lm_head});
  if (gpt2) {
    matrices.push_back({"position_embd.weight", d, c.context_length, &w.position_embd});
    vectors.push_back({"output_norm.bias", d, false, &w.output_norm_b});
  }
  w.layers.resize(c.n_layers);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    if (gpt2) {
      matrices.push_back({p + "attn_qkv.weight", d, 3 * d, &L.wqkv});
    } else {
      matrices.push_back({p + "attn_q.weight", d, q_dim, &L.wq});
      matrices.push_back({p + "attn_k.weight", d, kv_dim, &L.wk});
      matrices.push_back({p + "attn_v.weight", d, kv_dim, &L.wv});
    }
    matrices.push_back({p + "attn_output.weight", q_dim, d, &L.wo});
    if (!gpt2) matrices.push_back({p + "ffn_gate.weight", d, ff, &L.w_gate});
    matrices.push_back({p + "ffn_up.weight", d, ff, &L.w_up});
    matrices.push_back({p + "ffn_down.weight", ff, d, &L.w_down});
    vectors.push_back({p + "attn_norm.weight", d, false, &L.attn_norm});
    vectors.push_back({p + "ffn_norm.weight", d, false, &L.ffn_norm});
    if (gpt2) {
      vectors.push_back({p + "attn_qkv.bias", 3 * d, false, &L.bqkv});
      vectors.push_back({p + "attn_output.bias", d, false, &L.bo});
      vectors.push_back({p + "attn_norm.bias", d, false, &L.attn_norm_b});
      vectors.push_back({p + "ffn_norm.bias", d, false, &L.ffn_norm_b});
      vectors.push_back({p + "ffn_up.bias", ff, false, &L.b_up});
      vectors.push_back({p + "ffn_down.bias", d, false, &L.b_down});
    } else {
      vectors.push_back({p + "attn_q.bias", q_dim, true, &L.bq});
      vectors.push_back({p + "attn_k.bias", kv_dim, true, &L.bk});
      vectors.push_back({p + "attn_v.bias", kv_dim, true, &L.bv});
    }
  }
  for (const MatrixSpec& m : matrices) {
    StatusOr<Matrix> got = GetMatrix(f, m.name, m.cols, m.rows);
    if (!got.ok()) return got.status();
    *m.out = *got;
  }
  for (const VectorSpec& v : vectors) LOGITKIT_RETURN_IF_ERROR(GetVector(f, v.name, v.n, v.optional, v.out));
  if (c.tied_embeddings) w.lm_head = w.token_embd;
  return w;
}

}  // namespace logitkit
