// Byte layouts of the ggml block-quantized types (ggml's block_q4_0 etc.),
// and the scalar pieces shared by the SIMD kernels and the tests.
#ifndef LOGITKIT_QUANT_BLOCKS_H_
#define LOGITKIT_QUANT_BLOCKS_H_

#include <cstdint>
#include <cstring>

namespace logitkit::quant {

constexpr int kQK = 32;    // elements per block of the 32-element types
constexpr int kQK_K = 256; // elements per super-block of the K types

// Members are bytes and float16 bit patterns (uint16). The structs document
// the layout and give offsetof(); the kernels read blocks as bytes at those
// offsets, so a block may sit at any address.
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK]; };
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK / 2]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[kQK / 2]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// Reads a little-endian uint16 at p (any alignment).
inline uint16_t LoadU16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// float16 bits -> float, exact (infinities and NaN kept).
inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t magnitude = uint32_t(h & 0x7FFFu) << 13;
  float v;
  if ((h & 0x7C00u) == 0x7C00u) {
    const uint32_t bits = sign | 0x7F800000u | magnitude;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  // Reinterpreted as float, magnitude is the value times 2^-112 (normal and
  // subnormal halves alike): one exact multiply restores it.
  std::memcpy(&v, &magnitude, 4);
  v *= 5.192296858534828e33f;  // 2^112
  return sign ? -v : v;
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block,
// from its 12 packed bytes (ggml's get_scale_min_k4).
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Bits to bytes: byte k of kBitBytes.table[b] is 0x10 if bit k of b is set,
// else 0 (the fifth bits of Q5_0 / Q5_1 elements, in place).
struct BitBytes {
  uint64_t table[256];
  constexpr BitBytes() : table() {
    for (int b = 0; b < 256; ++b) {
      for (int k = 0; k < 8; ++k) {
        if (b >> k & 1) table[b] |= uint64_t{0x10} << (8 * k);
      }
    }
  }
};
inline constexpr BitBytes kBitBytes;

}  // namespace logitkit::quant

#endif  // LOGITKIT_QUANT_BLOCKS_H_
