// The working set of one row as it moves through the filters.
#ifndef LOGITKIT_HEAD_CANDIDATES_H_
#define LOGITKIT_HEAD_CANDIDATES_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <vector>

#include "hwy/aligned_allocator.h"

namespace logitkit::head {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A growable 64-byte-aligned buffer that keeps its memory between rows.
template <typename T>
class Buffer {
 public:
  T* Get(size_t n) {
    if (n > capacity_) {
      capacity_ = n + n / 4 + 64;
      data_ = hwy::AllocateAligned<T>(capacity_);
      if (data_ == nullptr) {  // the decode head turns this into the row's status
        capacity_ = 0;
        throw std::bad_alloc();
      }
    }
    return data_.get();
  }

 private:
  hwy::AlignedFreeUniquePtr<T[]> data_;
  size_t capacity_ = 0;
};

// Tokens still in play. Starts dense (every token, ids implicit) and becomes
// sparse (an explicit ascending id list) once a filter leaves few tokens.
struct Candidates {
  // [n] current values (logits, / T once applied); -inf = removed. While
  // vals_borrowed, vals is the caller's row: read-only (see MakeWritable).
  float* vals = nullptr;
  bool vals_borrowed = false;
  int32_t* ids = nullptr;    // [n] ascending token ids, or null: token i is at index i
  float* exps = nullptr;     // [n] exp(vals - shift) while exps_valid; 0 where removed
  size_t n = 0;
  float max = kNegInf;       // largest value in vals
  bool exps_valid = false;   // exps[i] == exp(vals[i] - shift) for every i
  bool sum_valid = false;    // exp_sum == Σ exps (filters that remove tokens clear it)
  float shift = 0;           // the max when exps were computed
  double exp_sum = 0;

  int32_t Id(size_t i) const { return ids != nullptr ? ids[i] : static_cast<int32_t>(i); }
};

// Per-thread memory of the decode head; sized on first use, reused after.
struct RowScratch {
  Buffer<float> work, exps, keys, raw, sparse_vals, sparse_exps;
  Buffer<int32_t> sparse_ids;
  Buffer<uint16_t> buckets;
  Buffer<uint32_t> members;
  // For the selection (select.h) and the top-k gather.
  std::vector<float> sel_keys, sel_weights, sel_keys2, sel_weights2;
  std::vector<int32_t> order, kept_positions;
  std::vector<float> gather_vals;
  std::vector<int32_t> gather_pos;
  std::vector<double> hist_weight, block_sums;
  std::vector<uint32_t> hist_count;
  std::vector<float> block_max;
  std::vector<uint8_t> allowed;
  std::vector<int32_t> window;
};

}  // namespace logitkit::head

#endif  // LOGITKIT_HEAD_CANDIDATES_H_
