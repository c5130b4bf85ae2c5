// EncodeRow against the definition of each encoding (nearest value, ties to
// even; Q8_0's error bound). Bit equality with the `gguf` Python package is
// src/gguf/check_convert.py's job.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "logitkit/quant.h"
#include "quant/blocks.h"
#include "quant/testing/q8_bound.h"

namespace logitkit::quant {
namespace {

using testing::ExpectQ8_0Within;

float FromBits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
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

}  // namespace
}  // namespace logitkit::quant
