// ModelConfig on tiny models written with the GGUF writer, each bad case
// named, and on the default model (SmolLM2-135M-Instruct) when it is present.
#include "logitkit/model_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace logitkit {
namespace {

struct TinyModel {
  uint32_t d_model = 8, n_attn_heads = 2, n_attn_kv_heads = 1, vocab_tokens = 5, embd_rows = 5, blocks = 1;
  bool untied = false;
  bool omit_heads = false;
};

std::vector<uint8_t> Write(const TinyModel& m) {
  gguf::Writer w;
  w.AddString("general.architecture", "llama");
  w.AddString("general.name", "tiny");
  w.AddUint32("llama.block_count", m.blocks);
  w.AddUint32("llama.embedding_length", m.d_model);
  w.AddUint32("llama.feed_forward_length", 16);
  if (!m.omit_heads) w.AddUint32("llama.attention.head_count", m.n_attn_heads);
  w.AddUint32("llama.attention.head_count_kv", m.n_attn_kv_heads);
  w.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  std::vector<std::string> tokens;
  for (uint32_t k = 0; k < m.vocab_tokens; ++k) tokens.push_back("t" + std::to_string(k));
  w.AddStringArray("tokenizer.ggml.tokens", tokens);
  w.AddTensor("token_embd.weight", quant::TensorType::kF32, {m.d_model, m.embd_rows},
              std::vector<uint8_t>(4 * m.d_model * m.embd_rows));
  if (m.untied) {
    w.AddTensor("output.weight", quant::TensorType::kF16, {m.d_model, m.embd_rows},
                std::vector<uint8_t>(2 * m.d_model * m.embd_rows));
  }
  return w.Finish();
}

StatusOr<ModelConfig> Read(const TinyModel& m, std::vector<uint8_t>* keep) {
  *keep = Write(m);
  StatusOr<gguf::File> file = gguf::File::FromBytes(*keep);
  if (!file.ok()) return file.status();
  return ModelConfig::FromGguf(*file);
}

TEST(ModelConfig, ReadsTheShapeOfATinyModel) {
  std::vector<uint8_t> bytes;
  StatusOr<ModelConfig> c = Read(TinyModel{}, &bytes);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, "llama");
  EXPECT_EQ(c->name, "tiny");
  EXPECT_EQ(c->n_layers, 1u);
  EXPECT_EQ(c->d_model, 8u);
  EXPECT_EQ(c->n_attn_heads, 2u);
  EXPECT_EQ(c->n_attn_kv_heads, 1u);
  EXPECT_EQ(c->attn_head_dim, 4u);
  EXPECT_EQ(c->n_vocab, 5u);
  EXPECT_TRUE(c->tied_embeddings);
  EXPECT_EQ(c->unembedding_type, uint32_t(quant::TensorType::kF32));

  TinyModel untied;
  untied.untied = true;
  c = Read(untied, &bytes);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->tied_embeddings);
  EXPECT_EQ(c->unembedding_type, uint32_t(quant::TensorType::kF16));
}

void ExpectError(const TinyModel& m, const std::vector<std::string>& parts) {
  std::vector<uint8_t> bytes;
  StatusOr<ModelConfig> c = Read(m, &bytes);
  ASSERT_FALSE(c.ok());
  for (const std::string& p : parts) {
    EXPECT_NE(c.status().message().find(p), std::string::npos) << c.status().message() << " lacks " << p;
  }
}

TEST(ModelConfig, AVocabularyThatDisagreesWithTheEmbeddingIsAnError) {
  TinyModel m;
  m.vocab_tokens = 6;
  ExpectError(m, {"tokenizer.ggml.tokens", "6 tokens", "token_embd.weight", "5 rows"});
}

TEST(ModelConfig, BadHeadCountsAreErrors) {
  TinyModel m;
  m.n_attn_heads = 3;
  ExpectError(m, {"head_count = 3", "embedding_length = 8"});
  m = TinyModel{};
  m.n_attn_kv_heads = 3;
  m.n_attn_heads = 4;
  ExpectError(m, {"head_count_kv = 3", "head_count = 4"});
  m = TinyModel{};
  m.omit_heads = true;
  ExpectError(m, {"llama.attention.head_count is missing"});
  m = TinyModel{};
  m.n_attn_kv_heads = 0;
  ExpectError(m, {"head_count_kv = 0", "outside"});
}

// Found by model_fuzz: a block count of 2^32 - 1 sized the weights' table
// (out of memory) before any tensor was looked for.
TEST(ModelConfig, MoreBlocksThanTensorsIsAnError) {
  TinyModel m;
  m.blocks = 4000000000u;
  ExpectError(m, {"llama.block_count = 4000000000", "1 tensors"});
}

TEST(ModelConfig, AnEmbeddingOfTheWrongWidthIsAnError) {
  gguf::Writer w;
  w.AddString("general.architecture", "llama");
  w.AddUint32("llama.block_count", 1);
  w.AddUint32("llama.embedding_length", 8);
  w.AddUint32("llama.feed_forward_length", 16);
  w.AddUint32("llama.attention.head_count", 2);
  w.AddTensor("token_embd.weight", quant::TensorType::kF32, {4, 3}, std::vector<uint8_t>(48));
  const std::vector<uint8_t> bytes = w.Finish();
  StatusOr<gguf::File> file = gguf::File::FromBytes(bytes);
  ASSERT_TRUE(file.ok());
  StatusOr<ModelConfig> c = ModelConfig::FromGguf(*file);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("[4, 3]"), std::string::npos) << c.status().message();
}

// The default model: what the issue says `inspect` must show.
TEST(ModelConfig, TheDefaultModelIsSmolLM2) {
  const char* cache = std::getenv("LOGITKIT_CACHE");
  const char* home = std::getenv("HOME");
  const std::string path = std::string(cache ? cache : std::string(home ? home : "") + "/.cache/logitkit") +
                           "/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) {
    if (const char* need = std::getenv("LOGITKIT_REQUIRE_MODEL"); need && std::string(need) == "1") {
      FAIL() << path << " is missing: run scripts/fetch-model";
    }
    GTEST_SKIP() << path << " is missing: run scripts/fetch-model";
  }
  StatusOr<gguf::File> file = gguf::File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  StatusOr<ModelConfig> c = ModelConfig::FromGguf(*file);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, "llama");
  EXPECT_EQ(c->n_layers, 30u);
  EXPECT_EQ(c->d_model, 576u);
  EXPECT_EQ(c->n_attn_heads, 9u);
  EXPECT_EQ(c->n_attn_kv_heads, 3u);
  EXPECT_EQ(c->n_vocab, 49152u);
  EXPECT_TRUE(c->tied_embeddings);
}

}  // namespace
}  // namespace logitkit
