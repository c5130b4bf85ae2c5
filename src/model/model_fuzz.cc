// libFuzzer target over a model built from a GGUF file's metadata and tensor
// directory (the `fuzz` preset; docs/reliability.md). Each input describes a
// small model (llama-, mistral-, qwen2- or GPT-2-style, or an unknown
// architecture): sizes, metadata keys that are right, absent, of the wrong
// type or out of range, tensors that are right, missing, misshapen or of
// another type, and tokenizer metadata (tokens, types, scores, merges,
// special ids, flags) that may contradict itself. The file is written with
// gguf::Writer, so the fuzzing reaches past the reader into
// ModelConfig::FromGguf, Model::FromFile (the weights' checks) and
// Tokenizer::FromGguf. Besides "no crash, no hang, no sanitizer report", it
// checks what the headers promise:
//   - each of them gives a value or an error with a message;
//   - a model that loads evaluates its tokens (a batch of them, then one at a
//     time in a second context) to n_vocab logits per position, bitwise the
//     same both ways (model.h; a NaN, from weights holding NaN or infinities,
//     is NaN both ways, its sign aside), and refuses an id outside [0, n_vocab) with
//     its context unchanged;
//   - a tokenizer that loads encodes text to ids in [0, n_vocab) and decodes
//     them again.
//   build/fuzz/src/model/model_fuzz fuzz/model/corpus
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/model.h"
#include "logitkit/model_config.h"
#include "logitkit/quant.h"
#include "logitkit/thread_pool.h"
#include "logitkit/tokenizer.h"

namespace {

using logitkit::gguf::Writer;
using logitkit::quant::TensorType;

[[noreturn]] void Violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "model_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void ExpectMessage(const logitkit::Status& s, const char* who) {
  if (!s.ok() && s.message().empty()) Violated("an error without a message", who);
}

// A count key: usually right, else absent, of another type or out of range.
void AddCount(Writer& w, FuzzedDataProvider& in, const std::string& key, uint32_t value) {
  switch (in.ConsumeIntegralInRange(0, 15)) {
    case 0: return;
    case 1: w.AddInt32(key, in.ConsumeIntegral<int32_t>()); return;
    case 2: w.AddUint64(key, in.ConsumeIntegral<uint64_t>()); return;
    case 3: w.AddFloat32(key, float(value)); return;
    case 4: w.AddString(key, std::to_string(value)); return;
    case 5: w.AddBool(key, true); return;
    case 6: w.AddInt32Array(key, {int32_t(value)}); return;
    case 7: w.AddUint32(key, in.ConsumeIntegralInRange<uint32_t>(0, 70)); return;
    default: w.AddUint32(key, value);
  }
}

// A float key: usually absent (the default), else any float32 (NaN, infinite,
// negative, zero), a sensible one, or another type.
void AddFloat(Writer& w, FuzzedDataProvider& in, const std::string& key, float sensible) {
  switch (in.ConsumeIntegralInRange(0, 7)) {
    case 0: {
      const uint32_t bits = in.ConsumeIntegral<uint32_t>();
      float f;
      std::memcpy(&f, &bits, 4);
      w.AddFloat32(key, f);
      return;
    }
    case 1: w.AddFloat32(key, sensible); return;
    case 2: w.AddUint32(key, 1); return;
    case 3: w.AddString(key, "1e-5"); return;
    default: return;
  }
}

uint64_t Next(uint64_t* state) {  // splitmix64: the weights' values
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A tensor of `dims`, usually as the architecture wants it (float32 values in
// [-scale, scale]); sometimes missing, with a dimension changed, added or
// dropped, or of another type (float16, Q8_0, or any type code with bytes of
// its size, whatever they encode).
void AddTensor(Writer& w, FuzzedDataProvider& in, uint64_t* seed, const std::string& name,
               std::vector<uint64_t> dims, float scale) {
  const int action = in.ConsumeIntegralInRange(0, 31);
  if (action == 0) return;
  if (action == 1) dims[in.ConsumeIntegralInRange<size_t>(0, dims.size() - 1)] = in.ConsumeIntegralInRange(1, 70);
  if (action == 2) dims.push_back(in.ConsumeIntegralInRange(1, 3));
  if (action == 3 && dims.size() > 1) dims.pop_back();
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  if (n == 0 || n > (1u << 16)) return;  // keeps each input fast
  TensorType type = TensorType::kF32;
  if (action == 4) type = TensorType::kF16;
  if (action == 5 && dims[0] % 32 == 0) type = TensorType::kQ8_0;
  if (action == 6) type = TensorType(in.ConsumeIntegralInRange(0, 40));
  uint64_t block_elements = 0, block_bytes = 0;
  if (!logitkit::quant::TensorTypeLayout(uint32_t(type), &block_elements, &block_bytes) || dims[0] % block_elements) {
    type = TensorType::kF32;
    block_elements = 1;
    block_bytes = 4;
  }
  std::vector<uint8_t> bytes(n / block_elements * block_bytes);
  if (type == TensorType::kF32) {
    for (uint64_t i = 0; i < n; ++i) {
      const float x = scale * (float(Next(seed) >> 40) / float(1 << 23) - 1.0f);
      std::memcpy(&bytes[4 * i], &x, 4);
    }
  } else if (type == TensorType::kF16 || type == TensorType::kQ8_0) {
    // Float16 values (or Q8_0 scales) of magnitude 2^-5 .. 2^1; Q8_0's
    // quants are any bytes.
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(Next(seed));
    const size_t stride = type == TensorType::kF16 ? 2 : 34;
    for (size_t i = 0; i + 1 < bytes.size(); i += stride) {
      const uint64_t r = Next(seed);
      const uint16_t h = uint16_t((r & 0x8000) | ((10 + r % 7) << 10) | ((r >> 16) & 0x3FF));
      bytes[i] = uint8_t(h);
      bytes[i + 1] = uint8_t(h >> 8);
    }
  } else {
    for (uint8_t& b : bytes) b = uint8_t(Next(seed));
  }
  w.AddTensor(name, type, dims, std::move(bytes));
}

struct Sizes {
  uint32_t d, heads, kv_heads, ff, vocab, layers, context, positions;
};

void AddModel(Writer& w, FuzzedDataProvider& in, const std::string& a, const Sizes& s) {
  uint64_t seed = in.ConsumeIntegral<uint64_t>();
  AddCount(w, in, a + ".block_count", s.layers);
  AddCount(w, in, a + ".embedding_length", s.d);
  AddCount(w, in, a + ".feed_forward_length", s.ff);
  AddCount(w, in, a + ".attention.head_count", s.heads);
  AddCount(w, in, a + ".attention.head_count_kv", s.kv_heads);
  AddCount(w, in, a + ".context_length", s.context);
  AddCount(w, in, a + ".rope.dimension_count", s.d / std::max(1u, s.heads));
  AddFloat(w, in, a + ".rope.freq_base", 10000.0f);
  AddFloat(w, in, a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  AddFloat(w, in, a + ".attention.layer_norm_epsilon", 1e-5f);
  const uint64_t d = s.d, hd = s.d / std::max(1u, s.heads), q = s.heads * hd, kv = s.kv_heads * hd;
  const float ws = 1.0f / std::sqrt(float(std::max(1u, s.d)));
  const auto tensor = [&](const std::string& name, std::vector<uint64_t> dims, float scale) {
    AddTensor(w, in, &seed, name, std::move(dims), scale);
  };
  tensor("token_embd.weight", {d, s.vocab}, 1.0f);
  if (in.ConsumeBool()) tensor("output.weight", {d, s.vocab}, ws);
  tensor("output_norm.weight", {d}, 1.0f);
  const bool gpt2 = a == "gpt2";
  const bool biases = in.ConsumeBool();
  if (gpt2) {
    tensor("position_embd.weight", {d, s.positions}, 0.3f);
    tensor("output_norm.bias", {d}, 0.1f);
  }
  for (uint32_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    tensor(p + "attn_norm.weight", {d}, 1.0f);
    tensor(p + "ffn_norm.weight", {d}, 1.0f);
    tensor(p + "ffn_up.weight", {d, s.ff}, ws);
    tensor(p + "ffn_down.weight", {s.ff, d}, ws);
    if (gpt2) {
      tensor(p + "attn_norm.bias", {d}, 0.1f);
      tensor(p + "ffn_norm.bias", {d}, 0.1f);
      tensor(p + "attn_qkv.weight", {d, 3 * d}, ws);
      tensor(p + "attn_qkv.bias", {3 * d}, 0.1f);
      tensor(p + "attn_output.weight", {d, d}, ws);
      tensor(p + "attn_output.bias", {d}, 0.1f);
      tensor(p + "ffn_up.bias", {s.ff}, 0.1f);
      tensor(p + "ffn_down.bias", {d}, 0.1f);
      continue;
    }
    tensor(p + "attn_q.weight", {d, q}, ws);
    tensor(p + "attn_k.weight", {d, kv}, ws);
    tensor(p + "attn_v.weight", {d, kv}, ws);
    tensor(p + "attn_output.weight", {q, d}, ws);
    tensor(p + "ffn_gate.weight", {d, s.ff}, ws);
    if (biases) {
      tensor(p + "attn_q.bias", {q}, 0.1f);
      tensor(p + "attn_k.bias", {kv}, 0.1f);
      tensor(p + "attn_v.bias", {kv}, 0.1f);
    }
  }
}

// Tokenizer metadata for `n` tokens (n_vocab, or another count), each of its
// keys possibly absent, mis-sized or of another type.
void AddTokenizer(Writer& w, FuzzedDataProvider& in, uint32_t n) {
  static const char* const kModels[] = {"gpt2", "llama", "bert", ""};
  static const char* const kPres[] = {"gpt-2", "llama-bpe", "llama3", "smollm", "qwen2", "default", "unknown"};
  static const char* const kTexts[] = {"<|endoftext|>", "<s>", "</s>", "<unk>", "<0x41>", "<0x0A>", "\xE2\x96\x81",
                                       "\xE2\x96\x81the", "\xC4\xA0", "\xC4\xA0the", "a", "b", "ab", "t", "he", "the"};
  w.AddString("tokenizer.ggml.model", kModels[in.ConsumeIntegralInRange<size_t>(0, 3)]);
  if (in.ConsumeBool()) w.AddString("tokenizer.ggml.pre", kPres[in.ConsumeIntegralInRange<size_t>(0, 6)]);
  if (in.ConsumeIntegralInRange(0, 7) == 0) n = in.ConsumeIntegralInRange<uint32_t>(0, 80);
  std::vector<std::string> tokens(n);
  for (std::string& t : tokens) {
    t = in.ConsumeBool() ? std::string(kTexts[in.ConsumeIntegralInRange<size_t>(0, 15)])
                         : in.ConsumeRandomLengthString(8);
  }
  w.AddStringArray("tokenizer.ggml.tokens", tokens);
  const auto size = [&] { return in.ConsumeIntegralInRange(0, 7) == 0 ? in.ConsumeIntegralInRange<uint32_t>(0, n + 2) : n; };
  if (in.ConsumeBool()) {
    std::vector<int32_t> types(size());
    for (int32_t& t : types) t = in.ConsumeIntegralInRange(0, 15) == 0 ? in.ConsumeIntegral<int32_t>() : in.ConsumeIntegralInRange(1, 6);
    w.AddInt32Array("tokenizer.ggml.token_type", types);
  }
  if (in.ConsumeBool()) {
    std::vector<float> scores(size());
    for (float& s : scores) s = -float(in.ConsumeIntegralInRange(0, 1000)) / 10.0f;
    w.AddFloat32Array("tokenizer.ggml.scores", scores);
  }
  if (in.ConsumeBool() && n > 0) {
    std::vector<std::string> merges(in.ConsumeIntegralInRange<size_t>(0, 32));
    for (std::string& m : merges) {
      m = in.ConsumeBool() ? tokens[in.ConsumeIntegralInRange<uint32_t>(0, n - 1)] + " " +
                                 tokens[in.ConsumeIntegralInRange<uint32_t>(0, n - 1)]
                           : in.ConsumeRandomLengthString(12);
    }
    w.AddStringArray("tokenizer.ggml.merges", merges);
  }
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"}) {
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0: break;
      case 1: w.AddInt32(key, in.ConsumeIntegralInRange<int32_t>(-2, int32_t(n) + 2)); break;
      default: w.AddUint32(key, in.ConsumeIntegralInRange<uint32_t>(0, n + 2));
    }
  }
  for (const char* key : {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                          "tokenizer.ggml.add_space_prefix"}) {
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0: break;
      case 1: w.AddUint32(key, 1); break;
      default: w.AddBool(key, in.ConsumeBool());
    }
  }
}

void CheckModel(std::shared_ptr<const logitkit::gguf::File> file, FuzzedDataProvider& in) {
  static logitkit::ThreadPool pool(1);
  auto model = logitkit::Model::FromFile(std::move(file));
  if (!model.ok()) return ExpectMessage(model.status(), "Model::FromFile");
  const uint32_t n_vocab = (*model)->config().n_vocab;
  const auto activations = in.ConsumeBool() ? logitkit::Activations::kInt8 : logitkit::Activations::kFloat32;
  std::vector<int32_t> tokens(in.ConsumeIntegralInRange(1, 6));
  for (int32_t& t : tokens) t = in.ConsumeIntegralInRange<int32_t>(0, int32_t(n_vocab) - 1);
  logitkit::Context batch(**model, 8, &pool, activations);
  std::vector<float> all;
  const logitkit::Status s = batch.Eval(tokens, logitkit::Logits::kAll, &all);
  if (!s.ok()) return ExpectMessage(s, "Context::Eval");
  if (all.size() != tokens.size() * n_vocab) Violated("Eval gave the wrong number of logits", std::to_string(all.size()));
  logitkit::Context steps(**model, 8, &pool, activations);
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::vector<float> one;
    const logitkit::Status step = steps.Eval(std::span(&tokens[i], 1), logitkit::Logits::kLast, &one);
    if (!step.ok()) Violated("a token Eval took in a batch failed alone", step.ToString());
    for (size_t k = 0; k < n_vocab; ++k) {
      const float a = all[i * n_vocab + k], b = one[k];
      if (std::memcmp(&a, &b, 4) != 0 && !(std::isnan(a) && std::isnan(b))) {
        Violated("a batch's logits differ from one token at a time", "position " + std::to_string(i));
      }
    }
  }
  const int32_t bad = in.ConsumeBool() ? -1 : int32_t(n_vocab);
  const size_t before = steps.n_past();
  std::vector<float> ignored;
  if (steps.Eval(std::span(&bad, 1), logitkit::Logits::kLast, &ignored).ok() || steps.n_past() != before) {
    Violated("an id outside the vocabulary was evaluated", std::to_string(bad));
  }
}

void CheckTokenizer(const logitkit::gguf::File& file, FuzzedDataProvider& in) {
  auto tok = logitkit::tokenizer::Tokenizer::FromGguf(file);
  if (!tok.ok()) return ExpectMessage(tok.status(), "Tokenizer::FromGguf");
  logitkit::tokenizer::EncodeOptions options;
  options.parse_special = in.ConsumeBool();
  const std::string text = in.ConsumeRandomLengthString(64);
  auto ids = tok->Encode(text, options);
  if (!ids.ok()) return ExpectMessage(ids.status(), "Encode");
  for (int32_t id : *ids) {
    if (id < 0 || size_t(id) >= tok->n_vocab()) Violated("Encode gave an id out of range", std::to_string(id));
  }
  auto back = tok->Decode(*ids);
  if (!back.ok()) Violated("Decode refused Encode's ids", back.status().ToString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const char* const kArchitectures[] = {"llama", "mistral", "qwen2", "gpt2", "falcon"};
  const std::string a = kArchitectures[in.ConsumeIntegralInRange<size_t>(0, 4)];
  Sizes s;
  s.heads = in.ConsumeIntegralInRange(1, 4);
  s.d = s.heads * in.ConsumeIntegralInRange(1, 12);
  if (in.ConsumeIntegralInRange(0, 7) == 0) s.d = in.ConsumeIntegralInRange(1, 48);
  s.kv_heads = in.ConsumeIntegralInRange<uint32_t>(1, s.heads);
  s.ff = in.ConsumeIntegralInRange(1, 48);
  s.vocab = in.ConsumeIntegralInRange(1, 48);
  s.layers = in.ConsumeIntegralInRange(0, 2);
  s.context = in.ConsumeIntegralInRange(1, 16);
  s.positions = in.ConsumeIntegralInRange(1, 16);
  Writer w;
  w.AddString("general.architecture", a);
  AddModel(w, in, a, s);
  if (in.ConsumeBool()) AddTokenizer(w, in, s.vocab);
  const std::vector<uint8_t> bytes = w.Finish();
  auto file = logitkit::gguf::File::FromBytes(bytes);
  if (!file.ok()) Violated("the reader refused the writer's file", file.status().ToString());
  auto shared = std::make_shared<const logitkit::gguf::File>(std::move(*file));
  auto config = logitkit::ModelConfig::FromGguf(*shared);
  if (!config.ok()) ExpectMessage(config.status(), "ModelConfig::FromGguf");
  CheckTokenizer(*shared, in);
  CheckModel(shared, in);
  return 0;
}
