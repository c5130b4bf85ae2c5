// Encoding float32 rows as F32, F16, BF16 and Q8_0, bit for bit as ggml's
// reference quantizers (quant.h states each rule).
#include <cmath>
#include <cstring>
#include <string>

#include "logitkit/quant.h"
#include "quant/blocks.h"

namespace logitkit::quant {
namespace {

uint32_t FloatBits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}

// float -> float16 bits as numpy's npy_floatbits_to_halfbits (astype(float16)):
// round to nearest, ties to even, in integer arithmetic (no dependence on the
// FPU's rounding mode or flush-to-zero).
uint16_t FloatToHalf(float x) {
  const uint32_t f = FloatBits(x);
  const uint16_t sign = static_cast<uint16_t>((f >> 16) & 0x8000u);
  const uint32_t a = f & 0x7FFFFFFFu;
  if (a >= 0x7F800000u) {  // infinity, or NaN keeping its top payload bits (never 0)
    const uint16_t payload = static_cast<uint16_t>((a >> 13) & 0x3FFu);
    return sign | 0x7C00u | (a == 0x7F800000u ? 0 : payload ? payload : 1);
  }
  if (a >= 0x47800000u) return sign | 0x7C00u;  // >= 2^16: infinity
  if (a >= 0x38800000u) {
    // A normal half (65520 and up carry into infinity): rebias the exponent
    // from 127 to 15, then round the 13 bits that go.
    const uint32_t r = a - 0x38000000u;
    return sign | static_cast<uint16_t>((r + 0xFFFu + ((r >> 13) & 1u)) >> 13);
  }
  // Below 2^-14: a subnormal half, a count of 2^-24, or zero. Under 2^-25
  // (exponent field 102) everything rounds to zero; 2^-25 itself is a tie.
  const uint32_t e = a >> 23;
  if (e < 102) return sign;
  const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;  // value = m · 2^(e − 150)
  const uint32_t shift = 126 - e;                  // 14 .. 24
  uint32_t q = m >> shift;
  const uint32_t rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
  q += (rest > half || (rest == half && (q & 1u))) ? 1 : 0;
  return sign | static_cast<uint16_t>(q);
}

// ggml's GGML_FP32_TO_BF16 (ggml_compute_fp32_to_bf16).
uint16_t FloatToBf16(float x) {
  const uint32_t f = FloatBits(x);
  if ((f & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((f >> 16) | 64u);  // quiet NaN
  return static_cast<uint16_t>((f + 0x7FFFu + ((f >> 16) & 1u)) >> 16);
}

void PutU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// The smallest block maximum whose Q8_0 scale, amax / 127 in float32, rounds
// to a float16 infinity (>= 65520): ggml would store d = inf.
const float kMaxQ8_0 = [] {
  float v = 65520.0f * 127.0f;
  while (v / 127.0f >= 65520.0f) v = std::nextafter(v, 0.0f);
  return std::nextafter(v, 1e30f);
}();

// ggml's quantize_row_q8_0_ref for one block. REQUIRES: x finite.
void EncodeBlockQ8_0(const float* x, uint8_t* block) {
  float amax = 0.0f;
  for (int i = 0; i < kQK; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  PutU16(block + offsetof(BlockQ8_0, d), FloatToHalf(d));
  int8_t* qs = reinterpret_cast<int8_t*>(block + offsetof(BlockQ8_0, qs));
  for (int i = 0; i < kQK; ++i) {
    // |x · id| <= 127 (to rounding) unless 1/d overflowed (amax < 127 · 2^-128):
    // then x · id is ±inf or NaN and the element 0, as numpy's cast gives.
    const float v = x[i] * id;
    qs[i] = std::isfinite(v) ? static_cast<int8_t>(std::round(v)) : 0;
  }
}

}  // namespace

bool IsEncodeType(TensorType type) {
  return type == TensorType::kF32 || type == TensorType::kF16 || type == TensorType::kBF16 ||
         type == TensorType::kQ8_0;
}

Status EncodeRow(TensorType type, const float* x, size_t n, void* dst) {
  const uint32_t code = static_cast<uint32_t>(type);
  if (!IsEncodeType(type)) {
    return InvalidArgumentError(std::string("cannot encode to tensor type ") +
                                TensorTypeName(code) + " (" + std::to_string(code) +
                                "): only F32, F16, BF16 and Q8_0");
  }
  LOGITKIT_RETURN_IF_ERROR(CheckRow(type, n));
  uint8_t* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case TensorType::kF32:
      std::memcpy(out, x, n * sizeof(float));
      break;
    case TensorType::kF16:
      for (size_t i = 0; i < n; ++i) PutU16(out + 2 * i, FloatToHalf(x[i]));
      break;
    case TensorType::kBF16:
      for (size_t i = 0; i < n; ++i) PutU16(out + 2 * i, FloatToBf16(x[i]));
      break;
    default: {  // Q8_0: check every element first, so an error writes nothing.
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i])) {
          return InvalidArgumentError("Q8_0 block " + std::to_string(i / kQK) + " holds " +
                                      (std::isnan(x[i]) ? "NaN" : "an infinity") + " (element " +
                                      std::to_string(i) + "), which has no Q8_0 encoding");
        }
        if (std::fabs(x[i]) >= kMaxQ8_0) {
          return InvalidArgumentError("Q8_0 block " + std::to_string(i / kQK) + " holds " +
                                      std::to_string(x[i]) + " (element " + std::to_string(i) +
                                      "): its scale |x| / 127 would overflow float16");
        }
      }
      for (size_t b = 0; b < n / kQK; ++b)
        EncodeBlockQ8_0(x + b * kQK, out + b * sizeof(BlockQ8_0));
      break;
    }
  }
  return OkStatus();
}

}  // namespace logitkit::quant
