// Tensor types of GGUF files: rows of float32, float16, bfloat16 and the ggml
// block-quantized formats, dequantized to float32 or dotted with a float32
// vector (SIMD, dispatched at run time to the best target the CPU has).
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
// Dot products accumulate float32 products in two vectors of L lanes, in a
// fixed order per SIMD target (deterministic for a given CPU), with error at
// most about (n / 2L + 10) · 2^-24 · Σ|w_i·x_i| (tested on every target).
#ifndef LOGITKIT_TENSOR_TYPES_H_
#define LOGITKIT_TENSOR_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/status.h"

namespace logitkit::gguf {

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

// Name of the SIMD target the kernels run on ("AVX2", ...).
const char* TensorKernelTarget();

}  // namespace logitkit::gguf

#endif  // LOGITKIT_TENSOR_TYPES_H_
