// Tensor types against a scalar float64 reference written from ggml's
// dequantize_row_* loops, on every compiled SIMD target. (The `gguf` Python
// package's numpy dequantize is the second, independent reference:
// check_dequantize.py.)
#include "logitkit/quant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/blocks.h"
#include "quant/testing/random_blocks.h"
#include "hwy/targets.h"

namespace logitkit::quant {
namespace {

using testing::kComputeTypes;
using testing::RandomRow;

size_t BlockOf(TensorType type) {
  uint64_t elements = 0, bytes = 0;
  TensorTypeLayout(static_cast<uint32_t>(type), &elements, &bytes);
  return elements;
}

double Half(const uint8_t* p) { return HalfToFloat(LoadU16(p)); }

// The n weights of a row, element by element in float64, from the block
// layouts as ggml's reference C code reads them.
std::vector<double> ReferenceRow(TensorType type, const uint8_t* p, size_t n) {
  std::vector<double> w(n);
  switch (type) {
    case TensorType::kF32:
      for (size_t i = 0; i < n; ++i) { float f; std::memcpy(&f, p + 4 * i, 4); w[i] = f; }
      return w;
    case TensorType::kF16:
      for (size_t i = 0; i < n; ++i) w[i] = Half(p + 2 * i);
      return w;
    case TensorType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint32_t bits = uint32_t(LoadU16(p + 2 * i)) << 16;
        float f; std::memcpy(&f, &bits, 4); w[i] = f;
      }
      return w;
    default: break;
  }
  const size_t block = BlockOf(type);
  const size_t block_bytes = RowBytes(type, block);
  for (size_t b = 0; b < n / block; ++b) {
    const uint8_t* x = p + b * block_bytes;
    double* y = w.data() + b * block;
    switch (type) {
      case TensorType::kQ8_0:
        for (int j = 0; j < 32; ++j) y[j] = Half(x) * int8_t(x[2 + j]);
        break;
      case TensorType::kQ4_0:
        for (int j = 0; j < 16; ++j) {
          y[j] = Half(x) * ((x[2 + j] & 0x0F) - 8);
          y[j + 16] = Half(x) * ((x[2 + j] >> 4) - 8);
        }
        break;
      case TensorType::kQ4_1:
        for (int j = 0; j < 16; ++j) {
          y[j] = Half(x) * (x[4 + j] & 0x0F) + Half(x + 2);
          y[j + 16] = Half(x) * (x[4 + j] >> 4) + Half(x + 2);
        }
        break;
      case TensorType::kQ5_0: case TensorType::kQ5_1: {
        const bool q51 = type == TensorType::kQ5_1;
        uint32_t qh;
        std::memcpy(&qh, x + (q51 ? 4 : 2), 4);
        const uint8_t* qs = x + (q51 ? 8 : 6);
        // Q5_0: d · (q − 16); Q5_1: d · q + m.
        auto weight = [&](int q) { return q51 ? Half(x) * q + Half(x + 2) : Half(x) * (q - 16); };
        for (int j = 0; j < 16; ++j) {
          const int h0 = ((qh >> j) << 4) & 0x10;
          const int h1 = (qh >> (j + 12)) & 0x10;
          y[j] = weight((qs[j] & 0x0F) | h0);
          y[j + 16] = weight((qs[j] >> 4) | h1);
        }
        break;
      }
      case TensorType::kQ4_K: case TensorType::kQ5_K: {
        const bool q5 = type == TensorType::kQ5_K;
        const double d = Half(x), dmin = Half(x + 2);
        const uint8_t* scales = x + 4;
        const uint8_t* qh = x + 16;
        const uint8_t* ql = x + (q5 ? 48 : 16);
        int is = 0;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 256; j += 64) {
          uint8_t sc, m;
          ScaleMinK4(is, scales, &sc, &m);
          const double d1 = d * sc, m1 = dmin * m;
          ScaleMinK4(is + 1, scales, &sc, &m);
          const double d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; ++l) {
            const int hi = q5 && (qh[l] & u1) ? 16 : 0;
            *y++ = d1 * ((ql[l] & 0xF) + hi) - m1;
          }
          for (int l = 0; l < 32; ++l) {
            const int hi = q5 && (qh[l] & u2) ? 16 : 0;
            *y++ = d2 * ((ql[l] >> 4) + hi) - m2;
          }
          ql += 32;
          is += 2;
          u1 <<= 2;
          u2 <<= 2;
        }
        break;
      }
      case TensorType::kQ6_K: {
        const double d = Half(x + 208);
        const uint8_t* ql = x;
        const uint8_t* qh = x + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(x + 192);
        for (int half = 0; half < 2; ++half) {
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
          }
          y += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
        break;
      }
      default: break;
    }
  }
  return w;
}

template <typename Fn>
void ForEachTarget(Fn fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    fn(target);
  }
  hwy::SetSupportedTargetsForTest(0);
}


// Row lengths: one to three blocks, and one of 4096 elements (a d_model).
std::vector<size_t> RowLengths(TensorType type) {
  const size_t b = std::max<size_t>(BlockOf(type), 32);
  if (BlockOf(type) == 1) return {1, 7, b, 37, 3 * b, 4096};  // float rows: vector tails too
  return {b, 2 * b, 3 * b, 4096};
}

// The exact weights are at most 30-bit numbers in float64; rounding them to
// float gives what one fused multiply-add per element gives: equal bits,
// signed zeros included.
TEST(TensorTypes, DequantizeIsBitExactWithTheReferenceOnEveryTarget) {
  ForEachTarget([](int64_t target) {
    std::mt19937_64 rng(target);
    for (TensorType type : kComputeTypes) {
      for (size_t n : RowLengths(type)) {
        const std::vector<uint8_t> row = RandomRow(type, n, rng);
        const std::vector<double> ref = ReferenceRow(type, row.data(), n);
        std::vector<float> out(n, -1.0f);
        DequantizeRow(type, row.data(), n, out.data());
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(float(ref[i])))
              << out[i] << " vs " << ref[i] << " " << TensorTypeName(uint32_t(type)) << " n=" << n << " i=" << i
                                           << " on " << hwy::TargetName(target);
        }
      }
    }
  });
}

// Float32 lanes of a target's vectors.
size_t FloatLanes(int64_t target) {
  if (target == HWY_SCALAR) return 1;
  if (target == HWY_AVX2) return 8;
  if (target == HWY_AVX3 || target == HWY_AVX3_DL) return 16;
  return 4;  // SSE4, SSSE3, EMU128
}

// Float32 accumulation in 2 accumulators of L lanes: each partial sum chain
// has at most n / (2L) additions, then log2(2L) in the final reduction, and
// each product one rounding.
TEST(TensorTypes, DotIsWithinTheFloat32BoundOfTheFloat64DotOnEveryTarget) {
  ForEachTarget([](int64_t target) {
    std::mt19937_64 rng(target + 1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (TensorType type : kComputeTypes) {
      for (size_t n : RowLengths(type)) {
        const std::vector<uint8_t> row = RandomRow(type, n, rng);
        const std::vector<double> w = ReferenceRow(type, row.data(), n);
        std::vector<float> x(n);
        for (float& v : x) v = normal(rng);
        double dot = 0, magnitude = 0;
        for (size_t i = 0; i < n; ++i) {
          dot += w[i] * x[i];
          magnitude += std::fabs(w[i] * x[i]);
        }
        const double bound = (n / (2.0 * FloatLanes(target)) + 10) * 0x1p-24 * magnitude + 1e-30;
        const float got = DotRow(type, row.data(), x.data(), n);
        ASSERT_NEAR(got, dot, bound) << TensorTypeName(uint32_t(type)) << " n=" << n << " on "
                                     << hwy::TargetName(target);
      }
    }
  });
}

TEST(TensorTypes, QuantizedActivationsAreWithinHalfAStepAndSumTheirBlocks) {
  for (int bits : {8, 16}) ForEachTarget([bits](int64_t target) {
    std::mt19937_64 rng(target + 2);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> x(4096);
    for (float& v : x) v = normal(rng);
    for (size_t k = 64; k < 96; ++k) x[k] = 0.0f;  // an all-zero block: scale 0
    QuantizedRow q;
    QuantizeRow(x.data(), x.size(), bits, &q);
    ASSERT_EQ(q.q.size(), x.size());
    const float qmax = bits == 8 ? 127.0f : 32767.0f;
    for (size_t b = 0; b < x.size() / 32; ++b) {
      float amax = 0;
      for (size_t k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(x[32 * b + k]));
      ASSERT_EQ(q.scale[b], amax / qmax) << b;
      for (size_t k = 32 * b; k < 32 * b + 32; ++k) {
        ASSERT_LE(std::abs(q.q[k]), qmax);
        ASSERT_LE(std::fabs(double(x[k]) - double(q.scale[b]) * q.q[k]), 0.5000001 * q.scale[b] + 1e-30)
            << k << " on " << hwy::TargetName(target);
      }
      for (size_t half = 0; half < 2; ++half) {
        int32_t sum = 0;
        for (size_t k = 32 * b + 16 * half; k < 32 * b + 16 * half + 16; ++k) sum += q.q[k];
        ASSERT_EQ(q.sum16[2 * b + half], sum);
      }
    }
  });
}

TEST(TensorTypes, IntegerDotIsWithinTheFloat32BoundOfTheFloat64DotOnEveryTarget) {
  for (int bits : {8, 16}) ForEachTarget([bits](int64_t target) {
    std::mt19937_64 rng(target + 3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (TensorType type : kComputeTypes) {
      if (!HasIntegerDot(type)) continue;
      for (size_t n : RowLengths(type)) {
        const std::vector<uint8_t> row = RandomRow(type, n, rng);
        const std::vector<double> w = ReferenceRow(type, row.data(), n);
        std::vector<float> x(n);
        for (float& v : x) v = normal(rng);
        QuantizedRow q;
        QuantizeRow(x.data(), n, bits, &q);
        double dot = 0, magnitude = 0;
        for (size_t i = 0; i < n; ++i) {
          const double xq = double(q.scale[i / 32]) * q.q[i];
          dot += w[i] * xq;
          magnitude += std::fabs(w[i] * xq);
        }
        // Per group: one rounding of scale products, one of the converted
        // exact integer sum, the accumulation; offsets add the same again.
        const double bound = (n / (2.0 * FloatLanes(target)) + 16) * 0x1p-24 * magnitude + 1e-30;
        const float got = DotRowQuantized(type, row.data(), q);
        ASSERT_NEAR(got, dot, bound) << TensorTypeName(uint32_t(type)) << " n=" << n << " on "
                                     << hwy::TargetName(target);
        // A batch gives each row's result bit for bit.
        std::vector<QuantizedRow> batch(kMaxDotBatch);
        std::vector<float> one(kMaxDotBatch), many(kMaxDotBatch);
        for (size_t t = 0; t < kMaxDotBatch; ++t) {
          for (float& v : x) v = normal(rng);
          QuantizeRow(x.data(), n, bits, &batch[t]);
          one[t] = DotRowQuantized(type, row.data(), batch[t]);
        }
        DotRowsQuantized(type, row.data(), batch.data(), kMaxDotBatch, many.data());
        ASSERT_EQ(one, many) << TensorTypeName(uint32_t(type)) << " n=" << n;
      }
    }
  });
}

TEST(TensorTypes, DotRowsEqualsDotRowBitwiseOnEveryTarget) {
  ForEachTarget([&](int64_t target) {
    std::mt19937_64 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (TensorType type : kComputeTypes) {
      const size_t n = std::max<size_t>(BlockOf(type), 32) * 3;
      const std::vector<uint8_t> row = RandomRow(type, n, rng);
      for (size_t count : {size_t{1}, size_t{3}, kMaxDotBatch, size_t{13}}) {
        std::vector<float> x(count * n);
        for (float& v : x) v = normal(rng);
        std::vector<float> one(count), many(count);
        for (size_t t = 0; t < count; ++t) one[t] = DotRow(type, row.data(), x.data() + t * n, n);
        DotRows(type, row.data(), x.data(), n, count, many.data());
        ASSERT_EQ(0, std::memcmp(one.data(), many.data(), count * sizeof(float)))
            << TensorTypeName(uint32_t(type)) << " count=" << count << " on " << hwy::TargetName(target);
      }
    }
  });
}

TEST(TensorTypes, DotAndDequantizeReadBlocksAtAnyAddress) {
  std::mt19937_64 rng(7);
  for (TensorType type : kComputeTypes) {
    if (type == TensorType::kF32 || type == TensorType::kF16 || type == TensorType::kBF16) continue;
    const size_t n = std::max<size_t>(BlockOf(type), 32) * 2;
    const std::vector<uint8_t> row = RandomRow(type, n, rng);
    std::vector<uint8_t> shifted(row.size() + 1);
    std::memcpy(shifted.data() + 1, row.data(), row.size());  // odd address
    std::vector<float> a(n), b(n);
    DequantizeRow(type, row.data(), n, a.data());
    DequantizeRow(type, shifted.data() + 1, n, b.data());
    EXPECT_EQ(a, b) << TensorTypeName(uint32_t(type));
    std::vector<float> x(n, 0.5f);
    EXPECT_EQ(DotRow(type, row.data(), x.data(), n), DotRow(type, shifted.data() + 1, x.data(), n));
  }
}

TEST(TensorTypes, Float16InfinityAndNaNSurviveDequantization) {
  const uint16_t halves[4] = {0x7C00, 0xFC00, 0x7E00, 0x3C00};  // +inf, -inf, NaN, 1
  float out[4];
  DequantizeRow(TensorType::kF16, halves, 4, out);
  EXPECT_EQ(out[0], INFINITY);
  EXPECT_EQ(out[1], -INFINITY);
  EXPECT_TRUE(std::isnan(out[2]));
  EXPECT_EQ(out[3], 1.0f);
}

TEST(TensorTypes, CheckRowNamesTheTypeAndTheLength) {
  EXPECT_TRUE(CheckRow(TensorType::kQ4_K, 512).ok());
  const Status partial = CheckRow(TensorType::kQ4_K, 100);
  EXPECT_FALSE(partial.ok());
  EXPECT_NE(partial.message().find("100"), std::string::npos) << partial.message();
  EXPECT_NE(partial.message().find("Q4_K"), std::string::npos) << partial.message();
  EXPECT_NE(partial.message().find("256"), std::string::npos) << partial.message();
  EXPECT_FALSE(CheckRow(TensorType::kQ4_0, 0).ok());
  const Status q2 = CheckRow(TensorType::kQ2_K, 256);
  EXPECT_FALSE(q2.ok());
  EXPECT_NE(q2.message().find("Q2_K"), std::string::npos) << q2.message();
  EXPECT_FALSE(CheckRow(TensorType(99), 32).ok());
  EXPECT_EQ(RowBytes(TensorType::kQ6_K, 512), 420u);
  EXPECT_EQ(RowBytes(TensorType::kQ4_1, 64), 40u);
}

}  // namespace
}  // namespace logitkit::quant
