// SIMD kernels over one row of logits (Highway, dispatched at run time to the
// best target the CPU supports). Plain declarations: no SIMD types here.
//
// Conventions: `n` counts elements; rows may hold -inf (a removed token) but
// never NaN or +inf (LoadRow reports those). Sums are accumulated in double.
#ifndef LOGITKIT_OPS_ROW_OPS_H_
#define LOGITKIT_OPS_ROW_OPS_H_

#include <cstddef>
#include <cstdint>

#include "logitkit/float_type.h"

namespace logitkit::ops {

struct LoadStats {
  float max;         // largest value after the division; -inf if none is finite
  bool has_invalid;  // some value is NaN or +inf, or overflows to +-inf in the division
};

// dst[i] = float(src[i]) / divisor for i in [0, n). The division is IEEE
// (correctly rounded), so the result equals the caller's own x / divisor.
// dst may be null: the row is only checked. REQUIRES: divisor > 0 and finite.
LoadStats LoadRow(const void* src, FloatType type, size_t n, float divisor, float* dst);

// LoadRow with an allowed-token mask applied in the same pass: dst[i] = -inf
// where bit i % 32 of mask[i / 32] is clear. max is over the allowed tokens;
// has_invalid reports a NaN or +inf anywhere, and an overflow of the division
// only on an allowed token. REQUIRES: mask holds (n + 31) / 32 words; dst not null.
LoadStats LoadRowMasked(const void* src, FloatType type, size_t n, float divisor,
                        const uint32_t* mask, float* dst);

// x[i] = x[i] / divisor, in place. Returns false if a finite x[i] became
// -inf (overflow). REQUIRES: divisor > 0, and max(x) / divisor finite.
bool DivideInPlace(float* x, size_t n, float divisor);

// Index of the largest value, the lowest index among ties. REQUIRES: n > 0.
size_t ArgMax(const float* x, size_t n);

// Index of the first x[i] == value; n if there is none. With value = the
// row's max (known from LoadRow), this is ArgMax in one early-exiting pass.
size_t FindFirst(const float* x, size_t n, float value);

// Largest value; -inf for n == 0 or an all -inf row.
float Max(const float* x, size_t n);

struct ExpSums {
  double sum;       // Σ exp(x[i] - shift)
  double weighted;  // Σ exp(x[i] - shift) · (x[i] - shift), only when asked for
};

// e[i] = exp(x[i] / divisor - shift) (e may be null: sums only); the division
// is the IEEE one, as in LoadRow. The difference x - shift
// is carried with its rounding error (TwoSum), so e[i] stays within 2 ulp of the
// exact value even where |x - shift| is large. exp(-inf) = 0; results below
// e^-87.3 (the float normal range) flush to 0. REQUIRES: shift finite and >= every x[i] (so e <= 1).
ExpSums ExpShifted(const float* x, size_t n, float shift, float* e, bool weighted,
                   float divisor = 1.0f);

// out[i] = exp(x[i]) for x[i] <= 0 (0 below -87.3), with the same exp kernel
// as ExpShifted: the bare SIMD exp pass, the physical yardstick that softmax is
// measured against in the benchmarks. REQUIRES: x[i] <= 0.
void Exp(const float* x, size_t n, float* out);

// x[i] *= scale.
void Multiply(float* x, size_t n, float scale);

// Removes (x = -inf, and e = 0 when e is not null) every element with
// key[i] < threshold; returns how many have key[i] >= threshold. key may be x.
size_t MaskBelow(const float* key, size_t n, float threshold, float* x, float* e);

// How many x[i] > value, and how many x[i] == value.
size_t CountGreater(const float* x, size_t n, float value);
size_t CountEqual(const float* x, size_t n, float value);

struct FiniteRange {
  float min;     // smallest finite value (+inf if none)
  float max;     // largest finite value (-inf if none)
  size_t count;  // finite values
};
FiniteRange FiniteMinMax(const float* x, size_t n);

struct Moments {
  size_t count;  // finite elements
  double sum;    // Σ (x - shift) over finite x
  double sum_sq; // Σ (x - shift)^2 over finite x
};
// Moments of the finite elements, shifted by `shift` for accuracy.
Moments FiniteMoments(const float* x, size_t n, float shift);

// key[i] = -|center - x[i]| for finite x[i], -inf where x[i] = -inf.
void DistanceKeys(const float* x, size_t n, float center, float* key);

// sums[b] = Σ e[b*block .. min(n, (b+1)*block)), in double. REQUIRES: block
// is a multiple of 64.
void BlockSums(const float* e, size_t n, size_t block, double* sums);

// Σ x[i] in double, each float vector promoted before it is added.
double SumToDouble(const float* x, size_t n);

// Σ x[i] · y[i] in float32, in a fixed order for a given SIMD target (four
// vector accumulators, then a scalar tail): error at most about
// (n / 4L + 10) · 2^-24 · Σ|x_i·y_i| with L lanes. Float weight rows
// (quant::DotRow of F32) and attention's q·k (Dots) are this.
float Dot(const float* x, const float* y, size_t n);

// out[i] = Dot(rows + i * stride, y, n) for i < count, each bitwise Dot's, in
// one dispatch: attention's q·k over a sequence's keys, whose rows are short
// (a head's 64 floats) and many, where a call per row costs as much as its dot.
void Dots(const float* rows, size_t stride, size_t count, const float* y, size_t n, float* out);

// out[j] = Σ_i weights[i] · rows[i * stride + j] for j < n, over i < count in
// order, each term added with the target's MulAdd (fused, one rounding, on
// AVX2, AVX-512 and aarch64 NEON; a product then a sum on SSSE3, SSE4, EMU128
// and scalar): attention's weighted sum of values.
// Lanes are independent, so out[j] does not depend on where j falls in a vector.
void WeightedSum(const float* rows, size_t stride, size_t count, const float* weights, size_t n, float* out);

// out[b] = max of x[b*block .. min(n, (b+1)*block)). REQUIRES: block is a
// multiple of 64.
void BlockMax(const float* x, size_t n, size_t block, float* out);

// Linear bucket of each key: out[i] = min(max_bucket, int((key[i] - lo) * scale)),
// or kNoBucket where key[i] = -inf. Monotone non-decreasing in the key.
// REQUIRES: key[i] >= lo for finite keys, (hi - lo) * scale finite, max_bucket < kNoBucket.
constexpr uint16_t kNoBucket = 0xFFFF;
void BucketIndex(const float* key, size_t n, float lo, float scale, uint16_t max_bucket,
                 uint16_t* out);

// Writes the positions i with bucket[i] == value to `positions` (ascending);
// returns how many. REQUIRES: positions holds n entries.
size_t FindBucket(const uint16_t* bucket, size_t n, uint16_t value, uint32_t* positions);

// Writes the positions of the finite elements of x (ascending); returns how
// many. REQUIRES: positions holds n entries.
size_t FindFinite(const float* x, size_t n, uint32_t* positions);

// The temperature moments of a row, for fitting a temperature by Newton steps
// on a grid (analysis/calibration): with the gaps g_i = max - x[i] >= 0 and
// beta_k = (k + 1) * beta_step for k in [0, count),
//   s0[k] += Σ_i exp(-beta_k g_i),  s1[k] += Σ_i g_i exp(-beta_k g_i),
//   s2[k] += Σ_i g_i^2 exp(-beta_k g_i),
// x[i] = -inf contributing nothing. One exp per element (double): the grid
// is walked by multiplying by exp(-beta_step g_i), so the cost per grid point
// is one multiply and three fused multiply-adds per element. Double throughout;
// the summation order follows the vector width (the last bits differ between
// SIMD targets). REQUIRES: max >= every x[i], finite; beta_step > 0; count <= 64.
constexpr size_t kMaxTemperatureMoments = 64;
void TemperatureMoments(const float* x, size_t n, float max, double beta_step, size_t count,
                        double* s0, double* s1, double* s2);

// The name of the SIMD target the dispatcher picks on this CPU ("AVX2", ...).
const char* ChosenTargetName();

}  // namespace logitkit::ops

#endif  // LOGITKIT_OPS_ROW_OPS_H_
