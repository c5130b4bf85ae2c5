// SIMD kernels of the tensor types (Highway; included once per target by
// kernels.cc). A block is first decoded to small integers q (int8, one
// per element) and one (scale, offset) pair per group of elements; each
// element is then w = q · scale + offset, one fused multiply-add.
#if defined(LOGITKIT_QUANT_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_QUANT_KERNELS_INL_H_
#undef LOGITKIT_QUANT_KERNELS_INL_H_
#else
#define LOGITKIT_QUANT_KERNELS_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#if HWY_ARCH_X86
#include <immintrin.h>
#endif
#include "logitkit/quant.h"
#include "ops/dot-inl.h"
#include "ops/row_ops.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit::quant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One decoded block: kElements integers, and a scale and offset per group of
// kGroup consecutive elements.
template <int kElements, int kGroup>
struct Decoded {
  static constexpr int kGroups = kElements / kGroup;
  HWY_ALIGN int8_t q[kElements];
  float scale[kGroups];
  float offset[kGroups];
};

// Byte vectors of up to 16 lanes: one 128-bit vector on x86 targets, one lane
// on the scalar fallback. Byte loops below step over 16 bytes in Lanes(D8).
using D8 = hn::CappedTag<uint8_t, 16>;

// A block's float16 scale: one F16C instruction where the target has it
// (exact for every input), else the portable bit conversion.
HWY_INLINE float Half(const uint8_t* p) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(LoadU16(p));
#else
  return HalfToFloat(LoadU16(p));
#endif
}

// Stores the low and high nibbles of 16 bytes at p (minus `bias`) as q[0, 16)
// and q[16, 32) (the 32-element block order of ggml).
HWY_INLINE void StoreNibbles(const uint8_t* p, uint8_t bias, int8_t* q) {
  const D8 d8;
  uint8_t* u = reinterpret_cast<uint8_t*>(q);
  for (size_t k = 0; k < 16; k += hn::Lanes(d8)) {
    const auto v = hn::LoadU(d8, p + k);
    hn::StoreU(hn::Sub(hn::And(v, hn::Set(d8, 0x0F)), hn::Set(d8, bias)), d8, u + k);
    hn::StoreU(hn::Sub(hn::ShiftRight<4>(v), hn::Set(d8, bias)), d8, u + 16 + k);
  }
}

// The fifth bits of a Q5_0 / Q5_1 block (32 bits, bit k for element k), as
// 0x10 or 0 per element, added to the nibbles in q, minus `bias`.
HWY_INLINE void AddHighBits(const uint8_t* qh, uint8_t bias, int8_t* q) {
  const D8 d8;
  uint8_t high[32];
  for (int k = 0; k < 4; ++k) std::memcpy(high + 8 * k, &kBitBytes.table[qh[k]], 8);
  uint8_t* u = reinterpret_cast<uint8_t*>(q);
  for (size_t k = 0; k < 32; k += hn::Lanes(d8)) {
    const auto v = hn::Or(hn::LoadU(d8, u + k), hn::LoadU(d8, high + k));
    hn::StoreU(hn::Sub(v, hn::Set(d8, bias)), d8, u + k);
  }
}

// The offset of the types without one: −0, so that q · scale + offset keeps
// the sign of a zero product (0 · −d = −0), as ggml's plain product does.
constexpr float kNoOffset = -0.0f;

template <TensorType kType>
struct Format;

template <>
struct Format<TensorType::kQ8_0> {
  static constexpr bool kHasOffset = false;
  static constexpr int kBytes = sizeof(BlockQ8_0);
  using Block = Decoded<kQK, kQK>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    std::memcpy(out->q, b + offsetof(BlockQ8_0, qs), kQK);
    out->scale[0] = Half(b);
    out->offset[0] = kNoOffset;
  }
};

template <>
struct Format<TensorType::kQ4_0> {
  static constexpr bool kHasOffset = false;
  static constexpr int kBytes = sizeof(BlockQ4_0);
  using Block = Decoded<kQK, kQK>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    StoreNibbles(b + offsetof(BlockQ4_0, qs), 8, out->q);
    out->scale[0] = Half(b);
    out->offset[0] = kNoOffset;
  }
};

template <>
struct Format<TensorType::kQ4_1> {
  static constexpr bool kHasOffset = true;
  static constexpr int kBytes = sizeof(BlockQ4_1);
  using Block = Decoded<kQK, kQK>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    StoreNibbles(b + offsetof(BlockQ4_1, qs), 0, out->q);
    out->scale[0] = Half(b);
    out->offset[0] = Half(b + offsetof(BlockQ4_1, m));
  }
};

template <>
struct Format<TensorType::kQ5_0> {
  static constexpr bool kHasOffset = false;
  static constexpr int kBytes = sizeof(BlockQ5_0);
  using Block = Decoded<kQK, kQK>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    StoreNibbles(b + offsetof(BlockQ5_0, qs), 0, out->q);
    AddHighBits(b + offsetof(BlockQ5_0, qh), 16, out->q);
    out->scale[0] = Half(b);
    out->offset[0] = kNoOffset;
  }
};

template <>
struct Format<TensorType::kQ5_1> {
  static constexpr bool kHasOffset = true;
  static constexpr int kBytes = sizeof(BlockQ5_1);
  using Block = Decoded<kQK, kQK>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    StoreNibbles(b + offsetof(BlockQ5_1, qs), 0, out->q);
    AddHighBits(b + offsetof(BlockQ5_1, qh), 0, out->q);
    out->scale[0] = Half(b);
    out->offset[0] = Half(b + offsetof(BlockQ5_1, m));
  }
};

// The eight (d · scale_j, −dmin · min_j) pairs of a Q4_K / Q5_K super-block;
// both products are exact in float32.
template <class Block>
HWY_INLINE void ScalesK4(const uint8_t* b, Block* out) {
  const float d = Half(b);
  const float dmin = Half(b + 2);
  for (int j = 0; j < 8; ++j) {
    uint8_t scale, min;
    ScaleMinK4(j, b + offsetof(BlockQ4_K, scales), &scale, &min);
    out->scale[j] = d * float(scale);
    out->offset[j] = -(dmin * float(min));
  }
}

template <>
struct Format<TensorType::kQ4_K> {
  static constexpr bool kHasOffset = true;
  static constexpr int kBytes = sizeof(BlockQ4_K);
  using Block = Decoded<kQK_K, 32>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    // Chunk j of 64 elements: the low nibbles of qs[32j, 32j + 32), then the high.
    const uint8_t* qs = b + offsetof(BlockQ4_K, qs);
    const D8 d8;
    uint8_t* q = reinterpret_cast<uint8_t*>(out->q);
    for (int j = 0; j < 4; ++j) {
      for (size_t half = 0; half < 32; half += hn::Lanes(d8)) {
        const auto v = hn::LoadU(d8, qs + 32 * j + half);
        hn::StoreU(hn::And(v, hn::Set(d8, 0x0F)), d8, q + 64 * j + half);
        hn::StoreU(hn::ShiftRight<4>(v), d8, q + 64 * j + 32 + half);
      }
    }
    ScalesK4(b, out);
  }
};

template <>
struct Format<TensorType::kQ5_K> {
  static constexpr bool kHasOffset = true;
  static constexpr int kBytes = sizeof(BlockQ5_K);
  using Block = Decoded<kQK_K, 32>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    // As Q4_K; the fifth bit of element l of chunk j is bit 2j (low nibbles)
    // or 2j + 1 (high nibbles) of qh[l].
    const uint8_t* qs = b + offsetof(BlockQ5_K, qs);
    const uint8_t* qh = b + offsetof(BlockQ5_K, qh);
    const D8 d8;
    const auto sixteen = hn::Set(d8, 16);
    uint8_t* q = reinterpret_cast<uint8_t*>(out->q);
    for (size_t half = 0; half < 32; half += hn::Lanes(d8)) {
      const auto high = hn::LoadU(d8, qh + half);
      for (int j = 0; j < 4; ++j) {
        const auto v = hn::LoadU(d8, qs + 32 * j + half);
        const auto bit_lo = hn::TestBit(high, hn::Set(d8, uint8_t(1u << (2 * j))));
        const auto bit_hi = hn::TestBit(high, hn::Set(d8, uint8_t(1u << (2 * j + 1))));
        const auto lo = hn::Or(hn::And(v, hn::Set(d8, 0x0F)), hn::IfThenElseZero(bit_lo, sixteen));
        const auto hi = hn::Or(hn::ShiftRight<4>(v), hn::IfThenElseZero(bit_hi, sixteen));
        hn::StoreU(lo, d8, q + 64 * j + half);
        hn::StoreU(hi, d8, q + 64 * j + 32 + half);
      }
    }
    ScalesK4(b, out);
  }
};

template <>
struct Format<TensorType::kQ6_K> {
  static constexpr bool kHasOffset = false;
  static constexpr int kBytes = sizeof(BlockQ6_K);
  using Block = Decoded<kQK_K, 16>;
  static HWY_INLINE void Decode(const uint8_t* b, Block* out) {
    // Half h of 128 elements, l in [0, 32), two bits of qh[32h + l] each:
    //   q[l]      = ql[64h + l] & 15      | (qh >> 0 & 3) << 4
    //   q[l + 32] = ql[64h + l + 32] & 15 | (qh >> 2 & 3) << 4
    //   q[l + 64] = ql[64h + l] >> 4      | (qh >> 4 & 3) << 4
    //   q[l + 96] = ql[64h + l + 32] >> 4 | (qh >> 6 & 3) << 4,   all minus 32.
    const uint8_t* ql = b + offsetof(BlockQ6_K, ql);
    const uint8_t* qh = b + offsetof(BlockQ6_K, qh);
    const D8 d8;
    const auto low4 = hn::Set(d8, 0x0F);
    const auto bits45 = hn::Set(d8, 0x30);
    const auto bias = hn::Set(d8, 32);
    uint8_t* q = reinterpret_cast<uint8_t*>(out->q);
    for (int h = 0; h < 2; ++h) {
      for (size_t l = 0; l < 32; l += hn::Lanes(d8)) {
        const auto a = hn::LoadU(d8, ql + 64 * h + l);
        const auto c = hn::LoadU(d8, ql + 64 * h + 32 + l);
        const auto hb = hn::LoadU(d8, qh + 32 * h + l);
        uint8_t* o = q + 128 * h + l;
        hn::StoreU(hn::Sub(hn::Or(hn::And(a, low4), hn::And(hn::ShiftLeft<4>(hb), bits45)), bias), d8, o);
        hn::StoreU(hn::Sub(hn::Or(hn::And(c, low4), hn::And(hn::ShiftLeft<2>(hb), bits45)), bias), d8, o + 32);
        hn::StoreU(hn::Sub(hn::Or(hn::ShiftRight<4>(a), hn::And(hb, bits45)), bias), d8, o + 64);
        hn::StoreU(hn::Sub(hn::Or(hn::ShiftRight<4>(c), hn::And(hn::ShiftRight<2>(hb), bits45)), bias), d8, o + 96);
      }
    }
    const float d = Half(b + offsetof(BlockQ6_K, d));
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales));
    for (int g = 0; g < 16; ++g) {
      out->scale[g] = d * float(scales[g]);
      out->offset[g] = kNoOffset;
    }
  }
};

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// w = q · scale + offset for the N elements of group-vector q.
HWY_INLINE VF Weights(DF df, const int8_t* q, VF scale, VF offset) {
  const hn::Rebind<int8_t, DF> d8;
  const hn::Rebind<int32_t, DF> d32;
  return hn::MulAdd(hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, q))), scale, offset);
}

template <TensorType kType>
HWY_INLINE void DequantizeBlocks(const uint8_t* src, size_t n, float* dst) {
  using F = Format<kType>;
  using Block = typename F::Block;
  constexpr int kGroup = sizeof(Block::q) / Block::kGroups;
  const DF df;
  const size_t N = hn::Lanes(df);
  Block block;
  for (size_t i = 0; i < n; i += sizeof(Block::q), src += F::kBytes) {
    F::Decode(src, &block);
    for (int g = 0; g < Block::kGroups; ++g) {
      const VF scale = hn::Set(df, block.scale[g]);
      const VF offset = hn::Set(df, block.offset[g]);
      for (size_t k = 0; k < size_t(kGroup); k += N) {
        hn::StoreU(Weights(df, block.q + g * kGroup + k, scale, offset), df, dst + i + g * kGroup + k);
      }
    }
  }
}

// Q4_0 and Q4_1 skip the decoded copy: their nibbles go from the block's
// bytes straight into float lanes (bench/model-files.md has the gain).
// Element e < 16 is the low nibble of qs[e], e >= 16 the high nibble of
// qs[e - 16]; w = q·d + m (Q4_1), or q·d − 8d for Q4_0's d·(q − 8) (8d is
// exact). The one-row and the several-row kernels both take their weights
// from NibbleWeights, so they agree bit for bit by construction. The scalar
// target (one lane) decodes the block as the other types do.
template <TensorType kType>
constexpr bool kNibblesInPlace =
    (kType == TensorType::kQ4_0 || kType == TensorType::kQ4_1) && HWY_TARGET != HWY_SCALAR;

// The scale and offset of a Q4_0 / Q4_1 block, in every lane.
template <TensorType kType>
HWY_INLINE void NibbleScaleOffset(DF df, const uint8_t* block, VF* scale, VF* offset) {
  const float d = Half(block);
  *scale = hn::Set(df, d);
  if constexpr (kType == TensorType::kQ4_1) {
    *offset = hn::Set(df, Half(block + offsetof(BlockQ4_1, m)));
  } else {
    *offset = hn::Set(df, -8.0f * d);
  }
}

// Weights [e, e + Lanes(df)) of a Q4_0 / Q4_1 block. REQUIRES: e a multiple of Lanes(df).
template <TensorType kType>
HWY_INLINE VF NibbleWeights(DF df, const uint8_t* block, size_t e, VF scale, VF offset) {
  const hn::Rebind<uint8_t, DF> du8;
  const hn::RebindToUnsigned<DF> du32;
  constexpr size_t kQs = kType == TensorType::kQ4_1 ? offsetof(BlockQ4_1, qs) : offsetof(BlockQ4_0, qs);
  const uint8_t* qs = block + kQs;
  const auto bytes = hn::PromoteTo(du32, hn::LoadU(du8, qs + (e & 15)));
  const auto q = e < 16 ? hn::And(bytes, hn::Set(du32, 0x0Fu)) : hn::ShiftRight<4>(bytes);
  return hn::MulAdd(hn::ConvertTo(df, hn::BitCast(hn::RebindToSigned<DF>(), q)), scale, offset);
}

// Weights [e, e + Lanes(df)) of a decoded block.
template <class Block>
HWY_INLINE VF DecodedWeights(DF df, const Block& block, size_t e) {
  constexpr size_t kGroup = sizeof(Block::q) / Block::kGroups;
  const size_t g = e / kGroup;
  return Weights(df, block.q + e, hn::Set(df, block.scale[g]), hn::Set(df, block.offset[g]));
}

// Weight rows are read once per token, streamed from memory (a model is
// larger than the caches). The hardware prefetcher alone keeps too few lines
// in flight for a loop that does this much work per byte: a decode step
// read Q4_1 rows at 2.5 GB/s of a Xeon's 14. So the kernels ask for each
// cache line kPrefetchBytes before they reach it (BM_Dot/Q4_1/dram 2.2x
// faster there; 1024 bytes ahead gave 1.9x, 4096 the same as 2048; in-cache
// rows pay for the extra instructions: bench/model-files.md). On an AMD
// EPYC (Zen 4) the same prefetch is neutral for these kernels. Only the float
// kernels of block types prefetch: see DotBlocksQuantized for why the integer
// one does not. Prefetches never fault, so asking past a row's or a file's end
// is harmless, and the addresses are computed as integers.
constexpr size_t kPrefetchBytes = 2048;

template <class F>
HWY_INLINE void PrefetchAhead(const uint8_t* block) {
  // The lines that start in [block, block + kBytes) + kPrefetchBytes: over a
  // row, each line is asked for once (at most one per block below 64 bytes).
  const uintptr_t ahead = reinterpret_cast<uintptr_t>(block) + kPrefetchBytes;
  for (uintptr_t line = (ahead + 63) & ~uintptr_t{63}; line < ahead + F::kBytes; line += 64) {
    hwy::Prefetch(reinterpret_cast<const uint8_t*>(line));
  }
}

// Two accumulators, alternate vectors: every block holds an even number of
// vectors (32 or 256 elements, at most 16 lanes), so both stay in registers.
template <TensorType kType>
HWY_INLINE float DotBlocks(const uint8_t* src, const float* x, size_t n) {
  using F = Format<kType>;
  using Block = typename F::Block;
  constexpr size_t kElements = sizeof(Block::q);
  const DF df;
  const size_t N = hn::Lanes(df);
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  Block block;
  for (size_t i = 0; i < n; i += kElements, src += F::kBytes) {
    PrefetchAhead<F>(src);
    if constexpr (kNibblesInPlace<kType>) {
      VF scale, offset;
      NibbleScaleOffset<kType>(df, src, &scale, &offset);
      for (size_t e = 0; e < kElements; e += 2 * N) {
        acc0 = hn::MulAdd(NibbleWeights<kType>(df, src, e, scale, offset), hn::LoadU(df, x + i + e), acc0);
        const VF w1 = NibbleWeights<kType>(df, src, e + N, scale, offset);
        acc1 = hn::MulAdd(w1, hn::LoadU(df, x + i + e + N), acc1);
      }
    } else {
      F::Decode(src, &block);
      for (size_t e = 0; e < kElements; e += 2 * N) {
        // Both weight vectors first: the loads of the block go out together.
        const VF w0 = DecodedWeights(df, block, e), w1 = DecodedWeights(df, block, e + N);
        acc0 = hn::MulAdd(w0, hn::LoadU(df, x + i + e), acc0);
        acc1 = hn::MulAdd(w1, hn::LoadU(df, x + i + e + N), acc1);
      }
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
}

// out[t] = DotBlocks<kType>(src, x + t * n, n) for t < count (<= kMaxDotBatch),
// bitwise: each block's weight vectors are computed once, by the functions
// DotBlocks computes them with, and every row of x then gets DotBlocks's
// multiply-adds in DotBlocks's order.
template <TensorType kType>
HWY_INLINE void DotBlocksRows(const uint8_t* src, const float* x, size_t n, size_t count, float* out) {
  using F = Format<kType>;
  using Block = typename F::Block;
  constexpr size_t kElements = sizeof(Block::q);
  const DF df;
  const size_t N = hn::Lanes(df);
  VF acc0[kMaxDotBatch], acc1[kMaxDotBatch];
  for (size_t t = 0; t < count; ++t) acc0[t] = acc1[t] = hn::Zero(df);
  HWY_ALIGN float w[kElements];
  Block block;
  for (size_t i = 0; i < n; i += kElements, src += F::kBytes) {
    PrefetchAhead<F>(src);
    if constexpr (kNibblesInPlace<kType>) {
      VF scale, offset;
      NibbleScaleOffset<kType>(df, src, &scale, &offset);
      for (size_t e = 0; e < kElements; e += N) {
        hn::Store(NibbleWeights<kType>(df, src, e, scale, offset), df, w + e);
      }
    } else {
      F::Decode(src, &block);
      for (size_t e = 0; e < kElements; e += N) hn::Store(DecodedWeights(df, block, e), df, w + e);
    }
    for (size_t t = 0; t < count; ++t) {
      const float* xt = x + t * n + i;
      for (size_t e = 0; e < kElements; e += 2 * N) {
        acc0[t] = hn::MulAdd(hn::Load(df, w + e), hn::LoadU(df, xt + e), acc0[t]);
        acc1[t] = hn::MulAdd(hn::Load(df, w + e + N), hn::LoadU(df, xt + e + N), acc1[t]);
      }
    }
  }
  for (size_t t = 0; t < count; ++t) out[t] = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0[t], acc1[t])));
}

// Σ w·xq with integer activations xq = x.scale[i / 32] · x.q[i], for `count`
// activation rows x[0, count) (count <= kMaxDotBatch) against one weight row,
// decoded once: per group, the integer products are summed exactly in int32,
// then scaled once in float. Each x gets the same operations in the same
// order whatever count is, so a batch equals its rows one at a time.
// No PrefetchAhead here: with it, BM_DotInt8/Q8_0 ran at 0.75x in cache (2.05x
// from DRAM) on a Xeon, and at 0.80x in cache and 0.88x from DRAM on an AMD
// EPYC, where Q4_0's fell to 0.735x in cache (bench/ab-issue16.md).
template <TensorType kType>
HWY_INLINE void DotBlocksQuantized(const uint8_t* src, const QuantizedRow* x, size_t count, float* out) {
  using F = Format<kType>;
  using Block = typename F::Block;
  constexpr size_t kGroup = sizeof(Block::q) / Block::kGroups;
  static_assert(kGroup == 16 || kGroup == 32, "a group lies within one 32-element block of x");
  const size_t n = x[0].n;
  Block block;
  float offsets[kMaxDotBatch] = {};  // Σ_g offset_g · Σ_{i in g} xq_i
#if HWY_TARGET == HWY_SCALAR
  float sums[kMaxDotBatch] = {};
  for (size_t i = 0; i < n; i += sizeof(Block::q), src += F::kBytes) {
    F::Decode(src, &block);
    for (int g = 0; g < Block::kGroups; ++g) {
      const size_t at = i + g * kGroup;
      for (size_t t = 0; t < count; ++t) {
        int32_t dot = 0;
        for (size_t k = 0; k < kGroup; ++k) dot += int32_t(block.q[g * kGroup + k]) * x[t].q[at + k];
        sums[t] += block.scale[g] * x[t].scale[at / 32] * float(dot);
        if constexpr (F::kHasOffset) {
          offsets[t] += block.offset[g] * x[t].scale[at / 32] * float(x[t].Sum16(at, kGroup));
        }
      }
    }
  }
  for (size_t t = 0; t < count; ++t) out[t] = sums[t] + offsets[t];
#else
  const hn::CappedTag<int16_t, 16> d16;        // 16 products per step at most
  const hn::Rebind<int8_t, decltype(d16)> d8;  // the int8 weights of one step
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::RebindToFloat<decltype(d32)> df;
  using VF32 = hn::Vec<decltype(df)>;
  VF32 acc[kMaxDotBatch];
  for (size_t t = 0; t < count; ++t) acc[t] = hn::Zero(df);
  for (size_t i = 0; i < n; i += sizeof(Block::q), src += F::kBytes) {
    F::Decode(src, &block);
    for (int g = 0; g < Block::kGroups; ++g) {
      const size_t at = i + g * kGroup;
      for (size_t t = 0; t < count; ++t) {
        auto sum0 = hn::Zero(d32), sum1 = hn::Zero(d32);
        for (size_t k = 0; k < kGroup; k += hn::Lanes(d16)) {
          const auto a = hn::PromoteTo(d16, hn::LoadU(d8, block.q + g * kGroup + k));
          const auto b = hn::LoadU(d16, x[t].q.data() + at + k);
          sum0 = hn::ReorderWidenMulAccumulate(d32, a, b, sum0, sum1);
        }
        const auto dot = hn::ConvertTo(df, hn::RearrangeToOddPlusEven(sum0, sum1));
        acc[t] = hn::MulAdd(dot, hn::Set(df, block.scale[g] * x[t].scale[at / 32]), acc[t]);
        if constexpr (F::kHasOffset) {
          offsets[t] += block.offset[g] * x[t].scale[at / 32] * float(x[t].Sum16(at, kGroup));
        }
      }
    }
  }
  for (size_t t = 0; t < count; ++t) out[t] = hn::GetLane(hn::SumOfLanes(df, acc[t])) + offsets[t];
#endif
}

// x -> integers per block of 32: scale = max|x| / qmax, q = round(x / scale)
// (ties away from zero), as ggml's quantize_row_q8_0 but with a float32 scale.
HWY_INLINE void QuantizeBlocks(const float* x, size_t n, QuantizedRow* out) {
  const float qmax = out->bits == 8 ? 127.0f : 32767.0f;
  for (size_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
    float amax = 0.0f;
    for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(xb[k]));
    const float scale = amax / qmax;
    // In double: q is within half a step of x / scale (to 1e-15).
    const double inverse = scale > 0 ? 1.0 / double(scale) : 0.0;
    out->scale[b] = scale;
    for (int half = 0; half < 2; ++half) {
      int32_t sum = 0;
      for (int k = 16 * half; k < 16 * half + 16; ++k) {
        // amax / float(amax / qmax) may exceed qmax by a rounding: clamp.
        const long q = std::min(std::lround(std::fabs(double(xb[k])) * inverse), long(qmax));
        out->q[32 * b + k] = int16_t(xb[k] < 0 ? -q : q);
        sum += out->q[32 * b + k];
      }
      out->sum16[2 * b + half] = sum;
    }
  }
}

// 16-bit float rows. bfloat16 is float32's top half on every target; float16
// converts in registers where the target has F16C (exact for every input),
// else 256 elements at a time through ops::LoadRow's portable conversion.
// Two accumulators and a scalar tail.
HWY_INLINE float DotHalves(FloatType type, const uint16_t* src, const float* x, size_t n) {
#if !(HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2)
  if (type == FloatType::kF16) {
    HWY_ALIGN float buffer[256];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i += 256) {
      const size_t m = n - i < 256 ? n - i : 256;
      ops::LoadRow(src + i, type, m, 1.0f, buffer);
      sum += ops::HWY_NAMESPACE::DotF32(buffer, x + i, m);
    }
    return sum;
  }
#endif
  const DF df;
  const hn::RebindToUnsigned<DF> du32;
  const hn::Rebind<uint16_t, DF> du16;
  const size_t N = hn::Lanes(df);
  auto load = [&](size_t i) -> VF {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    if (type == FloatType::kF16) {
      const hn::Rebind<hwy::float16_t, DF> dh;
      return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(src + i)));
    }
#endif
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, src + i))));
  };
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(load(i), hn::LoadU(df, x + i), acc0);
    acc1 = hn::MulAdd(load(i + N), hn::LoadU(df, x + i + N), acc1);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) {
    float w;
    if (type == FloatType::kF16) {
      w = HalfToFloat(src[i]);
    } else {
      const uint32_t bits = uint32_t(src[i]) << 16;
      std::memcpy(&w, &bits, 4);
    }
    sum += w * x[i];
  }
  return sum;
}

// The kernels over blocks, each as a Run<kType> for the one list of block
// types below. Structs, not lambdas: a lambda does not take the target
// attributes of the code around it, and with generic lambdas here GCC 12
// silently dropped the AVX2 instance's Q6_K dequantization.
template <TensorType kType>
struct DequantizeKernel {
  static HWY_INLINE void Run(const uint8_t* src, size_t n, float* dst) { DequantizeBlocks<kType>(src, n, dst); }
};
template <TensorType kType>
struct DotKernel {
  static HWY_INLINE void Run(const uint8_t* src, const float* x, size_t n, float* out) {
    *out = DotBlocks<kType>(src, x, n);
  }
};
template <TensorType kType>
struct DotRowsKernel {
  static HWY_INLINE void Run(const uint8_t* src, const float* x, size_t n, size_t count, float* out) {
    DotBlocksRows<kType>(src, x, n, count, out);
  }
};
template <TensorType kType>
struct DotQuantizedKernel {
  static HWY_INLINE void Run(const uint8_t* src, const QuantizedRow* x, size_t count, float* out) {
    DotBlocksQuantized<kType>(src, x, count, out);
  }
};

// The one list of block types the kernels take: runs Kernel<type>::Run(args)
// and returns true for a block type; false for any other type (the float
// types are the callers' own case). A new block type is one Format<> above
// and one case here.
template <template <TensorType> class Kernel, class... Args>
HWY_INLINE bool RunForBlockType(TensorType type, Args... args) {
  switch (type) {
    case TensorType::kQ8_0: Kernel<TensorType::kQ8_0>::Run(args...); return true;
    case TensorType::kQ4_0: Kernel<TensorType::kQ4_0>::Run(args...); return true;
    case TensorType::kQ4_1: Kernel<TensorType::kQ4_1>::Run(args...); return true;
    case TensorType::kQ5_0: Kernel<TensorType::kQ5_0>::Run(args...); return true;
    case TensorType::kQ5_1: Kernel<TensorType::kQ5_1>::Run(args...); return true;
    case TensorType::kQ4_K: Kernel<TensorType::kQ4_K>::Run(args...); return true;
    case TensorType::kQ5_K: Kernel<TensorType::kQ5_K>::Run(args...); return true;
    case TensorType::kQ6_K: Kernel<TensorType::kQ6_K>::Run(args...); return true;
    default: return false;
  }
}

HWY_NOINLINE void DequantizeRowImpl(TensorType type, const void* src_bytes, size_t n, float* dst) {
  const uint8_t* src = static_cast<const uint8_t*>(src_bytes);
  switch (type) {
    case TensorType::kF32: std::memcpy(dst, src, n * sizeof(float)); return;
    case TensorType::kF16: ops::LoadRow(src, FloatType::kF16, n, 1.0f, dst); return;
    case TensorType::kBF16: ops::LoadRow(src, FloatType::kBF16, n, 1.0f, dst); return;
    default: RunForBlockType<DequantizeKernel>(type, src, n, dst);
  }
}

HWY_NOINLINE float DotRowImpl(TensorType type, const void* src_bytes, const float* x, size_t n) {
  const uint8_t* src = static_cast<const uint8_t*>(src_bytes);
  switch (type) {
    case TensorType::kF32: return ops::HWY_NAMESPACE::DotF32(reinterpret_cast<const float*>(src), x, n);
    case TensorType::kF16: return DotHalves(FloatType::kF16, reinterpret_cast<const uint16_t*>(src), x, n);
    case TensorType::kBF16: return DotHalves(FloatType::kBF16, reinterpret_cast<const uint16_t*>(src), x, n);
    default: {
      float dot = 0.0f;
      RunForBlockType<DotKernel>(type, src, x, n, &dot);
      return dot;
    }
  }
}

HWY_NOINLINE void DotRowsImpl(TensorType type, const void* src_bytes, const float* x, size_t n, size_t count,
                               float* out) {
  const uint8_t* src = static_cast<const uint8_t*>(src_bytes);
  if (count == 1) {  // one token: DotRow itself keeps the weights in registers
    out[0] = DotRowImpl(type, src, x, n);
    return;
  }
  if (!RunForBlockType<DotRowsKernel>(type, src, x, n, count, out)) {  // float rows: nothing to decode
    for (size_t t = 0; t < count; ++t) out[t] = DotRowImpl(type, src, x + t * n, n);
  }
}

HWY_NOINLINE void DotRowsQuantizedImpl(TensorType type, const void* src_bytes, const QuantizedRow* x, size_t count,
                                float* out) {
  RunForBlockType<DotQuantizedKernel>(type, static_cast<const uint8_t*>(src_bytes), x, count, out);
}

HWY_NOINLINE void QuantizeImpl(const float* x, size_t n, QuantizedRow* out) { QuantizeBlocks(x, n, out); }

HWY_NOINLINE const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace logitkit::quant
HWY_AFTER_NAMESPACE();

#endif  // include guard
