// Softmax and log-softmax against a long double reference, on every SIMD target.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "head/testing/reference.h"
#include "logitkit/head.h"

namespace logitkit {
namespace {

using testing::ForEachSimdTarget;
using testing::kNegInf;
using testing::Real;
using testing::RefSoftmax;

// Relative error <= 1e-6 for every probability >= 1e-30; absolute below.
void ExpectSoftmaxAccurate(const std::vector<float>& z, const char* target, const char* what) {
  std::vector<float> probs(z.size(), -1.0f);
  ASSERT_TRUE(Softmax(z, 1.0f, probs).ok()) << what;
  const std::vector<Real> ref = RefSoftmax(z);
  for (size_t i = 0; i < z.size(); ++i) {
    if (ref[i] >= 1e-30L) {
      ASSERT_LE(std::fabs(probs[i] - ref[i]) / ref[i], 1e-6L)
          << target << " " << what << " V=" << z.size() << " i=" << i << " z=" << z[i];
    } else {
      ASSERT_LE(std::fabs(probs[i] - ref[i]), 1e-30L) << target << " " << what << " i=" << i;
    }
  }
  std::vector<float> logprobs(z.size());
  ASSERT_TRUE(LogSoftmax(z, 1.0f, logprobs).ok());
  for (size_t i = 0; i < z.size(); ++i) {
    if (ref[i] == 0) {
      if (z[i] == kNegInf) {
        ASSERT_EQ(logprobs[i], kNegInf);
      }
      continue;
    }
    const Real lr = std::log(ref[i]);
    ASSERT_LE(std::fabs(logprobs[i] - lr), 1e-6L * std::max<Real>(1, std::fabs(lr)))
        << target << " " << what << " i=" << i;
  }
}

TEST(Softmax, MatchesLongDoubleOnRandomRowsOnEveryTarget) {
  ForEachSimdTarget([](const char* target) {
    std::mt19937_64 rng(1);
    for (auto kind : {testing::RowKind::kNormal1, testing::RowKind::kNormal5,
                      testing::RowKind::kPeaked, testing::RowKind::kWide}) {
      for (size_t n : {1, 2, 3, 7, 100, 1000, 4099}) {
        ExpectSoftmaxAccurate(testing::RandomRow(rng, n, kind), target, "random");
      }
    }
  });
}

TEST(Softmax, MatchesLongDoubleOnRealVocabularySizes) {
  std::mt19937_64 rng(2);
  for (size_t n : {32000, 49152, 50257, 128256, 151936, 262144}) {
    ExpectSoftmaxAccurate(testing::RandomRow(rng, n, testing::RowKind::kNormal5), "dispatched",
                          "vocab");
  }
}

TEST(Softmax, HandlesAdversarialRowsOnEveryTarget) {
  ForEachSimdTarget([](const char* target) {
    ExpectSoftmaxAccurate(std::vector<float>(1000, 3.0f), target, "all ties");
    ExpectSoftmaxAccurate({1e30f, -1e30f, 0.0f, 1e30f}, target, "huge");
    ExpectSoftmaxAccurate({-1e30f, -1e30f, -1e30f}, target, "huge negative ties");
    ExpectSoftmaxAccurate({1e30f, 9.9999e29f, -3e38f, 3e38f}, target, "near float max");
    ExpectSoftmaxAccurate({kNegInf, 2.0f, kNegInf, -1.0f, kNegInf}, target, "-inf entries");
    ExpectSoftmaxAccurate({1e-40f, -1e-40f, 0.0f, 1.4e-45f}, target, "denormals");
    ExpectSoftmaxAccurate({42.0f}, target, "V = 1");
    ExpectSoftmaxAccurate({0.0f, -69.0f, -70.5f, -68.123456f, 12.0f}, target, "tiny probabilities");
  });
}

TEST(Softmax, IsAccurateForEverySizeUpToThreeVectorsAndEveryMisalignment) {
  ForEachSimdTarget([](const char* target) {
    std::mt19937_64 rng(3);
    std::vector<float> storage = testing::RandomRow(rng, 64 * 3 + 8, testing::RowKind::kNormal5);
    for (size_t offset = 0; offset < 4; ++offset) {
      for (size_t n = 1; n <= 48; ++n) {
        std::vector<float> z(storage.begin() + offset, storage.begin() + offset + n);
        // Spans into the middle of a buffer exercise unaligned loads and tails.
        std::vector<float> out(n + 8, 123.0f);
        ASSERT_TRUE(Softmax(std::span<const float>(storage.data() + offset, n), 1.0f,
                            std::span<float>(out.data() + 1, n))
                        .ok());
        EXPECT_EQ(out[0], 123.0f) << "wrote before the span";
        EXPECT_EQ(out[n + 1], 123.0f) << "wrote past the span";
        const std::vector<Real> ref = RefSoftmax(z);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_LE(std::fabs(out[1 + i] - ref[i]) / ref[i], 1e-6L) << target << " n=" << n;
        }
        ExpectSoftmaxAccurate(z, target, "sizes");
      }
    }
  });
}

TEST(Softmax, TemperatureEqualsDividingTheLogits) {
  std::mt19937_64 rng(4);
  const std::vector<float> z = testing::RandomRow(rng, 5000, testing::RowKind::kNormal5);
  for (float t : {0.01f, 0.3f, 0.5f, 0.7f, 1.0f, 2.0f, 7.5f, 100.0f}) {
    std::vector<float> scaled(z.size()), a(z.size()), b(z.size());
    for (size_t i = 0; i < z.size(); ++i) scaled[i] = z[i] / t;
    ASSERT_TRUE(Softmax(z, t, a).ok());
    ASSERT_TRUE(Softmax(scaled, 1.0f, b).ok());
    EXPECT_EQ(a, b) << "T = " << t;  // bitwise: the division is the same IEEE operation
    // And the temperature really changes the distribution (unless T = 1).
    if (t != 1.0f) {
      std::vector<float> plain(z.size());
      ASSERT_TRUE(Softmax(z, 1.0f, plain).ok());
      EXPECT_NE(a, plain) << "T = " << t;
    }
  }
}

TEST(Softmax, SmallTemperatureConcentratesOnTheArgmax) {
  const std::vector<float> z = {1.0f, 3.0f, 2.9f, -4.0f};
  std::vector<float> p(z.size());
  float previous = 0;
  for (float t : {1.0f, 0.3f, 0.1f, 0.01f, 0.001f}) {
    ASSERT_TRUE(Softmax(z, t, p).ok());
    EXPECT_GT(p[1], previous);
    previous = p[1];
  }
  EXPECT_GT(previous, 1.0f - 1e-6f);
}

TEST(Softmax, RejectsBadInputWithAClearMessage) {
  std::vector<float> out(3);
  std::vector<float> z = {1, 2, 3};
  EXPECT_EQ(Softmax(z, -1.0f, out).message(), "temperature = -1 must be finite and > 0");
  EXPECT_FALSE(Softmax(z, NAN, out).ok());
  EXPECT_FALSE(Softmax(z, 0.0f, out).ok());
  std::vector<float> small(2);
  EXPECT_EQ(Softmax(z, 1.0f, small).message(), "output size 2 != logits size 3");
  z[1] = NAN;
  EXPECT_EQ(Softmax(z, 1.0f, out).message(), "logits[1] = nan: logits must be finite or -inf");
  z[1] = INFINITY;
  EXPECT_EQ(Softmax(z, 1.0f, out).message(), "logits[1] = inf: logits must be finite or -inf");
  std::vector<float> all_neg_inf(3, kNegInf);
  EXPECT_EQ(Softmax(all_neg_inf, 1.0f, out).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Softmax(std::span<const float>(), 1.0f, std::span<float>()).message(),
            "n_vocab = 0: a row needs at least one logit");
  std::vector<float> big = {3e38f, 0.0f};
  std::vector<float> out2(2);
  EXPECT_FALSE(Softmax(big, 1e-3f, out2).ok());  // 3e41 overflows float: reported, not inf
}

}  // namespace
}  // namespace logitkit
