// ConvertFile on synthetic files: re-read, the metadata and tensors must be
// the input's, the values the input's dequantized ones (F32: bit for bit)
// within the target's rounding. Bit equality with the `gguf` Python package
// is check_convert.py's job; each encoding's own rule is quant's encode_test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/gguf_convert.h"
#include "logitkit/quant.h"
#include "quant/blocks.h"
#include "quant/testing/q8_bound.h"
#include "quant/testing/random_blocks.h"

namespace logitkit::gguf {
namespace {

namespace fs = std::filesystem;
using quant::testing::ExpectQ8_0Within;

constexpr quant::TensorType kTargets[] = {quant::TensorType::kF32, quant::TensorType::kF16,
                                          quant::TensorType::kBF16, quant::TensorType::kQ8_0};

uint32_t Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}

// ---------------------------------------------------------------- files

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("logitkit_convert_test." + std::string(info->name()) +
                                         "." + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  // The names in the folder, sorted.
  std::vector<std::string> List() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

std::vector<uint8_t> RandomTensor(quant::TensorType type, size_t cols, size_t rows, std::mt19937_64& rng) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<uint8_t> row = quant::testing::RandomRow(type, cols, rng);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

// A model-like file: metadata of every kind, matrices of several types, a
// 1-D F32 norm, an I32 matrix (copied as it is), alignment 64.
std::vector<uint8_t> SyntheticFile(bool with_file_type, uint32_t extra_f16_cols = 0) {
  std::mt19937_64 rng(11);
  Writer w;
  w.SetAlignment(64);
  w.AddString("general.architecture", "llama");
  w.AddString("general.name", "synthetic");
  if (with_file_type) w.AddUint32("general.file_type", 3);  // MOSTLY_Q4_1
  w.AddUint32("llama.context_length", 2048);
  w.AddInt32("answer", -42);
  w.AddFloat32("eps", 1e-5f);
  w.AddUint64("big", 1ull << 40);
  w.AddBool("flag", true);
  const double third = 1.0 / 3;
  std::vector<uint8_t> f64(8);
  std::memcpy(f64.data(), &third, 8);
  w.AddRaw("third", ValueType::kFloat64, f64);
  w.AddRaw("small", ValueType::kInt8, {0xF6});
  w.AddStringArray("tokenizer.ggml.tokens", {"<s>", "</s>", "hello", " world", ""});
  w.AddFloat32Array("scores", {0.5f, -1.0f, 1e-30f});
  w.AddInt32Array("types", {1, 2, 3});
  // An array of arrays of uint8: [[1, 2], []].
  std::vector<uint8_t> nested = {uint8_t(ValueType::kArray), 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  nested.insert(nested.end(), {uint8_t(ValueType::kUint8), 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2});
  nested.insert(nested.end(), {uint8_t(ValueType::kUint8), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  w.AddRaw("nested", ValueType::kArray, nested);
  w.AddTensor("token_embd.weight", quant::TensorType::kQ4_1, {64, 5},
              RandomTensor(quant::TensorType::kQ4_1, 64, 5, rng));
  w.AddTensor("blk.0.attn_q.weight", quant::TensorType::kQ8_0, {32, 3, 2},
              RandomTensor(quant::TensorType::kQ8_0, 32, 6, rng));
  w.AddTensor("blk.0.attn_norm.weight", quant::TensorType::kF32, {64},
              RandomTensor(quant::TensorType::kF32, 64, 1, rng));
  w.AddTensor("blk.0.ffn_up.weight", quant::TensorType::kF16, {32, 4},
              RandomTensor(quant::TensorType::kF16, 32, 4, rng));
  w.AddTensor("blk.0.ffn_down.weight", quant::TensorType::kQ4_K, {256, 2},
              RandomTensor(quant::TensorType::kQ4_K, 256, 2, rng));
  w.AddTensor("blk.0.ffn_gate.weight", quant::TensorType::kBF16, {32, 2},
              RandomTensor(quant::TensorType::kBF16, 32, 2, rng));
  w.AddTensor("output.weight", quant::TensorType::kF32, {32, 3},
              RandomTensor(quant::TensorType::kF32, 32, 3, rng));
  w.AddTensor("positions", quant::TensorType(26), {4, 2}, std::vector<uint8_t>(32, 7));  // I32
  if (extra_f16_cols != 0) {
    w.AddTensor("odd.weight", quant::TensorType::kF16, {extra_f16_cols, 2},
                RandomTensor(quant::TensorType::kF16, extra_f16_cols, 2, rng));
  }
  return w.Finish();
}

bool SameValue(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  if (a.type != ValueType::kArray) {
    return a.u == b.u && a.i == b.i && Bits(float(a.f)) == Bits(float(b.f)) && a.f == b.f &&
           a.str == b.str;
  }
  if (a.element_type != b.element_type || a.count != b.count || a.strings != b.strings ||
      !std::equal(a.raw.begin(), a.raw.end(), b.raw.begin(), b.raw.end()) ||
      a.arrays.size() != b.arrays.size()) {
    return false;
  }
  for (size_t k = 0; k < a.arrays.size(); ++k) {
    if (!SameValue(a.arrays[k], b.arrays[k])) return false;
  }
  return true;
}

std::vector<float> Dequantized(const Tensor& t) {
  std::vector<float> out(t.elements);
  const size_t n = t.dims[0], row_bytes = quant::RowBytes(quant::TensorType(t.type), n);
  for (size_t r = 0; r < t.elements / n; ++r)
    quant::DequantizeRow(quant::TensorType(t.type), t.data + r * row_bytes, n, out.data() + r * n);
  return out;
}

void ExpectConvertedFrom(const File& in, const File& out, quant::TensorType target, bool had_file_type) {
  EXPECT_EQ(out.version(), 3u);
  EXPECT_EQ(out.alignment(), in.alignment());
  // Metadata: the same keys in the same order with the same values, except
  // general.file_type (appended when the input had none).
  ASSERT_EQ(out.metadata().size(), in.metadata().size() + (had_file_type ? 0 : 1));
  for (size_t k = 0; k < in.metadata().size(); ++k) {
    const auto& [key, value] = in.metadata()[k];
    EXPECT_EQ(out.metadata()[k].first, key);
    if (key != "general.file_type") {
      EXPECT_TRUE(SameValue(out.metadata()[k].second, value)) << key;
    }
  }
  const Value* file_type = out.Find("general.file_type");
  ASSERT_NE(file_type, nullptr);
  EXPECT_EQ(file_type->type, ValueType::kUint32);
  EXPECT_EQ(file_type->u, LlamaFileType(target));
  if (!had_file_type) {
    EXPECT_EQ(out.metadata().back().first, "general.file_type");
  }

  const uint32_t code = static_cast<uint32_t>(target);
  ASSERT_EQ(out.tensors().size(), in.tensors().size());
  for (size_t k = 0; k < in.tensors().size(); ++k) {
    const Tensor& a = in.tensors()[k];
    const Tensor& b = out.tensors()[k];
    SCOPED_TRACE(std::string(a.name) + " to " + quant::TensorTypeName(code));
    ASSERT_EQ(b.name, a.name);
    ASSERT_EQ(b.dims, a.dims);
    EXPECT_EQ((out.data_offset() + b.offset) % out.alignment(), 0u);
    const bool copied = a.dims.size() == 1 || a.type == code || a.type == 26;
    if (copied) {
      ASSERT_EQ(b.type, a.type);
      ASSERT_EQ(b.bytes, a.bytes);
      EXPECT_EQ(std::memcmp(a.data, b.data, a.bytes), 0);
      continue;
    }
    ASSERT_EQ(b.type, code);
    const std::vector<float> x = Dequantized(a), y = Dequantized(b);
    switch (target) {
      case quant::TensorType::kF32:
        EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * 4), 0);
        break;
      case quant::TensorType::kF16:
      case quant::TensorType::kBF16: {
        const double relative = target == quant::TensorType::kF16 ? 0x1p-11 : 0x1p-8;
        const double absolute = target == quant::TensorType::kF16 ? 0x1p-25 : 0.0;  // half subnormals
        for (size_t i = 0; i < x.size(); ++i) {
          ASSERT_LE(std::fabs(double(x[i]) - y[i]), std::max(relative * std::fabs(x[i]), absolute))
              << "element " << i;
        }
        break;
      }
      default:
        ExpectQ8_0Within(x, y);
        break;
    }
  }
}

TEST(ConvertFile, WritesEachTargetWithTheSameMetadataAndValues) {
  TempDir dir;
  for (bool with_file_type : {true, false}) {
    const std::vector<uint8_t> bytes = SyntheticFile(with_file_type);
    StatusOr<File> in = File::FromBytes(bytes);
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    for (quant::TensorType target : kTargets) {
      const std::string path =
          dir / (std::string("out.") + quant::TensorTypeName(uint32_t(target)) + ".gguf");
      StatusOr<ConvertStats> stats = ConvertFile(*in, target, path);
      ASSERT_TRUE(stats.ok()) << stats.status().ToString();
      StatusOr<File> out = File::Open(path);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      ExpectConvertedFrom(*in, *out, target, with_file_type);
      // 8 tensors: the 1-D norm, the I32 matrix and the matrix already of
      // the target type (there is one of each) are copied.
      EXPECT_EQ(stats->tensors_copied, 3u);
      EXPECT_EQ(stats->tensors_converted, 5u);
      EXPECT_EQ(stats->bytes_in, bytes.size());
      EXPECT_EQ(stats->bytes_out, fs::file_size(path));
      EXPECT_EQ(stats->bytes_out, out->size_bytes());
    }
  }
  EXPECT_EQ(dir.List(), (std::vector<std::string>{"out.BF16.gguf", "out.F16.gguf", "out.F32.gguf",
                                                  "out.Q8_0.gguf"}));
}

TEST(ConvertFile, ConvertingAConvertedFileAgainChangesNothing) {
  TempDir dir;
  const std::vector<uint8_t> bytes = SyntheticFile(true);
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  for (quant::TensorType target : kTargets) {
    ASSERT_TRUE(ConvertFile(*in, target, dir / "once.gguf").ok());
    StatusOr<File> once = File::Open(dir / "once.gguf");
    ASSERT_TRUE(once.ok());
    StatusOr<ConvertStats> stats = ConvertFile(*once, target, dir / "twice.gguf");
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_EQ(stats->tensors_converted, 0u);
    std::ifstream a(dir / "once.gguf", std::ios::binary), b(dir / "twice.gguf", std::ios::binary);
    const std::string sa((std::istreambuf_iterator<char>(a)), {}),
        sb((std::istreambuf_iterator<char>(b)), {});
    EXPECT_TRUE(sa == sb) << quant::TensorTypeName(uint32_t(target)) << ": the second conversion differs";
  }
}

TEST(ConvertFile, ReportsProgressUpToTheFileSize) {
  TempDir dir;
  const std::vector<uint8_t> bytes = SyntheticFile(true);
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  std::vector<ConvertProgress> seen;
  StatusOr<ConvertStats> stats = ConvertFile(*in, quant::TensorType::kF32, dir / "out.gguf",
                                             [&](const ConvertProgress& p) { seen.push_back(p); });
  ASSERT_TRUE(stats.ok());
  ASSERT_FALSE(seen.empty());
  for (size_t k = 1; k < seen.size(); ++k) {
    EXPECT_GE(seen[k].bytes_done, seen[k - 1].bytes_done);
    EXPECT_GE(seen[k].tensors_done, seen[k - 1].tensors_done);
  }
  EXPECT_EQ(seen.back().tensors_done, 8u);
  EXPECT_EQ(seen.back().tensors_total, 8u);
  EXPECT_EQ(seen.back().bytes_done, stats->bytes_out);
  EXPECT_EQ(seen.back().bytes_total, stats->bytes_out);
}

TEST(ConvertFile, RowsThatAreNotWholeBlocksFailBeforeAnythingIsWritten) {
  TempDir dir;
  const std::vector<uint8_t> bytes = SyntheticFile(true, /*extra_f16_cols=*/48);
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  const std::string path = dir / "out.gguf";
  { std::ofstream(path) << "keep me"; }
  StatusOr<ConvertStats> stats = ConvertFile(*in, quant::TensorType::kQ8_0, path);
  ASSERT_FALSE(stats.ok());
  const std::string& m = stats.status().message();
  EXPECT_NE(m.find("'odd.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("48"), std::string::npos) << m;
  EXPECT_NE(m.find("Q8_0"), std::string::npos) << m;
  EXPECT_EQ(dir.List(), std::vector<std::string>{"out.gguf"});  // no .tmp left
  std::ifstream f(path);
  std::string text;
  std::getline(f, text);
  EXPECT_EQ(text, "keep me");
  // 48 columns are fine for the 1-element types.
  EXPECT_TRUE(ConvertFile(*in, quant::TensorType::kBF16, path).ok());
}

TEST(ConvertFile, RejectsMatricesWithoutDequantizationAndNonEncodeTargets) {
  TempDir dir;
  Writer w;
  w.AddTensor("blk.0.ffn_down.weight", quant::TensorType::kQ2_K, {256, 2}, std::vector<uint8_t>(2 * 84));
  const std::vector<uint8_t> bytes = w.Finish();
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  StatusOr<ConvertStats> stats = ConvertFile(*in, quant::TensorType::kF16, dir / "out.gguf");
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'blk.0.ffn_down.weight' (Q2_K, 256 x 2)"),
            std::string::npos)
      << stats.status().message();
  stats = ConvertFile(*in, quant::TensorType::kQ4_0, dir / "out.gguf");
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("Q4_0"), std::string::npos) << stats.status().message();
  EXPECT_TRUE(dir.List().empty());
}

TEST(ConvertFile, ReportsAPathThatCannotBeWritten) {
  TempDir dir;
  const std::vector<uint8_t> bytes = SyntheticFile(true);
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  const std::string path = dir / "missing-folder/out.gguf";
  StatusOr<ConvertStats> stats = ConvertFile(*in, quant::TensorType::kF16, path);
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'" + path + "': No such file or directory"), std::string::npos)
      << stats.status().message();
}

TEST(ConvertFile, ANonFiniteValueFailsAndLeavesNoFile) {
  TempDir dir;
  Writer w;
  std::vector<float> x(64, 1.0f);
  x[33] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint8_t> data(x.size() * 4);
  std::memcpy(data.data(), x.data(), data.size());
  w.AddTensor("a.weight", quant::TensorType::kF32, {32, 2}, data);
  const std::vector<uint8_t> bytes = w.Finish();
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  StatusOr<ConvertStats> stats = ConvertFile(*in, quant::TensorType::kQ8_0, dir / "out.gguf");
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'a.weight' row 1"), std::string::npos)
      << stats.status().message();
  EXPECT_NE(stats.status().message().find("NaN"), std::string::npos) << stats.status().message();
  EXPECT_TRUE(dir.List().empty());
  // F16 keeps the NaN.
  ASSERT_TRUE(ConvertFile(*in, quant::TensorType::kF16, dir / "out.gguf").ok());
}

}  // namespace
}  // namespace logitkit::gguf
