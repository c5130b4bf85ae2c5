// EncodeRow against the definition of each encoding (nearest value, ties to
// even; Q8_0's error bound), and ConvertFile on synthetic files: re-read, the
// metadata and tensors must be the input's, the values the input's dequantized
// ones (F32: bit for bit) within the target's rounding. Bit equality with the
// `gguf` Python package is check_convert.py's job.
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

#include "gguf/blocks.h"
#include "gguf/testing/random_blocks.h"
#include "logitkit/gguf.h"
#include "logitkit/gguf_convert.h"
#include "logitkit/tensor_types.h"

namespace logitkit::gguf {
namespace {

namespace fs = std::filesystem;

constexpr TensorType kTargets[] = {TensorType::kF32, TensorType::kF16, TensorType::kBF16,
                                   TensorType::kQ8_0};

float FromBits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}
uint32_t Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}
float Bf16ToFloat(uint16_t h) { return FromBits(uint32_t{h} << 16); }

std::vector<uint16_t> Encode16(TensorType type, const std::vector<float>& x) {
  std::vector<uint16_t> out(x.size());
  EXPECT_TRUE(EncodeRow(type, x.data(), x.size(), out.data()).ok());
  return out;
}
uint16_t Half(float x) { return Encode16(TensorType::kF16, {x})[0]; }
uint16_t Bf16(float x) { return Encode16(TensorType::kBF16, {x})[0]; }

// True if h (decoded by `decode`) is the representable value nearest to x,
// a tie going to the even pattern: neither neighbour of h is nearer. Works
// on the bit patterns of one sign, where the next pattern is the next value.
template <typename Decode>
bool IsNearest(float x, uint16_t h, Decode decode, uint16_t max_finite) {
  const uint16_t sign = h & 0x8000u, mag = h & 0x7FFFu;
  const double dx = std::fabs(double(x)), err = std::fabs(double(decode(mag)) - dx);
  if (std::signbit(x) != (sign != 0)) return false;
  if (mag > max_finite) {  // infinity: x must be past the tie above the largest finite
    const double top = decode(max_finite), step = top - double(decode(max_finite - 1));
    return dx >= top + step / 2;
  }
  for (int delta : {-1, 1}) {
    if ((mag == 0 && delta < 0) || (mag == max_finite && delta > 0)) continue;
    const double other = std::fabs(double(decode(uint16_t(mag + delta))) - dx);
    if (other < err || (other == err && (mag & 1u))) return false;
  }
  return true;
}

TEST(EncodeRow, F32IsACopy) {
  const std::vector<float> x = {0.0f,  -0.0f, 1e-45f,
                                -3.5f, 1e38f, std::numeric_limits<float>::infinity()};
  std::vector<float> out(x.size());
  ASSERT_TRUE(EncodeRow(TensorType::kF32, x.data(), x.size(), out.data()).ok());
  EXPECT_EQ(std::memcmp(out.data(), x.data(), x.size() * 4), 0);
}

TEST(EncodeRow, F16RoundsToNearestEvenOnKnownValues) {
  EXPECT_EQ(Half(1.0f), 0x3C00);
  EXPECT_EQ(Half(-2.0f), 0xC000);
  EXPECT_EQ(Half(0.0f), 0x0000);
  EXPECT_EQ(Half(-0.0f), 0x8000);
  EXPECT_EQ(Half(1.0f + 0x1p-11f), 0x3C00);             // tie: to even
  EXPECT_EQ(Half(1.0f + 3 * 0x1p-11f), 0x3C02);         // tie: to even, up
  EXPECT_EQ(Half(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);  // past the tie
  EXPECT_EQ(Half(65504.0f), 0x7BFF);
  EXPECT_EQ(Half(65519.99f), 0x7BFF);
  EXPECT_EQ(Half(65520.0f), 0x7C00);  // the tie above the largest: infinity
  EXPECT_EQ(Half(-1e9f), 0xFC00);
  EXPECT_EQ(Half(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(Half(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(Half(0x1p-25f), 0x0000);  // tie: to even zero
  EXPECT_EQ(Half(0x1p-25f * 1.0001f), 0x0001);
  EXPECT_EQ(Half(1.5f * 0x1p-24f), 0x0002);  // tie: to even
  EXPECT_EQ(Half(2.5f * 0x1p-24f), 0x0002);
  EXPECT_EQ(Half(0x1p-14f - 0x1p-25f), 0x0400);  // rounds up into the normals
  EXPECT_EQ(Half(1e-30f), 0x0000);
  EXPECT_EQ(Half(std::numeric_limits<float>::infinity()), 0x7C00);
  // NaN stays NaN with its top payload bits (numpy): quiet NaN 0x7E00, and a
  // payload only in the low bits still a NaN.
  EXPECT_EQ(Half(std::numeric_limits<float>::quiet_NaN()), 0x7E00);
  EXPECT_EQ(Half(FromBits(0xFF800001u)), 0xFC01);
}

TEST(EncodeRow, F16IsTheNearestHalfForRandomFloats) {
  std::mt19937_64 rng(7);
  std::vector<float> x;
  for (int i = 0; i < 200000; ++i) {
    // Exponents from 2^-30 (below the subnormals) to 2^17 (past the largest).
    const uint32_t exponent = 97 + rng() % 48, mantissa = rng() & 0x7FFFFFu;
    x.push_back(FromBits(uint32_t((rng() & 1) << 31) | exponent << 23 | mantissa));
  }
  const std::vector<uint16_t> h = Encode16(TensorType::kF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(IsNearest(x[i], h[i], HalfToFloat, 0x7BFF)) << x[i] << " -> " << std::hex << h[i];
  }
}

TEST(EncodeRow, Bf16RoundsToNearestEvenAndQuietsNaN) {
  EXPECT_EQ(Bf16(1.0f), 0x3F80);
  EXPECT_EQ(Bf16(FromBits(0x3F808000u)), 0x3F80);  // tie: to even
  EXPECT_EQ(Bf16(FromBits(0x3F818000u)), 0x3F82);  // tie: to even, up
  EXPECT_EQ(Bf16(FromBits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(Bf16(-0.0f), 0x8000);
  EXPECT_EQ(Bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds up to infinity
  EXPECT_EQ(Bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(Bf16(FromBits(0x7F800001u)), 0x7FC0);  // signalling NaN made quiet
  EXPECT_EQ(Bf16(FromBits(0xFFC12345u)), 0xFFC1);
  std::mt19937_64 rng(8);
  std::vector<float> x;
  while (x.size() < 200000) {
    const float v = FromBits(uint32_t(rng()));
    if (std::isfinite(v)) x.push_back(v);
  }
  const std::vector<uint16_t> h = Encode16(TensorType::kBF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(IsNearest(x[i], h[i], Bf16ToFloat, 0x7F7F)) << x[i] << " -> " << std::hex << h[i];
  }
}

// The Q8_0 bound of gguf_convert.h, for one block with largest magnitude amax:
// d/2 from rounding q (plus float rounding of x/d), and |q|·|d − d16| from
// storing d as a half (relative 2^-11, or 2^-25 absolute below 2^-14).
double Q8Bound(double amax) {
  const double d = amax / 127;
  return d * 0.5001 + 127 * std::max(d * 0x1p-11, 0x1p-25);
}

void ExpectQ8_0Within(const std::vector<float>& x, const std::vector<float>& y) {
  for (size_t b = 0; b < x.size() / kQK; ++b) {
    double amax = 0;
    for (int i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(double(x[b * kQK + i])));
    for (int i = 0; i < kQK; ++i) {
      const size_t k = b * kQK + i;
      ASSERT_LE(std::fabs(double(x[k]) - y[k]), Q8Bound(amax))
          << "element " << k << " of block " << b;
    }
  }
}

TEST(EncodeRow, Q8_0IsWithinHalfAStepAndUsesTheFullRange) {
  std::mt19937_64 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr size_t n = 32 * 60;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i)
    x[i] = normal(rng) * std::ldexp(1.0f, int(i / 32) - 40);  // 2^-40 .. 2^19
  for (int i = 0; i < 32; ++i) x[5 * 32 + i] = 0.0f;          // an all-zero block
  std::vector<uint8_t> q(RowBytes(TensorType::kQ8_0, n));
  ASSERT_TRUE(EncodeRow(TensorType::kQ8_0, x.data(), n, q.data()).ok());
  std::vector<float> y(n);
  DequantizeRow(TensorType::kQ8_0, q.data(), n, y.data());
  ExpectQ8_0Within(x, y);
  for (size_t b = 0; b < n / 32; ++b) {
    const uint8_t* block = q.data() + b * sizeof(BlockQ8_0);
    const int8_t* qs = reinterpret_cast<const int8_t*>(block + 2);
    int qmax = 0;
    for (int i = 0; i < 32; ++i) qmax = std::max(qmax, std::abs(int(qs[i])));
    if (b == 5) {
      EXPECT_EQ(LoadU16(block), 0);
      EXPECT_EQ(qmax, 0);
    } else {
      EXPECT_EQ(qmax, 127) << "block " << b;  // the largest element maps to ±127
    }
  }
}

TEST(EncodeRow, Q8_0RoundsTiesAwayFromZero) {
  // amax = 127: d = 1 and id = 1 exactly, so x · id = x and every k + 0.5 is a tie.
  std::vector<float> x = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 3.5f, -126.5f, 1.49f};
  x.resize(32, 0.0f);
  std::vector<uint8_t> q(34);
  ASSERT_TRUE(EncodeRow(TensorType::kQ8_0, x.data(), 32, q.data()).ok());
  EXPECT_EQ(LoadU16(q.data()), 0x3C00);  // d = 1
  const std::vector<int8_t> want = {127, 3, -3, 1, -1, 4, -127, 1};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(int8_t(q[2 + i]), want[i]) << "element " << i;
}

TEST(EncodeRow, RejectsBadRowsAndTypes) {
  std::vector<float> x(64, 1.0f);
  std::vector<uint8_t> out(1024, 0xAB);
  Status s = EncodeRow(TensorType::kQ8_0, x.data(), 48, out.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("48"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("32"), std::string::npos) << s.message();
  EXPECT_FALSE(EncodeRow(TensorType::kF16, x.data(), 0, out.data()).ok());
  s = EncodeRow(TensorType::kQ4_0, x.data(), 64, out.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Q4_0"), std::string::npos) << s.message();
  x[40] = std::numeric_limits<float>::infinity();
  s = EncodeRow(TensorType::kQ8_0, x.data(), 64, out.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("block 1"), std::string::npos) << s.message();
  x[40] = 65520.0f * 127.0f;  // its scale would be a float16 infinity
  s = EncodeRow(TensorType::kQ8_0, x.data(), 64, out.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("overflow"), std::string::npos) << s.message();
  x[40] = 65504.0f * 127.0f;                 // the largest finite scale
  for (uint8_t b : out) ASSERT_EQ(b, 0xAB);  // nothing written
  ASSERT_TRUE(EncodeRow(TensorType::kQ8_0, x.data(), 64, out.data()).ok());
  EXPECT_EQ(LoadU16(out.data() + 34), 0x7BFF);
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

std::vector<uint8_t> RandomTensor(TensorType type, size_t cols, size_t rows, std::mt19937_64& rng) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<uint8_t> row = testing::RandomRow(type, cols, rng);
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
  w.AddTensor("token_embd.weight", TensorType::kQ4_1, {64, 5},
              RandomTensor(TensorType::kQ4_1, 64, 5, rng));
  w.AddTensor("blk.0.attn_q.weight", TensorType::kQ8_0, {32, 3, 2},
              RandomTensor(TensorType::kQ8_0, 32, 6, rng));
  w.AddTensor("blk.0.attn_norm.weight", TensorType::kF32, {64},
              RandomTensor(TensorType::kF32, 64, 1, rng));
  w.AddTensor("blk.0.ffn_up.weight", TensorType::kF16, {32, 4},
              RandomTensor(TensorType::kF16, 32, 4, rng));
  w.AddTensor("blk.0.ffn_down.weight", TensorType::kQ4_K, {256, 2},
              RandomTensor(TensorType::kQ4_K, 256, 2, rng));
  w.AddTensor("blk.0.ffn_gate.weight", TensorType::kBF16, {32, 2},
              RandomTensor(TensorType::kBF16, 32, 2, rng));
  w.AddTensor("output.weight", TensorType::kF32, {32, 3},
              RandomTensor(TensorType::kF32, 32, 3, rng));
  w.AddTensor("positions", TensorType(26), {4, 2}, std::vector<uint8_t>(32, 7));  // I32
  if (extra_f16_cols != 0) {
    w.AddTensor("odd.weight", TensorType::kF16, {extra_f16_cols, 2},
                RandomTensor(TensorType::kF16, extra_f16_cols, 2, rng));
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
  const size_t n = t.dims[0], row_bytes = RowBytes(TensorType(t.type), n);
  for (size_t r = 0; r < t.elements / n; ++r)
    DequantizeRow(TensorType(t.type), t.data + r * row_bytes, n, out.data() + r * n);
  return out;
}

void ExpectConvertedFrom(const File& in, const File& out, TensorType target, bool had_file_type) {
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
    SCOPED_TRACE(std::string(a.name) + " to " + TensorTypeName(code));
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
      case TensorType::kF32:
        EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * 4), 0);
        break;
      case TensorType::kF16:
      case TensorType::kBF16: {
        const double relative = target == TensorType::kF16 ? 0x1p-11 : 0x1p-8;
        const double absolute = target == TensorType::kF16 ? 0x1p-25 : 0.0;  // half subnormals
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
    for (TensorType target : kTargets) {
      const std::string path =
          dir / (std::string("out.") + TensorTypeName(uint32_t(target)) + ".gguf");
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
  for (TensorType target : kTargets) {
    ASSERT_TRUE(ConvertFile(*in, target, dir / "once.gguf").ok());
    StatusOr<File> once = File::Open(dir / "once.gguf");
    ASSERT_TRUE(once.ok());
    StatusOr<ConvertStats> stats = ConvertFile(*once, target, dir / "twice.gguf");
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_EQ(stats->tensors_converted, 0u);
    std::ifstream a(dir / "once.gguf", std::ios::binary), b(dir / "twice.gguf", std::ios::binary);
    const std::string sa((std::istreambuf_iterator<char>(a)), {}),
        sb((std::istreambuf_iterator<char>(b)), {});
    EXPECT_TRUE(sa == sb) << TensorTypeName(uint32_t(target)) << ": the second conversion differs";
  }
}

TEST(ConvertFile, ReportsProgressUpToTheFileSize) {
  TempDir dir;
  const std::vector<uint8_t> bytes = SyntheticFile(true);
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  std::vector<ConvertProgress> seen;
  StatusOr<ConvertStats> stats = ConvertFile(*in, TensorType::kF32, dir / "out.gguf",
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
  StatusOr<ConvertStats> stats = ConvertFile(*in, TensorType::kQ8_0, path);
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
  EXPECT_TRUE(ConvertFile(*in, TensorType::kBF16, path).ok());
}

TEST(ConvertFile, RejectsMatricesWithoutDequantizationAndNonEncodeTargets) {
  TempDir dir;
  Writer w;
  w.AddTensor("blk.0.ffn_down.weight", TensorType::kQ2_K, {256, 2}, std::vector<uint8_t>(2 * 84));
  const std::vector<uint8_t> bytes = w.Finish();
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  StatusOr<ConvertStats> stats = ConvertFile(*in, TensorType::kF16, dir / "out.gguf");
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'blk.0.ffn_down.weight' (Q2_K, 256 x 2)"),
            std::string::npos)
      << stats.status().message();
  stats = ConvertFile(*in, TensorType::kQ4_0, dir / "out.gguf");
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
  StatusOr<ConvertStats> stats = ConvertFile(*in, TensorType::kF16, path);
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find(path + ".tmp"), std::string::npos)
      << stats.status().message();
}

TEST(ConvertFile, ANonFiniteValueFailsAndLeavesNoFile) {
  TempDir dir;
  Writer w;
  std::vector<float> x(64, 1.0f);
  x[33] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint8_t> data(x.size() * 4);
  std::memcpy(data.data(), x.data(), data.size());
  w.AddTensor("a.weight", TensorType::kF32, {32, 2}, data);
  const std::vector<uint8_t> bytes = w.Finish();
  StatusOr<File> in = File::FromBytes(bytes);
  ASSERT_TRUE(in.ok());
  StatusOr<ConvertStats> stats = ConvertFile(*in, TensorType::kQ8_0, dir / "out.gguf");
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'a.weight' row 1"), std::string::npos)
      << stats.status().message();
  EXPECT_NE(stats.status().message().find("NaN"), std::string::npos) << stats.status().message();
  EXPECT_TRUE(dir.List().empty());
  // F16 keeps the NaN.
  ASSERT_TRUE(ConvertFile(*in, TensorType::kF16, dir / "out.gguf").ok());
}

}  // namespace
}  // namespace logitkit::gguf
