// The GGUF reader against files the writer makes, malformed variants of them,
// truncation at every byte, and the real vocabulary files in ../shared.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "logitkit/gguf.h"

namespace logitkit::gguf {
namespace {

std::vector<uint8_t> Bytes(std::initializer_list<float> v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), std::data(v), out.size());
  return out;
}

// A small valid file with every kind of value and two tensors.
std::vector<uint8_t> SmallFile() {
  Writer w;
  w.AddString("general.architecture", "llama");
  w.AddUint32("llama.context_length", 2048);
  w.AddInt32("answer", -42);
  w.AddFloat32("eps", 1e-5f);
  w.AddUint64("big", 1ull << 40);
  w.AddBool("flag", true);
  w.AddStringArray("tokenizer.ggml.tokens", {"<s>", "</s>", "hello", " world"});
  w.AddFloat32Array("scores", {0.5f, -1.0f});
  w.AddInt32Array("types", {1, 2, 3});
  // An array of arrays of uint8: [[1, 2], []].
  std::vector<uint8_t> nested = {static_cast<uint8_t>(ValueType::kArray), 0, 0, 0};
  const uint64_t two = 2, zero = 0;
  nested.insert(nested.end(), reinterpret_cast<const uint8_t*>(&two), reinterpret_cast<const uint8_t*>(&two) + 8);
  for (uint64_t count : {two, zero}) {
    nested.insert(nested.end(), {static_cast<uint8_t>(ValueType::kUint8), 0, 0, 0});
    nested.insert(nested.end(), reinterpret_cast<const uint8_t*>(&count), reinterpret_cast<const uint8_t*>(&count) + 8);
    if (count == 2) nested.insert(nested.end(), {1, 2});
  }
  w.AddRaw("nested", ValueType::kArray, nested);
  w.AddTensor("token_embd.weight", quant::TensorType::kF32, {2, 3}, Bytes({1, 2, 3, 4, 5, 6}));
  w.AddTensor("output_norm.weight", quant::TensorType::kF32, {2}, Bytes({7, 8}));
  return w.Finish();
}

TEST(Gguf, ReadsBackWhatTheWriterWrote) {
  const std::vector<uint8_t> bytes = SmallFile();
  StatusOr<File> f = File::FromBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->metadata().size(), 10u);
  EXPECT_EQ(f->Find("general.architecture")->str, "llama");
  EXPECT_EQ(f->Find("llama.context_length")->u, 2048u);
  EXPECT_EQ(f->Find("answer")->i, -42);
  EXPECT_FLOAT_EQ(static_cast<float>(f->Find("eps")->f), 1e-5f);
  EXPECT_EQ(f->Find("big")->u, 1ull << 40);
  EXPECT_EQ(f->Find("flag")->u, 1u);
  const Value* tokens = f->Find("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens->count, 4u);
  ASSERT_EQ(tokens->strings.size(), 4u);
  EXPECT_EQ(tokens->strings[3], " world");
  EXPECT_EQ(tokens->At(3).str, " world");
  EXPECT_EQ(f->Find("types")->IntAt(2), 3);
  EXPECT_EQ(f->Find("types")->At(2).i, 3);
  EXPECT_TRUE(f->Find("types")->arrays.empty());  // numbers stay in the file
  const Value* nested = f->Find("nested");
  ASSERT_EQ(nested->count, 2u);
  EXPECT_EQ(nested->arrays[0].IntAt(1), 2);
  EXPECT_EQ(nested->arrays[0].At(1).u, 2u);
  EXPECT_EQ(nested->arrays[1].count, 0u);
  EXPECT_EQ(f->Find("missing"), nullptr);
  ASSERT_EQ(f->tensors().size(), 2u);
  const Tensor* t = f->FindTensor("token_embd.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dims, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(t->bytes, 24u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  float values[6];
  std::memcpy(values, t->data, 24);
  EXPECT_EQ(values[5], 6.0f);
  const Tensor* norm = f->FindTensor("output_norm.weight");
  EXPECT_EQ(norm->offset, 32u);  // aligned after the first tensor's 24 bytes
  EXPECT_EQ(reinterpret_cast<const float*>(norm->data)[1], 8.0f);
}

TEST(Gguf, EveryTruncationIsAnErrorNotACrash) {
  const std::vector<uint8_t> bytes = SmallFile();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);  // exact size: ASan sees overreads
    StatusOr<File> f = File::FromBytes(cut);
    // The last tensor's padding is not needed; anything shorter than its data is.
    const bool complete = n >= bytes.size() - 24;
    if (!complete) {
      ASSERT_FALSE(f.ok()) << "truncated at " << n;
      EXPECT_EQ(f.status().code(), StatusCode::kDataLoss) << f.status().ToString();
      EXPECT_NE(f.status().message().find("at byte"), std::string::npos) << f.status().message();
    }
  }
}

// Patches a little-endian integer into a copy of the file.
template <typename T>
std::vector<uint8_t> Patched(std::vector<uint8_t> b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
  return b;
}

std::string ErrorOf(const std::vector<uint8_t>& bytes) {
  StatusOr<File> f = File::FromBytes(bytes);
  return f.ok() ? "OK" : f.status().message();
}

size_t Find(const std::vector<uint8_t>& b, const std::string& s) {
  return std::search(b.begin(), b.end(), s.begin(), s.end()) - b.begin();
}

TEST(Gguf, MalformedHeadersNameTheFieldAndOffset) {
  const std::vector<uint8_t> ok = SmallFile();
  EXPECT_EQ(ErrorOf(Patched<uint8_t>(ok, 0, 'X')),
            "gguf: magic at byte 0: not a GGUF file (the first 4 bytes are not \"GGUF\")");
  EXPECT_EQ(ErrorOf(Patched<uint32_t>(ok, 4, 1)), "gguf: version at byte 4: version 1 is not supported (2 or 3)");
  EXPECT_EQ(ErrorOf(Patched<uint32_t>(ok, 4, 0x03000000)),
            "gguf: version at byte 4: a big-endian GGUF file; only little-endian is supported");
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, 8, ~0ull)).find("tensor_count at byte 8"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, 16, 1ull << 60)).find("kv_count at byte 16"), std::string::npos);
  EXPECT_EQ(ErrorOf(Patched<uint32_t>(ok, 2 + 0, 0)).substr(0, 14), "gguf: magic at");
  EXPECT_TRUE(File::FromBytes(Patched<uint32_t>(ok, 4, 2)).ok());  // version 2 has the same layout
}

TEST(Gguf, MalformedValuesAndTensorsAreRejected) {
  const std::vector<uint8_t> ok = SmallFile();
  // The first key's length: past the end.
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, 24, 1ull << 40)).find("key 0 at byte 24: length"), std::string::npos);
  // The first value's type (after "general.architecture"): unknown.
  const size_t type_at = 24 + 8 + std::string("general.architecture").size();
  EXPECT_NE(ErrorOf(Patched<uint32_t>(ok, type_at, 99)).find("unknown value type 99"), std::string::npos);
  // An array count far past the end.
  const size_t tokens_at = Find(ok, "tokenizer.ggml.tokens");
  const size_t count_at = tokens_at + std::string("tokenizer.ggml.tokens").size() + 4 + 4;
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, count_at, 1ull << 50)).find("elements cannot fit"), std::string::npos);
  // A bool that is not 0 or 1.
  const size_t flag_at = Find(ok, "flag") + 4 + 4;
  EXPECT_NE(ErrorOf(Patched<uint8_t>(ok, flag_at, 7)).find("bool value 7"), std::string::npos);
  // Tensor fields: find the second tensor's entry.
  const size_t name_at = Find(ok, "output_norm.weight");
  const size_t n_dims_at = name_at + std::string("output_norm.weight").size();
  const size_t dim_at = n_dims_at + 4, type_at2 = dim_at + 8, offset_at = type_at2 + 4;
  EXPECT_NE(ErrorOf(Patched<uint32_t>(ok, n_dims_at, 5)).find("n_dims at byte"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint32_t>(ok, n_dims_at, 0)).find("is outside [1, 4]"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, dim_at, 0)).find("dim 0 at byte"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, dim_at, 1ull << 62)).find("byte size overflows"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, dim_at, 1ull << 40)).find("runs past the end"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint32_t>(ok, type_at2, 77)).find("unknown tensor type 77"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint32_t>(ok, type_at2, 8)).find("not a multiple of the Q8_0 block"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, offset_at, 3)).find("not a multiple of the alignment"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, offset_at, 0)).find("overlaps"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, offset_at, 1ull << 40)).find("runs past the end"), std::string::npos);
  EXPECT_NE(ErrorOf(Patched<uint64_t>(ok, offset_at, ~0ull & ~31ull)).find("runs past the end"), std::string::npos);
}

TEST(Gguf, DuplicateKeysAndTensorNamesAreRejected) {
  Writer w;
  w.AddUint32("a", 1);
  w.AddUint32("a", 2);
  EXPECT_EQ(ErrorOf(w.Finish()), "gguf: key 'a' at byte 41: appears twice");  // the second one
  Writer t;
  t.AddTensor("x", quant::TensorType::kF32, {1}, Bytes({1}));
  t.AddTensor("x", quant::TensorType::kF32, {1}, Bytes({2}));
  EXPECT_NE(ErrorOf(t.Finish()).find("tensor 'x' at byte"), std::string::npos);
}

TEST(Gguf, ElementCountOverflowIsRejected) {
  Writer w;
  w.AddTensor("huge", quant::TensorType::kF32, {1ull << 32, 1ull << 32, 4}, {});
  EXPECT_NE(ErrorOf(w.Finish()).find("element count overflows"), std::string::npos);
}

TEST(Gguf, AlignmentMustBeAPowerOfTwo) {
  Writer w;
  w.SetAlignment(64);
  w.AddTensor("x", quant::TensorType::kF32, {1}, Bytes({1}));
  StatusOr<File> f = File::FromBytes(w.Finish());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  Writer bad;
  bad.SetAlignment(48);
  const std::vector<uint8_t> bytes = bad.Finish();
  const size_t value_at = Find(bytes, "general.alignment") + std::string("general.alignment").size() + 4;
  EXPECT_EQ(ErrorOf(bytes), "gguf: general.alignment at byte " + std::to_string(value_at) +
                                ": must be a uint32 power of two, is 48");
}

TEST(Gguf, DeeplyNestedArraysAreRejected) {
  std::vector<uint8_t> value;
  for (int depth = 0; depth < 20; ++depth) {
    value.insert(value.end(), {static_cast<uint8_t>(ValueType::kArray), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0});
  }
  value.insert(value.end(), {static_cast<uint8_t>(ValueType::kUint8), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  Writer w;
  w.AddRaw("deep", ValueType::kArray, value);
  EXPECT_NE(ErrorOf(w.Finish()).find("arrays nested deeper than 8"), std::string::npos);
}

TEST(Gguf, OpensRealVocabularyFiles) {
  const std::string dir = std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/";
  struct Case { const char* file; const char* model; size_t n_tokens; };
  for (const Case& c : {Case{"ggml-vocab-gpt-2.gguf", "gpt2", 50257},
                        Case{"ggml-vocab-llama-spm.gguf", "llama", 32000}}) {
    if (!std::ifstream(dir + c.file)) GTEST_SKIP() << dir << c.file << " is not here";
    StatusOr<File> f = File::Open(dir + c.file);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_NE(f->Find("tokenizer.ggml.model"), nullptr);
    EXPECT_EQ(f->Find("tokenizer.ggml.model")->str, c.model);
    EXPECT_EQ(f->Find("tokenizer.ggml.tokens")->count, c.n_tokens);
  }
}

// With LOGITKIT_FUZZ_CORPUS set, writes seed files for gguf_fuzz: the valid
// small file and a few malformed variants.
TEST(Gguf, WritesTheFuzzSeedCorpusWhenAsked) {
  const char* dir = std::getenv("LOGITKIT_FUZZ_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "LOGITKIT_FUZZ_CORPUS not set";
  const std::vector<uint8_t> ok = SmallFile();
  const std::vector<std::vector<uint8_t>> seeds = {
      ok, Patched<uint32_t>(ok, 4, 2), Patched<uint64_t>(ok, 8, 1000),
      std::vector<uint8_t>(ok.begin(), ok.begin() + ok.size() / 2)};
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(std::string(dir) + "/seed" + std::to_string(i) + ".gguf", std::ios::binary);
    ASSERT_TRUE(out) << dir;
    out.write(reinterpret_cast<const char*>(seeds[i].data()), seeds[i].size());
  }
}

// Numeric arrays stay in the file: every element type read back through At,
// IntAt and FloatAt; a bool other than 0 or 1 is named with its index and byte.
TEST(Gguf, NumericArraysAreViewsOfTheFile) {
  auto array = [](ValueType type, const std::vector<uint8_t>& payload, uint64_t count) {
    std::vector<uint8_t> v(4 + 8 + payload.size());
    const uint32_t t = static_cast<uint32_t>(type);
    std::memcpy(v.data(), &t, 4);
    std::memcpy(v.data() + 4, &count, 8);
    if (!payload.empty()) std::memcpy(v.data() + 12, payload.data(), payload.size());
    return v;
  };
  const int16_t i16[3] = {-7, 0, 300};
  const double f64[2] = {0.25, -1e300};
  const uint64_t u64[2] = {1, 1ull << 63};
  Writer w;
  w.AddRaw("i16", ValueType::kArray,
           array(ValueType::kInt16, std::vector<uint8_t>((const uint8_t*)i16, (const uint8_t*)i16 + 6), 3));
  w.AddRaw("f64", ValueType::kArray,
           array(ValueType::kFloat64, std::vector<uint8_t>((const uint8_t*)f64, (const uint8_t*)f64 + 16), 2));
  w.AddRaw("u64", ValueType::kArray,
           array(ValueType::kUint64, std::vector<uint8_t>((const uint8_t*)u64, (const uint8_t*)u64 + 16), 2));
  w.AddRaw("bools", ValueType::kArray, array(ValueType::kBool, {1, 0}, 2));
  const std::vector<uint8_t> bytes = w.Finish();
  StatusOr<File> f = File::FromBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const Value* a = f->Find("i16");
  ASSERT_EQ(a->count, 3u);
  EXPECT_EQ(a->raw.size(), 6u);
  EXPECT_GE(a->raw.data(), bytes.data());  // a view of the file's bytes
  EXPECT_LT(a->raw.data(), bytes.data() + bytes.size());
  EXPECT_EQ(a->IntAt(0), -7);
  EXPECT_EQ(a->IntAt(2), 300);
  EXPECT_EQ(a->FloatAt(0), -7.0);
  EXPECT_EQ(f->Find("f64")->FloatAt(0), 0.25);
  EXPECT_EQ(f->Find("f64")->FloatAt(1), -1e300);
  EXPECT_EQ(f->Find("f64")->IntAt(1), 0);  // out of int64 range
  EXPECT_EQ(f->Find("u64")->At(1).u, 1ull << 63);
  EXPECT_EQ(f->Find("bools")->IntAt(0), 1);
  EXPECT_EQ(f->Find("i16")->ToString(), "[-7, 0, 300]");
  EXPECT_TRUE(IsIntegerType(ValueType::kUint64) && IsIntegerType(ValueType::kInt8));
  EXPECT_FALSE(IsIntegerType(ValueType::kBool) || IsIntegerType(ValueType::kFloat32) ||
               IsIntegerType(ValueType::kString) || IsIntegerType(ValueType::kArray));
  EXPECT_TRUE(IsSignedType(ValueType::kInt64));
  EXPECT_FALSE(IsSignedType(ValueType::kUint32));

  Writer bad;
  bad.AddRaw("bools", ValueType::kArray, array(ValueType::kBool, {1, 2}, 2));
  const std::vector<uint8_t> bad_bytes = bad.Finish();
  const std::string error = ErrorOf(bad_bytes);
  EXPECT_NE(error.find("'bools'[1] at byte 54"), std::string::npos) << error;
  EXPECT_NE(error.find("bool value 2"), std::string::npos) << error;
}

TEST(Gguf, OpenReportsMissingFilesByName) {
  StatusOr<File> f = File::Open("/nonexistent/model.gguf");
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

TEST(Gguf, OpenRejectsADirectoryAndAnEmptyFileByName) {
  const std::string dir = ::testing::TempDir();
  StatusOr<File> f = File::Open(dir);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("is a directory"), std::string::npos) << f.status().message();
  const std::string empty = dir + "/logitkit_empty.gguf";
  { std::ofstream out(empty, std::ios::binary); }
  f = File::Open(empty);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(f.status().message().find("is empty"), std::string::npos) << f.status().message();
  std::remove(empty.c_str());
}

}  // namespace
}  // namespace logitkit::gguf
