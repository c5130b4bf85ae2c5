// Tiny synthetic models for tests, written with the GGUF writer: llama-,
// qwen2- and GPT-2-style, random weights (seeded), F32 or Q8_0 matrices, and
// the defects a loader must name (a missing or misshapen tensor). No
// tokenizer metadata: pair them with a vocabulary file where one is needed.
#ifndef LOGITKIT_MODEL_TESTING_TINY_MODEL_H_
#define LOGITKIT_MODEL_TESTING_TINY_MODEL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/quant.h"

namespace logitkit::testing {

struct Tiny {
  uint32_t d = 64, heads = 4, kv_heads = 2, ff = 96, vocab = 100, layers = 2, context = 64;
  std::string architecture = "llama";
  quant::TensorType matrix_type = quant::TensorType::kF32;
  bool biases = false;
  std::string drop_tensor;      // leave this tensor out
  std::string misshape_tensor;  // give this tensor a wrong shape
};

inline std::vector<uint8_t> Floats(const std::vector<float>& v) {
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

// Quantizes rows of floats to Q8_0 (d = max|x| / 127, float16 d).
inline std::vector<uint8_t> ToQ8_0(const std::vector<float>& v) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < v.size() / 32; ++b) {
    float amax = 0;
    for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(v[32 * b + k]));
    const float d = amax / 127.0f;
    // float -> float16 for normal values in range (tests only).
    uint32_t bits;
    std::memcpy(&bits, &d, 4);
    const uint16_t h = d == 0 ? 0 : uint16_t(((bits >> 16) & 0x8000) | ((((bits >> 23) & 0xFF) - 112) << 10) | ((bits >> 13) & 0x3FF));
    out.push_back(uint8_t(h));
    out.push_back(uint8_t(h >> 8));
    for (int k = 0; k < 32; ++k) out.push_back(uint8_t(int8_t(d == 0 ? 0 : std::lround(v[32 * b + k] / d))));
  }
  return out;
}

inline std::shared_ptr<const gguf::File> Build(const Tiny& m, std::vector<uint8_t>* storage) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random = [&](size_t n, float scale) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng) * scale;
    return v;
  };
  gguf::Writer w;
  const std::string a = m.architecture;
  w.AddString("general.architecture", a);
  w.AddUint32(a + ".block_count", m.layers);
  w.AddUint32(a + ".embedding_length", m.d);
  w.AddUint32(a + ".feed_forward_length", m.ff);
  w.AddUint32(a + ".attention.head_count", m.heads);
  w.AddUint32(a + ".attention.head_count_kv", m.kv_heads);
  w.AddUint32(a + ".context_length", m.context);
  w.AddFloat32(a + (a == "gpt2" ? ".attention.layer_norm_epsilon" : ".attention.layer_norm_rms_epsilon"), 1e-5f);
  enum Kind { kVector, kEmbedding, kMatrix };
  auto add = [&](const std::string& name, std::vector<uint64_t> dims, float scale, Kind kind) {
    if (name == m.drop_tensor) return;
    size_t n = 1;
    for (uint64_t x : dims) n *= x;
    std::vector<float> v = random(n, scale);
    if (kind == kVector && scale == 1.0f) {
      for (float& x : v) x = 1.0f + 0.1f * x;  // norm weights near 1
    }
    const bool matrix = kind == kMatrix;
    if (name == m.misshape_tensor) {
      dims[0] /= 2;
      v.resize(v.size() / 2);
    }
    if (matrix && m.matrix_type == quant::TensorType::kQ8_0) {
      w.AddTensor(name, quant::TensorType::kQ8_0, dims, ToQ8_0(v));
    } else if (matrix && m.matrix_type != quant::TensorType::kF32) {
      // An unsupported type: any bytes of the right size.
      uint64_t be = 0, bb = 0;
      quant::TensorTypeLayout(uint32_t(m.matrix_type), &be, &bb);
      w.AddTensor(name, m.matrix_type, dims, std::vector<uint8_t>(n / be * bb));
    } else {
      w.AddTensor(name, quant::TensorType::kF32, dims, Floats(v));
    }
  };
  const uint32_t hd = m.d / m.heads, q = m.heads * hd, kv = m.kv_heads * hd;
  if (a == "gpt2") {  // LayerNorm with biases, learned positions, fused QKV
    add("token_embd.weight", {m.d, m.vocab}, 1.0f, kEmbedding);
    add("position_embd.weight", {m.d, 64}, 0.3f, kEmbedding);
    add("output_norm.weight", {m.d}, 1.0f, kVector);
    add("output_norm.bias", {m.d}, 0.1f, kVector);
    for (uint32_t l = 0; l < m.layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const float s = 1.0f / std::sqrt(float(m.d));
      add(p + "attn_norm.weight", {m.d}, 1.0f, kVector);
      add(p + "attn_norm.bias", {m.d}, 0.1f, kVector);
      add(p + "attn_qkv.weight", {m.d, 3 * m.d}, s, kMatrix);
      add(p + "attn_qkv.bias", {3 * m.d}, 0.1f, kVector);
      add(p + "attn_output.weight", {m.d, m.d}, s, kMatrix);
      add(p + "attn_output.bias", {m.d}, 0.1f, kVector);
      add(p + "ffn_norm.weight", {m.d}, 1.0f, kVector);
      add(p + "ffn_norm.bias", {m.d}, 0.1f, kVector);
      add(p + "ffn_up.weight", {m.d, m.ff}, s, kMatrix);
      add(p + "ffn_up.bias", {m.ff}, 0.1f, kVector);
      add(p + "ffn_down.weight", {m.ff, m.d}, 1.0f / std::sqrt(float(m.ff)), kMatrix);
      add(p + "ffn_down.bias", {m.d}, 0.1f, kVector);
    }
    *storage = w.Finish();
    StatusOr<gguf::File> f = gguf::File::FromBytes(*storage);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return std::make_shared<const gguf::File>(std::move(*f));
  }
  add("token_embd.weight", {m.d, m.vocab}, 1.0f, kEmbedding);
  add("output_norm.weight", {m.d}, 1.0f, kVector);
  for (uint32_t l = 0; l < m.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const float s = 1.0f / std::sqrt(float(m.d));
    add(p + "attn_norm.weight", {m.d}, 1.0f, kVector);
    add(p + "attn_q.weight", {m.d, q}, s, kMatrix);
    add(p + "attn_k.weight", {m.d, kv}, s, kMatrix);
    add(p + "attn_v.weight", {m.d, kv}, s, kMatrix);
    add(p + "attn_output.weight", {q, m.d}, s, kMatrix);
    add(p + "ffn_norm.weight", {m.d}, 1.0f, kVector);
    add(p + "ffn_gate.weight", {m.d, m.ff}, s, kMatrix);
    add(p + "ffn_up.weight", {m.d, m.ff}, s, kMatrix);
    add(p + "ffn_down.weight", {m.ff, m.d}, 1.0f / std::sqrt(float(m.ff)), kMatrix);
    if (m.biases) {
      add(p + "attn_q.bias", {q}, 0.1f, kVector);
      add(p + "attn_k.bias", {kv}, 0.1f, kVector);
      add(p + "attn_v.bias", {kv}, 0.1f, kVector);
    }
  }
  *storage = w.Finish();
  StatusOr<gguf::File> f = gguf::File::FromBytes(*storage);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return std::make_shared<const gguf::File>(std::move(*f));
}

}  // namespace logitkit::testing

#endif  // LOGITKIT_MODEL_TESTING_TINY_MODEL_H_
