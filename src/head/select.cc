#include "head/select.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/check.h"
#include "ops/row_ops.h"

namespace logitkit::head {
namespace {

constexpr size_t kSortLimit = 64;

// Sorts the finite elements of a small level and walks them in rank order.
PrefixCut FinishBySort(const float* keys, const float* weights, size_t n, bool all_equal,
                       double target, double above_weight, size_t above_count,
                       std::vector<int32_t>& order) {
  order.clear();
  for (size_t i = 0; i < n; ++i) {
    if (keys[i] != kNegInf) order.push_back(static_cast<int32_t>(i));
  }
  // Level arrays are in position order, so a stable sort by key alone ranks
  // equal keys by position; a level of equal keys is ranked already.
  if (!all_equal) {
    std::stable_sort(order.begin(), order.end(),
                     [keys](int32_t a, int32_t b) { return keys[a] > keys[b]; });
  }
  PrefixCut cut;
  double total = above_weight;
  for (size_t j = 0; j < order.size(); ++j) {
    total += weights != nullptr ? static_cast<double>(weights[order[j]]) : 1.0;
    if (total >= target || j + 1 == order.size()) {
      cut.key = keys[order[j]];
      cut.n_kept = above_count + j + 1;
      for (size_t t = j + 1; t-- > 0 && keys[order[t]] == cut.key;) ++cut.ties_kept;
      return cut;
    }
  }
  cut.n_kept = above_count;
  return cut;
}

// `target` is a count for unit weights, and a fraction of the total weight
// otherwise: the total is summed from the same doubles the walk adds, so the
// two agree to the last bit whatever the caller's own sum says.
PrefixCut SelectPrefixLevels(const float* keys, const float* weights, size_t n, double target,
                             RowScratch& s) {
  const float* k = keys;
  const float* w = weights;
  size_t m = n;
  double above_weight = 0;
  size_t above_count = 0;
  for (int level = 0;; ++level) {
    const ops::FiniteRange range = ops::FiniteMinMax(k, m);
    const float lo = range.min, hi = range.max;
    const size_t finite = range.count;
    if (finite == 0) {
      PrefixCut cut;
      cut.all = level == 0;
      cut.n_kept = above_count;
      return cut;
    }
    if (level == 0 && w == nullptr && static_cast<double>(finite) < target) {
      PrefixCut cut;  // fewer elements than the count asked for
      cut.all = true;
      cut.n_kept = finite;
      return cut;
    }
    if (level == 0 && w != nullptr && (finite <= kSortLimit || lo == hi)) {
      double total = 0;
      for (size_t i = 0; i < m; ++i) total += w[i];  // -inf keys carry weight 0
      target *= total;
    }
    if (finite <= kSortLimit || lo == hi) {
      return FinishBySort(k, w, m, lo == hi, target, above_weight, above_count, s.order);
    }
    // Linear buckets over [lo, hi]; the bucket index is monotone in the key, so
    // buckets are ranked like their members. lo lands in bucket 0 and hi in the
    // last, so each level keeps a strict subset and the loop ends.
    const size_t n_buckets = m > 16384 ? 2048 : 256;
    uint16_t* bucket = s.buckets.Get(m);
    const float width = hi - lo;
    const float float_scale = static_cast<float>(n_buckets) / width;
    if (std::isfinite(width) && std::isfinite(float_scale)) {
      ops::BucketIndex(k, m, lo, float_scale,
                       static_cast<uint16_t>(n_buckets - 1), bucket);
    } else {  // the width or its inverse overflows float: the same buckets in double
      const double scale = static_cast<double>(n_buckets) / (static_cast<double>(hi) - lo);
      for (size_t i = 0; i < m; ++i) {
        bucket[i] = k[i] == kNegInf ? ops::kNoBucket
                                    : static_cast<uint16_t>(std::min<double>(
                                          n_buckets - 1, (static_cast<double>(k[i]) - lo) * scale));
      }
    }
    // Weighted: masses only (counts come from one SIMD pass at the end);
    // unit weights: counts only. Either way one scatter per element.
    s.hist_weight.assign(n_buckets, 0.0);
    s.hist_count.assign(n_buckets, 0);
    if (w != nullptr) {
      for (size_t i = 0; i < m; ++i) {
        if (bucket[i] != ops::kNoBucket) s.hist_weight[bucket[i]] += w[i];
      }
    } else {
      for (size_t i = 0; i < m; ++i) {
        if (bucket[i] != ops::kNoBucket) ++s.hist_count[bucket[i]];
      }
      for (size_t b = 0; b < n_buckets; ++b) s.hist_weight[b] = s.hist_count[b];
    }
    if (level == 0 && w != nullptr) {
      double total = 0;
      for (double b : s.hist_weight) total += b;
      target *= total;
    }
    // A bucket with no mass cannot hold the element that reaches the target.
    size_t boundary = n_buckets;
    bool reached = false;
    for (size_t b = n_buckets; b-- > 0;) {
      if (s.hist_weight[b] == 0) continue;
      boundary = b;
      if (above_weight + s.hist_weight[b] >= target) {
        reached = true;
        break;
      }
      above_weight += s.hist_weight[b];
      above_count += s.hist_count[b];
    }
    LK_DCHECK(boundary < n_buckets);
    if (!reached) {
      if (level == 0) {  // the whole set does not reach the target: keep it all
        PrefixCut cut;
        cut.all = true;
        cut.n_kept = finite;
        return cut;
      }
      // Rounding left the target just out of reach: the prefix is everything.
      above_weight -= s.hist_weight[boundary];
      above_count -= s.hist_count[boundary];
    }
    // Gather the boundary bucket's members, in position order, for the next level.
    uint32_t* members = s.members.Get(m);
    const size_t n_members =
        ops::FindBucket(bucket, m, static_cast<uint16_t>(boundary), members);
    s.sel_keys2.resize(n_members);
    s.sel_weights2.resize(w != nullptr ? n_members : 0);
    for (size_t j = 0; j < n_members; ++j) {
      s.sel_keys2[j] = k[members[j]];
      if (w != nullptr) s.sel_weights2[j] = w[members[j]];
    }
    std::swap(s.sel_keys, s.sel_keys2);
    std::swap(s.sel_weights, s.sel_weights2);
    k = s.sel_keys.data();
    w = w != nullptr ? s.sel_weights.data() : nullptr;
    m = s.sel_keys.size();
  }
}

}  // namespace

PrefixCut SelectTopCount(const float* keys, size_t n, size_t count, RowScratch& s) {
  return SelectPrefixLevels(keys, nullptr, n, static_cast<double>(count), s);
}

PrefixCut SelectTopMass(const float* keys, const float* weights, size_t n, double fraction,
                        RowScratch& s) {
  PrefixCut cut = SelectPrefixLevels(keys, weights, n, fraction, s);
  if (!cut.all) {  // weighted levels count nothing: count now
    cut.n_kept = ops::CountGreater(keys, n, cut.key) + cut.ties_kept;
  }
  return cut;
}

void TopKPositions(const float* x, size_t n, size_t k, RowScratch& s, std::vector<int32_t>& out) {
  out.clear();
  if (k == 0 || n == 0) return;
  constexpr size_t kBlock = 64;
  float threshold = kNegInf;
  size_t ties_kept = 0;
  bool gathered = false;
  if (n >= 4096 && k * kBlock <= n) {
    // The k-th largest block maximum t0 has at least k elements >= it, so the
    // k highest values all lie in blocks whose maximum is >= t0.
    const size_t n_blocks = (n + kBlock - 1) / kBlock;
    s.block_max.resize(n_blocks);
    ops::BlockMax(x, n, kBlock, s.block_max.data());
    std::vector<float>& vals = s.gather_vals;
    vals = s.block_max;
    std::nth_element(vals.begin(), vals.begin() + (k - 1), vals.end(), std::greater<float>());
    const float t0 = vals[k - 1];
    if (t0 != kNegInf) {
      s.gather_pos.clear();
      vals.clear();
      for (size_t b = 0; b < n_blocks; ++b) {
        if (s.block_max[b] < t0) continue;
        const size_t end = std::min(n, (b + 1) * kBlock);
        for (size_t i = b * kBlock; i < end; ++i) {
          if (x[i] >= t0) {
            vals.push_back(x[i]);
            s.gather_pos.push_back(static_cast<int32_t>(i));
          }
        }
      }
      const PrefixCut cut = SelectTopCount(vals.data(), vals.size(), k, s);
      size_t ties = 0;
      for (size_t j = 0; j < vals.size(); ++j) {
        if (cut.all || vals[j] > cut.key || (vals[j] == cut.key && ties++ < cut.ties_kept)) {
          out.push_back(s.gather_pos[j]);
        }
      }
      gathered = true;
    }
  }
  if (!gathered) {
    const PrefixCut cut = SelectTopCount(x, n, k, s);
    threshold = cut.key;
    ties_kept = cut.ties_kept;
    size_t ties = 0;
    for (size_t i = 0; i < n; ++i) {
      if (x[i] == kNegInf) continue;
      if (cut.all || x[i] > threshold || (x[i] == threshold && ties++ < ties_kept)) {
        out.push_back(static_cast<int32_t>(i));
      }
    }
  }
}

float FloatThreshold(double threshold) {
  constexpr float kMax = std::numeric_limits<float>::max();
  if (threshold <= -kMax) return -kMax;
  if (threshold > kMax) return std::numeric_limits<float>::infinity();
  float t = static_cast<float>(threshold);  // nearest: at most one step from the answer
  if (static_cast<double>(t) < threshold) t = std::nextafter(t, std::numeric_limits<float>::infinity());
  return t;
}

}  // namespace logitkit::head
