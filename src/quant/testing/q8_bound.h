// Test-only: the error bound of a Q8_0 encoding, shared by quant's
// EncodeRow tests and gguf's ConvertFile tests.
#ifndef LOGITKIT_QUANT_TESTING_Q8_BOUND_H_
#define LOGITKIT_QUANT_TESTING_Q8_BOUND_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/blocks.h"

namespace logitkit::quant::testing {

// The Q8_0 error bound of quant.h, for one block with largest magnitude amax:
// d/2 from rounding q (plus float rounding of x/d), and |q|·|d − d16| from
// storing d as a half (relative 2^-11, or 2^-25 absolute below 2^-14).
inline double Q8Bound(double amax) {
  const double d = amax / 127;
  return d * 0.5001 + 127 * std::max(d * 0x1p-11, 0x1p-25);
}

inline void ExpectQ8_0Within(const std::vector<float>& x, const std::vector<float>& y) {
  for (size_t b = 0; b < x.size() / kQK; ++b) {
    double amax = 0;
    for (int i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(double(x[b * kQK + i])));
    for (int i = 0; i < kQK; ++i) {
      const size_t k = b * kQK + i;
      ASSERT_LE(std::fabs(double(x[k]) - y[k]), Q8Bound(amax))
          << "element " << k << " of block " << b;
    }
  }
}

}  // namespace logitkit::quant::testing

#endif  // LOGITKIT_QUANT_TESTING_Q8_BOUND_H_
