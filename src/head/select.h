// Threshold selection without sorting the row: the one mechanism behind top-k,
// top-p, typical-p and the top-n alternatives.
#ifndef LOGITKIT_HEAD_SELECT_H_
#define LOGITKIT_HEAD_SELECT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "head/candidates.h"

namespace logitkit::head {

// The shortest prefix of a ranked list. Elements are ranked by key, highest
// first, then by position, lowest first; elements with key -inf are out.
struct PrefixCut {
  bool all = false;      // the target is not reached: every element is in
  float key = kNegInf;   // key of the last element of the prefix
  size_t ties_kept = 0;  // elements with key == `key` inside the prefix
  size_t n_kept = 0;     // length of the prefix
};

// The shortest prefix of at least `count` elements (all, if fewer are finite).
// Cost: O(n) bucket passes on the values (linear buckets between the smallest
// and largest key, each pass keeping only the bucket where the target falls)
// until at most 64 elements or one distinct key remain; only those are sorted.
PrefixCut SelectTopCount(const float* keys, size_t n, size_t count, RowScratch& scratch);

// The shortest prefix whose weight reaches `fraction` of the total weight,
// both summed in double from the same per-element values. Same cost.
PrefixCut SelectTopMass(const float* keys, const float* weights, size_t n, double fraction,
                        RowScratch& scratch);

// Positions of the k highest values of x[0, n) (ties: lower position), in
// ascending position order, written to `out` (resized). Fewer if fewer than k
// are finite. Scans only the 64-element blocks whose maximum can qualify
// when k is small relative to n.
void TopKPositions(const float* x, size_t n, size_t k, RowScratch& scratch,
                   std::vector<int32_t>& out);

// Smallest float t with double(t) >= threshold (at least -FLT_MAX), so that
// for every float x: x >= t exactly when double(x) >= threshold.
float FloatThreshold(double threshold);

}  // namespace logitkit::head

#endif  // LOGITKIT_HEAD_SELECT_H_
