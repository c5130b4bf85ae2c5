// llama.cpp's reference tokenizations (../shared/data/tokenizer-vectors): every
// vector must match exactly, ids and round trip.
#include <gtest/gtest.h>

#include <cstdlib>

#include "logitkit/tokenizer.h"
#include "tokenizer/testing.h"

namespace logitkit::tokenizer {
namespace {

using testing::ReadVectors;
using testing::VectorsDir;

std::string Ids(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += " " + std::to_string(id);
  return s;
}

// Checks every vector of NAME against `tok`; returns how many matched.
void CheckVectors(const Tokenizer& tok, const std::string& name) {
  const std::vector<testing::Vector> vectors =
      ReadVectors(VectorsDir() + name + ".inp", VectorsDir() + name + ".out");
  ASSERT_EQ(vectors.size(), 46u) << name;
  size_t matched = 0;
  for (const testing::Vector& v : vectors) {
    EncodeOptions no_bos;
    no_bos.add_bos = false;
    StatusOr<std::vector<TokenId>> ids = tok.Encode(v.text, no_bos);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    EXPECT_EQ(Ids(*ids), Ids(v.ids)) << name << ": '" << v.text << "'";
    matched += *ids == v.ids;
    StatusOr<std::string> text = tok.Decode(*ids);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, v.text) << name << ": round trip";
  }
  std::printf("%s: %zu of %zu vectors match\n", name.c_str(), matched, vectors.size());
}

TEST(TokenizerVectors, Gpt2MatchesLlamaCpp) {
  StatusOr<Tokenizer> tok = Tokenizer::Open(VectorsDir() + "ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  CheckVectors(*tok, "ggml-vocab-gpt-2.gguf");
}

TEST(TokenizerVectors, LlamaSpmMatchesLlamaCpp) {
  StatusOr<Tokenizer> tok = Tokenizer::Open(VectorsDir() + "ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  CheckVectors(*tok, "ggml-vocab-llama-spm.gguf");
}

// Needs Llama 3's tiktoken file (llama-models' llama3/tokenizer.model).
TEST(TokenizerVectors, Llama3FromTiktokenMatchesLlamaCpp) {
  const char* path = std::getenv("LOGITKIT_LLAMA3_TOKENIZER");
  if (path == nullptr) {
    GTEST_SKIP() << "set LOGITKIT_LLAMA3_TOKENIZER to Llama 3's tiktoken tokenizer.model "
                    "(PyPI llama-models: llama_models/llama3/tokenizer.model)";
  }
  std::string bytes;
  ASSERT_TRUE(testing::ReadFile(path, &bytes)) << path;
  StatusOr<gguf::Writer> w = TiktokenToGguf(bytes);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<uint8_t> storage;
  StatusOr<Tokenizer> tok = testing::FromWriter(*w, &storage);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->n_vocab(), 128256u);
  CheckVectors(*tok, "ggml-vocab-llama-bpe.gguf");
}

}  // namespace
}  // namespace logitkit::tokenizer
