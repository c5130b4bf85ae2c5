// Quantized tensor math: the ggml tensor types (the codes GGUF files store),
// rows of float32, float16, bfloat16 and the block-quantized formats,
// dequantized to float32, dotted with float32 or integer activations (SIMD,
// dispatched at run time to the best target the CPU has), and encoded from
// float32. Knows no files: src/gguf reads and writes them with these types.
//
// A row of n elements is n / B blocks stored back to back, B elements each:
//
//   type  B    bytes  one element w[i] (q: the stored integer, d, m: float16)
//   F32   1    4      the float
//   F16   1    2      the half
//   BF16  1    2      the bfloat16
//   Q8_0  32   34     d · q,            q int8
//   Q4_0  32   18     d · (q − 8),      q 4 bits
//   Q4_1  32   20     d · q + m,        q 4 bits
//   Q5_0  32   22     d · (q − 16),     q 5 bits (4 low + 1 high)
//   Q5_1  32   24     d · q + m,        q 5 bits
//   Q4_K  256  144    d·s_j · q − dmin·m_j, q 4 bits, 6-bit s_j, m_j per 32 elements
//   Q5_K  256  176    as Q4_K with 5-bit q
//   Q6_K  256  210    d·s_j · (q − 32), q 6 bits, int8 s_j per 16 elements
//
// Numerics: the block scales d·s_j and dmin·m_j are exact in float32 (an
// 11-bit by at most 8-bit product); each element is then one fused
// multiply-add, q·scale + offset, rounded once. That is the value ggml and the
// `gguf` Python package compute: dequantization is bit-exact with them (tested).
// Dot products accumulate float32 products in vectors of L lanes (two for
// block and 16-bit rows, four for F32 rows: ops::Dot's), in a fixed order per
// SIMD target (deterministic for a given CPU), with error at most about
// (n / 2L + 10) · 2^-24 · Σ|w_i·x_i| (tested on every target).
#ifndef LOGITKIT_QUANT_H_
#define LOGITKIT_QUANT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "logitkit/status.h"

namespace logitkit::quant {

// ggml tensor types (ggml_type codes, as GGUF files store them): the ones
// with a known block layout. The compute types below are those of the table
// above; the rest can be read and copied, not computed with.
enum class TensorType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28, kBF16 = 30,
};
// Elements per block and bytes per block of a type code; false for an
// unknown code.
bool TensorTypeLayout(uint32_t type, uint64_t* block_elements, uint64_t* block_bytes);
// "Q4_K", ...; "unknown" for an unknown code.
const char* TensorTypeName(uint32_t type);

// True for the types above: those DequantizeRow and DotRow take.
bool IsComputeType(TensorType type);

// OK if a row of n elements of `type` can be dequantized or dotted: the type
// is a compute type and n is a positive multiple of its block. The error
// names the type and n.
Status CheckRow(TensorType type, size_t n);

// Bytes of a row of n elements. REQUIRES: CheckRow(type, n) is OK.
size_t RowBytes(TensorType type, size_t n);

// dst[0, n) = the n elements of the row at src. REQUIRES: CheckRow(type, n)
// is OK; src holds RowBytes(type, n) bytes; dst holds n floats.
void DequantizeRow(TensorType type, const void* src, size_t n, float* dst);

// Σ w_i · x_i over the n elements w of the row at src. Same REQUIRES as
// DequantizeRow; x holds n floats.
float DotRow(TensorType type, const void* src, const float* x, size_t n);

// out[t] = DotRow(type, src, x + t * n, n) for t < count, bitwise the same,
// with each block of the row decoded once for up to 8 rows of x at a time
// (one weight row against several tokens).
void DotRows(TensorType type, const void* src, const float* x, size_t n, size_t count, float* out);

// Activations quantized to integers for DotRowQuantized, per block of 32
// elements: x_i ≈ scale[i / 32] · q[i] with scale = max|x| / qmax over the
// block (float32), q = round(x / scale), qmax = 127 (8 bits, llama.cpp's
// Q8 activations) or 32767 (16 bits), so |x_i − scale·q_i| <= scale / 2
// (to rounding): a relative step of 1/254 or 1/65534 of the block's largest.
struct QuantizedRow {
  size_t n = 0;                 // elements, a multiple of 32
  int bits = 16;                // 8 or 16
  std::vector<int16_t> q;       // n
  std::vector<float> scale;     // n / 32
  std::vector<int32_t> sum16;   // n / 16: Σ q over each 16 elements

  // Σ q over [at, at + count), count 16 or 32, at a multiple of 16.
  int32_t Sum16(size_t at, size_t count) const {
    return count == 16 ? sum16[at / 16] : sum16[at / 16] + sum16[at / 16 + 1];
  }
};

// Quantizes x[0, n) to `bits` (8 or 16) into out (resized).
// REQUIRES: n % 32 == 0, x finite.
void QuantizeRow(const float* x, size_t n, int bits, QuantizedRow* out);

// True for the block types DotRowQuantized takes (all but F32, F16, BF16).
bool HasIntegerDot(TensorType type);

// Σ w_i · xq_i, xq_i = x.scale[i / 32] · x.q[i], over the x.n elements of the
// row at src: per group of 16 or 32 elements, the integer products are summed
// exactly in int32 (|q_w| <= 128, |q_x| <= 32767: at most 2^27 per group) and
// scaled once, then accumulated in float32. The difference from DotRow is the
// quantization of x. REQUIRES: HasIntegerDot(type), CheckRow(type, x.n) OK;
// src holds RowBytes(type, x.n) bytes.
float DotRowQuantized(TensorType type, const void* src, const QuantizedRow& x);

// out[t] = DotRowQuantized(type, src, x[t]) for t < count, decoding the row
// once; equal bit for bit to the one-at-a-time results. REQUIRES: as
// DotRowQuantized for each x[t], all of one length; count <= kMaxDotBatch.
constexpr size_t kMaxDotBatch = 8;
void DotRowsQuantized(TensorType type, const void* src, const QuantizedRow* x, size_t count, float* out);

// Encoding a float32 row in a type, bit for bit as ggml's reference
// quantizers and the `gguf` Python package (0.19, gguf.quants.quantize) write
// them (tested):
//   F32   the float
//   F16   round to nearest, ties to even (numpy's astype(float16)); beyond
//         65504 (from 65520 up) ±inf; NaN stays NaN, keeping its 10 top payload bits
//   BF16  ggml's GGML_FP32_TO_BF16: the top 16 bits rounded to nearest even;
//         NaN made quiet (bit 6 of the result set)
//   Q8_0  per block of 32: amax = max|x|, d = amax / 127, id = d ? 1/d : 0,
//         q = roundf(x · id) (ties away from zero), d stored as F16
//         (ggml's quantize_row_q8_0_ref). |x − d16·q| <= d/2 + |q|·|d − d16|
//         with d16 the stored half: about amax/254 + amax·2^-11.
//         A block whose 1/d overflows (amax < ~3.7e-37) encodes as zeros;
//         one whose d would be a float16 infinity (amax >= ~8.3e6) is an error.
//
// True for the types EncodeRow writes: F32, F16, BF16, Q8_0.
bool IsEncodeType(TensorType type);

// Writes x[0, n) as a row of `type`: RowBytes(type, n) bytes at dst.
// Errors (nothing written then): `type` is not an encode type; n is not a
// positive multiple of its block (32 for Q8_0); for Q8_0, an infinity, a NaN
// or a magnitude of 65520 · 127 or more (no finite scale). REQUIRES: x holds n floats.
Status EncodeRow(TensorType type, const float* x, size_t n, void* dst);

// Name of the SIMD target the kernels run on ("AVX2", ...).
const char* TensorKernelTarget();

}  // namespace logitkit::quant

#endif  // LOGITKIT_QUANT_H_
