// Random rows of every compute tensor type, for tests and benchmarks: random
// bytes, except that every float16 scale is a finite value in ±[2^-10, 4]
// (with an occasional subnormal or zero), as quantizers produce.
#ifndef LOGITKIT_QUANT_TESTING_RANDOM_BLOCKS_H_
#define LOGITKIT_QUANT_TESTING_RANDOM_BLOCKS_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "quant/blocks.h"
#include "logitkit/quant.h"

namespace logitkit::quant::testing {

inline constexpr TensorType kComputeTypes[] = {
    TensorType::kF32,  TensorType::kF16,  TensorType::kBF16, TensorType::kQ8_0,
    TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0, TensorType::kQ5_1,
    TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K};

// A finite float16: exponent field in [5, 17) (2^-10 .. 4), or now and then
// a subnormal or a signed zero.
inline uint16_t RandomHalf(std::mt19937_64& rng) {
  const uint16_t sign = (rng() & 1) << 15;
  const uint16_t mantissa = rng() & 0x3FF;
  if (rng() % 32 == 0) return sign | (rng() % 2 ? mantissa : 0);  // subnormal or zero
  return sign | uint16_t((5 + rng() % 12) << 10) | mantissa;
}

inline void PutHalf(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

// The bytes of a row of n elements of `type`. REQUIRES: CheckRow(type, n) ok.
inline std::vector<uint8_t> RandomRow(TensorType type, size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> row(RowBytes(type, n));
  for (uint8_t& b : row) b = uint8_t(rng());
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto each_block = [&](size_t bytes, auto fn) {
    for (size_t at = 0; at < row.size(); at += bytes) fn(row.data() + at);
  };
  switch (type) {
    case TensorType::kF32:
      for (size_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        std::memcpy(row.data() + 4 * i, &v, 4);
      }
      break;
    case TensorType::kF16:
      for (size_t i = 0; i < n; ++i) PutHalf(row.data() + 2 * i, RandomHalf(rng));
      break;
    case TensorType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        PutHalf(row.data() + 2 * i, uint16_t(bits >> 16));
      }
      break;
    case TensorType::kQ8_0: case TensorType::kQ4_0: case TensorType::kQ5_0:
      each_block(RowBytes(type, kQK), [&](uint8_t* b) { PutHalf(b, RandomHalf(rng)); });
      break;
    case TensorType::kQ4_1: case TensorType::kQ5_1:
      each_block(RowBytes(type, kQK), [&](uint8_t* b) {
        PutHalf(b, RandomHalf(rng));
        PutHalf(b + 2, RandomHalf(rng));
      });
      break;
    case TensorType::kQ4_K: case TensorType::kQ5_K:
      each_block(RowBytes(type, kQK_K), [&](uint8_t* b) {
        PutHalf(b, RandomHalf(rng));
        PutHalf(b + 2, RandomHalf(rng));
      });
      break;
    case TensorType::kQ6_K:
      each_block(sizeof(BlockQ6_K), [&](uint8_t* b) { PutHalf(b + offsetof(BlockQ6_K, d), RandomHalf(rng)); });
      break;
    default:
      break;
  }
  return row;
}

}  // namespace logitkit::quant::testing

#endif  // LOGITKIT_QUANT_TESTING_RANDOM_BLOCKS_H_
