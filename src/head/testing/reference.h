// Test-only references for the decode head: long double softmax, sort-based
// filters, row generators, the chi-squared tail, and a loop over SIMD targets.
// Nothing here calls the code under test.
#ifndef LOGITKIT_HEAD_TESTING_REFERENCE_H_
#define LOGITKIT_HEAD_TESTING_REFERENCE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "head/synthetic.h"
#include "hwy/targets.h"

namespace logitkit::testing {

using head::RandomRow;
using head::RowKind;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
using Real = long double;

// Runs fn(target_name) once per SIMD target compiled in and supported here.
inline void ForEachSimdTarget(const std::function<void(const char*)>& fn) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    fn(hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
}

inline bool TargetHasFma(const std::string& name) {
  return name.rfind("AVX2", 0) == 0 || name.rfind("AVX3", 0) == 0;
}

// softmax(x) in long double over the finite entries; 0 where x = -inf.
inline std::vector<Real> RefSoftmax(const std::vector<float>& x) {
  Real max = -std::numeric_limits<Real>::infinity();
  for (float v : x) max = std::max<Real>(max, v);
  std::vector<Real> p(x.size());
  Real sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    p[i] = x[i] == kNegInf ? 0 : std::exp(static_cast<Real>(x[i]) - max);
    sum += p[i];
  }
  for (Real& v : p) v /= sum;
  return p;
}

// Token ids of the finite entries, ranked by value (highest first), then id.
inline std::vector<int32_t> RankOrder(const std::vector<float>& x) {
  std::vector<int32_t> order;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != kNegInf) order.push_back(static_cast<int32_t>(i));
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return x[a] != x[b] ? x[a] > x[b] : a < b;
  });
  return order;
}

// A reference kept set: `keep` is the answer; where rounding could decide the
// boundary (a prefix mass within `tolerance` of the target), `alternative`
// is the other answer a correct implementation may give.
struct RefSet {
  std::vector<bool> keep;
  std::vector<bool> alternative;
  bool ambiguous = false;
};

inline std::vector<bool> Prefix(const std::vector<int32_t>& order, size_t len, size_t n) {
  std::vector<bool> keep(n, false);
  for (size_t j = 0; j < len && j < order.size(); ++j) keep[order[j]] = true;
  return keep;
}

inline RefSet RefTopK(const std::vector<float>& x, size_t k) {
  const std::vector<int32_t> order = RankOrder(x);
  return {Prefix(order, k, x.size()), {}, false};
}

// Shortest prefix of `order` with probability mass >= p.
inline RefSet RefMassPrefix(const std::vector<int32_t>& order, const std::vector<Real>& q, Real p,
                            size_t n) {
  const Real kTolerance = 1e-6L;
  Real cum = 0;
  size_t len = order.size();
  for (size_t j = 0; j < order.size(); ++j) {
    cum += q[order[j]];
    if (cum >= p) {
      len = j + 1;
      break;
    }
  }
  RefSet r{Prefix(order, len, n), {}, false};
  // Ambiguous if the prefix one shorter or one longer is within tolerance.
  const Real before = cum - (len > 0 ? q[order[len - 1]] : 0);
  if (len > 1 && std::fabs(before - p) < kTolerance) {
    r.ambiguous = true;
    r.alternative = Prefix(order, len - 1, n);
  } else if (len < order.size() && std::fabs(cum - p) < kTolerance) {
    r.ambiguous = true;
    r.alternative = Prefix(order, len + 1, n);
  }
  return r;
}

inline RefSet RefTopP(const std::vector<float>& x, float p) {
  return RefMassPrefix(RankOrder(x), RefSoftmax(x), static_cast<Real>(p), x.size());
}

inline RefSet RefMinP(const std::vector<float>& x, float min_p) {
  const float max = *std::max_element(x.begin(), x.end());
  const double threshold = static_cast<double>(max) + std::log(static_cast<double>(min_p));
  RefSet r{std::vector<bool>(x.size()), {}, false};
  for (size_t i = 0; i < x.size(); ++i) {
    r.keep[i] = x[i] != kNegInf && static_cast<double>(x[i]) >= threshold;
  }
  return r;
}

// Typical-p: returns the reference scores too, for a boundary-band check.
inline RefSet RefTypicalP(const std::vector<float>& x, float p, std::vector<Real>* scores_out) {
  const std::vector<Real> q = RefSoftmax(x);
  Real entropy = 0;
  for (Real v : q) {
    if (v > 0) entropy -= v * std::log(v);
  }
  std::vector<Real> score(x.size(), std::numeric_limits<Real>::infinity());
  std::vector<int32_t> order;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == kNegInf) continue;
    score[i] = std::fabs(-std::log(q[i]) - entropy);
    order.push_back(static_cast<int32_t>(i));
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return score[a] != score[b] ? score[a] < score[b] : a < b;
  });
  if (scores_out != nullptr) *scores_out = score;
  return RefMassPrefix(order, q, static_cast<Real>(p), x.size());
}

inline RefSet RefTopNSigma(const std::vector<float>& x, float n_sigma) {
  Real mean = 0, count = 0, max = -std::numeric_limits<Real>::infinity();
  for (float v : x) {
    if (v == kNegInf) continue;
    mean += v;
    count += 1;
    max = std::max<Real>(max, v);
  }
  mean /= count;
  Real var = 0;
  for (float v : x) {
    if (v != kNegInf) var += (v - mean) * (v - mean);
  }
  const Real threshold = max - n_sigma * std::sqrt(var / count);
  RefSet r{std::vector<bool>(x.size()), {}, false};
  for (size_t i = 0; i < x.size(); ++i) {
    r.keep[i] = x[i] != kNegInf && x[i] >= threshold;
    if (x[i] != kNegInf && x[i] != max &&
        std::fabs(x[i] - threshold) < 1e-5L * (1 + std::fabs(threshold))) {
      r.ambiguous = true;  // too close to call: the test skips exact comparison
    }
  }
  return r;
}

// Upper tail Q(a, x) of the regularised incomplete gamma function: the
// chi-squared survival function is Q(df / 2, x / 2).
inline double UpperIncompleteGamma(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_prefix = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {  // series for P, then Q = 1 - P
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 100000 && std::fabs(term) > 1e-16 * std::fabs(sum); ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_prefix);
  }
  // Continued fraction (modified Lentz).
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-15) break;
  }
  return std::exp(log_prefix) * h;
}

inline double ChiSquaredSurvival(double statistic, double df) {
  return UpperIncompleteGamma(df / 2, statistic / 2);
}

}  // namespace logitkit::testing

#endif  // LOGITKIT_HEAD_TESTING_REFERENCE_H_
