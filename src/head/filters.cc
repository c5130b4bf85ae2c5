#include "head/filters.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"
#include "head/select.h"

namespace logitkit::head {
namespace {

// Once a dense row keeps at most 1/8 of its tokens, later stages run on a
// compact id list instead of the whole vocabulary.
void MaybeCompact(Candidates& c, size_t n_kept, RowScratch& s) {
  if (c.ids != nullptr || n_kept * 8 > c.n) return;
  uint32_t* positions = s.members.Get(c.n);
  const size_t kept = ops::FindFinite(c.vals, c.n, positions);
  LK_DCHECK(kept == n_kept);
  float* vals = s.sparse_vals.Get(kept);
  float* exps = s.sparse_exps.Get(kept);
  int32_t* ids = s.sparse_ids.Get(kept);
  for (size_t j = 0; j < kept; ++j) {
    vals[j] = c.vals[positions[j]];
    if (c.exps_valid) exps[j] = c.exps[positions[j]];
    ids[j] = static_cast<int32_t>(positions[j]);
  }
  c.vals = vals;
  c.vals_borrowed = false;
  c.exps = exps;
  c.ids = ids;
  c.n = kept;
}

// Keeps key >= cut.key, and of the elements with key == cut.key only the first
// cut.ties_kept (lowest ids). key may alias c.vals.
void ApplyCut(Candidates& c, const float* key, const PrefixCut& cut, RowScratch& s) {
  if (cut.all) return;
  MakeWritable(c, s);  // key keeps pointing at the same values
  const size_t kept =
      ops::MaskBelow(key, c.n, cut.key, c.vals, c.exps_valid ? c.exps : nullptr);
  if (kept > cut.n_kept) {  // the boundary splits a group of ties
    size_t ties = 0;
    for (size_t i = 0; i < c.n; ++i) {
      if (key[i] == cut.key && ties++ >= cut.ties_kept) {
        c.vals[i] = kNegInf;
        if (c.exps_valid) c.exps[i] = 0.0f;
      }
    }
  }
  MaybeCompact(c, cut.n_kept, s);
}

}  // namespace

void MakeWritable(Candidates& c, RowScratch& s) {
  if (!c.vals_borrowed) return;
  float* copy = s.work.Get(c.n);
  std::copy(c.vals, c.vals + c.n, copy);
  c.vals = copy;
  c.vals_borrowed = false;
}

ops::ExpSums EnsureExps(Candidates& c, bool weighted) {
  LK_DCHECK(std::isfinite(c.max));
  if (c.exps_valid && c.sum_valid && !weighted && c.shift == c.max) {
    return ops::ExpSums{c.exp_sum, 0.0};
  }
  const ops::ExpSums sums = ops::ExpShifted(c.vals, c.n, c.max, c.exps, weighted);
  c.exps_valid = true;
  c.sum_valid = true;
  c.shift = c.max;
  c.exp_sum = sums.sum;
  return sums;
}

bool ApplyTemperature(Candidates& c, float temperature, RowScratch& s) {
  if (temperature == 1.0f) return true;
  MakeWritable(c, s);
  const bool ok = ops::DivideInPlace(c.vals, c.n, temperature);
  c.max = c.max / temperature;  // division by T > 0 is monotone: the max stays the max
  c.exps_valid = false;
  return ok;
}

void FilterTopK(Candidates& c, size_t k, RowScratch& s) {
  std::vector<int32_t>& keep = s.kept_positions;
  TopKPositions(c.vals, c.n, k, s, keep);
  if (keep.size() == CountKept(c)) return;
  // Compact to the kept positions. Positions ascend, so in place is safe for a
  // sparse set; a dense one (possibly borrowed) moves to the sparse buffers.
  float* vals = c.ids != nullptr ? c.vals : s.sparse_vals.Get(keep.size());
  int32_t* ids = c.ids != nullptr ? c.ids : s.sparse_ids.Get(keep.size());
  float* exps = c.ids != nullptr ? c.exps : s.sparse_exps.Get(keep.size());
  for (size_t j = 0; j < keep.size(); ++j) {
    const size_t i = static_cast<size_t>(keep[j]);
    vals[j] = c.vals[i];
    if (c.exps_valid) exps[j] = c.exps[i];
    ids[j] = c.Id(i);
  }
  c.vals = vals;
  c.vals_borrowed = false;
  c.ids = ids;
  c.exps = exps;
  c.n = keep.size();
  c.sum_valid = false;
}

// Real rows put most of the mass on a few tokens: look for the top-p boundary
// among the 64 highest first. The walk adds the same per-token doubles that
// make up the total, so the answer is the one the general path would give.
// Returns false (and changes nothing) when the 64 do not reach p.
bool TopPAmongTheHighest(Candidates& c, double p, RowScratch& s) {
  constexpr size_t kHighest = 64;
  std::vector<int32_t>& top = s.kept_positions;
  TopKPositions(c.vals, c.n, kHighest, s, top);
  const float* vals = c.vals;
  std::stable_sort(top.begin(), top.end(), [vals](int32_t a, int32_t b) { return vals[a] > vals[b]; });
  const double target = p * ops::SumToDouble(c.exps, c.n);
  double mass = 0;
  size_t len = 0;
  while (len < top.size() && mass < target) mass += c.exps[top[len++]];
  if (mass < target) return false;
  top.resize(len);
  std::sort(top.begin(), top.end());  // back to id order
  float* new_vals = s.sparse_vals.Get(len);
  float* new_exps = s.sparse_exps.Get(len);
  int32_t* new_ids = s.sparse_ids.Get(len);
  for (size_t j = 0; j < len; ++j) {
    new_vals[j] = c.vals[top[j]];
    new_exps[j] = c.exps[top[j]];
    new_ids[j] = c.Id(static_cast<size_t>(top[j]));
  }
  c.vals = new_vals;
  c.vals_borrowed = false;
  c.exps = new_exps;
  c.ids = new_ids;
  c.n = len;
  c.sum_valid = false;
  return true;
}

void FilterTopP(Candidates& c, double p, RowScratch& s) {
  const ops::ExpSums sums = EnsureExps(c, false);
  // 64 tokens of exp <= 1 each (relative to the max) hold at most 64: skip the
  // shortcut when p of the total is clearly more than that (flat rows).
  if (c.ids == nullptr && c.n >= 4096 && p * sums.sum < 60.0 && TopPAmongTheHighest(c, p, s)) {
    return;
  }
  const PrefixCut cut = SelectTopMass(c.vals, c.exps, c.n, p, s);
  ApplyCut(c, c.vals, cut, s);
  c.sum_valid = false;  // exps stay valid per token, but their sum is stale
}

void FilterMinP(Candidates& c, double min_p, RowScratch& s) {
  MakeWritable(c, s);
  // q_i >= min_p · max q  <=>  x_i >= max x + ln(min_p), the sum in double.
  const float threshold = FloatThreshold(static_cast<double>(c.max) + std::log(min_p));
  ops::MaskBelow(c.vals, c.n, threshold, c.vals, c.exps_valid ? c.exps : nullptr);
  c.sum_valid = false;
}

void FilterTypicalP(Candidates& c, double p, RowScratch& s) {
  // With S = Σ exp(x - max) and W = Σ exp(x - max)(x - max):
  //   -ln q_i = (max - x_i) + ln S,   H = ln S - W / S,
  // so |-ln q_i - H| = |center - x_i| with center = max + W / S.
  const ops::ExpSums sums = EnsureExps(c, true);
  const double center = static_cast<double>(c.max) + sums.weighted / sums.sum;
  float* keys = s.keys.Get(c.n);
  ops::DistanceKeys(c.vals, c.n, static_cast<float>(center), keys);
  const PrefixCut cut = SelectTopMass(keys, c.exps, c.n, p, s);
  ApplyCut(c, keys, cut, s);
  c.max = ops::Max(c.vals, c.n);  // typical-p may remove the most probable token
  c.sum_valid = false;
}

void FilterTopNSigma(Candidates& c, double n_sigma, RowScratch& s) {
  MakeWritable(c, s);
  const ops::Moments m = ops::FiniteMoments(c.vals, c.n, c.max);
  const double mean = m.sum / static_cast<double>(m.count);
  const double variance = std::max(0.0, m.sum_sq / static_cast<double>(m.count) - mean * mean);
  const float threshold =
      FloatThreshold(static_cast<double>(c.max) - n_sigma * std::sqrt(variance));
  ops::MaskBelow(c.vals, c.n, threshold, c.vals, c.exps_valid ? c.exps : nullptr);
  c.sum_valid = false;
}

size_t Draw(Candidates& c, double u, RowScratch& s) {
  // Block sums find the block holding the target in n / 512 steps; only that
  // block is walked token by token. Without stored exps (no filter needed
  // them), each block's exps are summed without being written, and only the
  // chosen block's are computed again, by the same kernel, so the values agree.
  constexpr size_t kBlock = 512;
  const bool stored = c.exps_valid && c.shift - c.max <= 30.0f;  // else they may underflow
  if (!stored) {
    c.shift = c.max;
    c.exps_valid = false;  // whatever exps holds is not relative to the new shift
  }
  const size_t n_blocks = (c.n + kBlock - 1) / kBlock;
  s.block_sums.resize(n_blocks);
  if (stored) {
    ops::BlockSums(c.exps, c.n, kBlock, s.block_sums.data());
  } else {
    for (size_t b = 0; b < n_blocks; ++b) {
      const size_t len = std::min(kBlock, c.n - b * kBlock);
      s.block_sums[b] = ops::ExpShifted(c.vals + b * kBlock, len, c.shift, nullptr, false).sum;
    }
  }
  double total = 0;
  for (double b : s.block_sums) total += b;
  c.exp_sum = total;
  c.sum_valid = true;
  double remaining = u * total;
  size_t block = 0;
  while (block + 1 < n_blocks && remaining >= s.block_sums[block]) {
    remaining -= s.block_sums[block];
    ++block;
  }
  // Rounding may walk past the last block with mass: step back to it and take
  // its last kept token.
  if (s.block_sums[block] == 0) {
    while (block > 0 && s.block_sums[block] == 0) --block;
    remaining = std::numeric_limits<double>::infinity();
  }
  const size_t begin = block * kBlock, end = std::min(c.n, begin + kBlock);
  const float* exps = c.exps + begin;
  if (!stored) {
    float* block_exps = s.keys.Get(kBlock);
    ops::ExpShifted(c.vals + begin, end - begin, c.shift, block_exps, false);
    exps = block_exps;
  }
  size_t last_positive = begin;
  double running = 0;
  for (size_t i = begin; i < end; ++i) {
    const float e = exps[i - begin];
    if (e <= 0.0f) continue;
    last_positive = i;
    running += e;
    if (running > remaining) return i;
  }
  return last_positive;  // rounding: the target sits at the block's very end
}

size_t CountKept(const Candidates& c) {
  return c.n - ops::CountEqual(c.vals, c.n, kNegInf);
}

}  // namespace logitkit::head
