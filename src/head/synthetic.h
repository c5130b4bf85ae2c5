// Synthetic rows of logits with the shapes that matter for the decode head,
// shared by the tests, the benchmarks and the demo.
#ifndef LOGITKIT_HEAD_SYNTHETIC_H_
#define LOGITKIT_HEAD_SYNTHETIC_H_

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace logitkit::head {

// kNormal1: N(0, 1), flat (the worst case for top-p); kNormal5: N(0, 25);
// kPeaked: like a real model's row; kTies: many equal values; kWide: N(0, 900).
enum class RowKind { kNormal1, kNormal5, kPeaked, kTies, kWide };

// A random row of logits. kPeaked looks like a real model's: a normal
// background and a few tokens far above it; kTies has many equal values.
inline std::vector<float> RandomRow(std::mt19937_64& rng, size_t n, RowKind kind) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> z(n);
  for (float& v : z) v = normal(rng);
  switch (kind) {
    case RowKind::kNormal1: break;
    case RowKind::kNormal5:
      for (float& v : z) v *= 5.0f;
      break;
    case RowKind::kPeaked: {
      for (float& v : z) v = 2.0f * v - 5.0f;
      std::uniform_int_distribution<size_t> pick(0, n - 1);
      std::uniform_real_distribution<float> height(5.0f, 20.0f);
      for (int i = 0; i < 4; ++i) z[pick(rng)] = height(rng);
      break;
    }
    case RowKind::kTies:
      for (float& v : z) v = std::round(v * 2.0f) / 2.0f;
      break;
    case RowKind::kWide:
      for (float& v : z) v *= 30.0f;
      break;
  }
  return z;
}

}  // namespace logitkit::head

#endif  // LOGITKIT_HEAD_SYNTHETIC_H_
