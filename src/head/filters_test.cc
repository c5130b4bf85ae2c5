// Every filter keeps exactly the set a plain sort-based reference keeps.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "head/testing/reference.h"
#include "logitkit/head.h"

namespace logitkit {
namespace {

using testing::kNegInf;
using testing::Real;
using testing::RefSet;
using testing::RowKind;

std::vector<bool> KeptMask(const std::vector<float>& filtered) {
  std::vector<bool> keep(filtered.size());
  for (size_t i = 0; i < filtered.size(); ++i) keep[i] = filtered[i] != kNegInf;
  return keep;
}

size_t Count(const std::vector<bool>& v) { return std::count(v.begin(), v.end(), true); }

// The result must equal the reference, or its alternative where rounding could
// decide the boundary.
void ExpectMatches(const std::vector<bool>& got, const RefSet& ref, const std::string& what) {
  if (got == ref.keep) return;
  if (ref.ambiguous && got == ref.alternative) return;
  size_t first_diff = 0;
  while (got[first_diff] == ref.keep[first_diff]) ++first_diff;
  FAIL() << what << ": kept " << Count(got) << " tokens, reference " << Count(ref.keep)
         << "; first difference at token " << first_diff;
}

// Rows of many shapes and sizes, including sizes that take the bucket and
// block paths (>= 4096) and rows full of ties.
struct RowCase {
  std::vector<float> z;
  std::string name;
};

std::vector<RowCase> RandomCases(uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  const size_t sizes[] = {1, 2, 3, 5, 17, 64, 65, 100, 333, 1000, 4096, 5000, 20000, 70000};
  const RowKind kinds[] = {RowKind::kNormal1, RowKind::kNormal5, RowKind::kPeaked, RowKind::kTies,
                           RowKind::kWide};
  std::vector<RowCase> cases;
  for (int i = 0; i < count; ++i) {
    // Mostly small rows (fast), every 10th a large one.
    const size_t n = i % 10 == 9 ? sizes[10 + rng() % 4] : sizes[rng() % 10];
    const RowKind kind = kinds[rng() % 5];
    std::vector<float> z = testing::RandomRow(rng, n, kind);
    if (n > 4 && rng() % 4 == 0) z[rng() % n] = kNegInf;  // a removed token
    if (i % 50 == 7) {  // extremes: ±1e30, near ±float max, denormal spacing
      const float extremes[] = {1e30f, -1e30f, 3e38f, -3e38f, 1e-40f, -1e-40f, 0.0f};
      for (size_t j = 0; j < n; j += 3) z[j] = extremes[rng() % 7];
    }
    if (i % 50 == 23) {
      for (size_t j = 0; j < n; ++j) z[j] = static_cast<float>(rng() % 5) * 1.4e-45f;
    }
    cases.push_back({std::move(z), "row " + std::to_string(i) + " n=" + std::to_string(n) +
                                       " kind=" + std::to_string(static_cast<int>(kind))});
  }
  return cases;
}

TEST(TopK, KeepsExactlyTheReferenceSetOnThousandsOfRows) {
  std::mt19937_64 rng(10);
  for (const RowCase& c : RandomCases(11, 3000)) {
    for (size_t k : {size_t{1}, size_t{2}, size_t{40}, c.z.size() / 2 + 1, rng() % (c.z.size() + 3) + 1}) {
      std::vector<float> x = c.z;
      StatusOr<size_t> kept = TopK(x, static_cast<int32_t>(k));
      ASSERT_TRUE(kept.ok()) << kept.status().ToString();
      const RefSet ref = testing::RefTopK(c.z, k);
      ExpectMatches(KeptMask(x), ref, c.name + " k=" + std::to_string(k));
      ASSERT_EQ(*kept, Count(ref.keep));
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] != kNegInf) {
          ASSERT_EQ(x[i], c.z[i]) << "a kept value changed";
        }
      }
    }
  }
}

TEST(TopP, KeepsExactlyTheReferenceSetOnThousandsOfRows) {
  std::mt19937_64 rng(20);
  std::uniform_real_distribution<float> uniform(0.01f, 1.0f);
  for (const RowCase& c : RandomCases(21, 3000)) {
    for (float p : {0.1f, 0.5f, 0.9f, 0.95f, 0.99f, 0.999f, uniform(rng)}) {
      std::vector<float> x = c.z;
      ASSERT_TRUE(TopP(x, p).ok());
      ExpectMatches(KeptMask(x), testing::RefTopP(c.z, p), c.name + " p=" + std::to_string(p));
    }
  }
}

TEST(MinP, KeepsExactlyTheReferenceSetOnThousandsOfRows) {
  for (const RowCase& c : RandomCases(31, 3000)) {
    for (float m : {0.001f, 0.05f, 0.1f, 0.5f, 0.9f, 1.0f}) {
      std::vector<float> x = c.z;
      ASSERT_TRUE(MinP(x, m).ok());
      ExpectMatches(KeptMask(x), testing::RefMinP(c.z, m), c.name + " min_p=" + std::to_string(m));
    }
  }
}

TEST(TopNSigma, KeepsExactlyTheReferenceSetOnThousandsOfRows) {
  size_t checked = 0;
  for (const RowCase& c : RandomCases(41, 3000)) {
    for (float n : {0.5f, 1.0f, 2.0f, 3.0f}) {
      const RefSet ref = testing::RefTopNSigma(c.z, n);
      if (ref.ambiguous) continue;
      std::vector<float> x = c.z;
      ASSERT_TRUE(TopNSigma(x, n).ok());
      ExpectMatches(KeptMask(x), ref, c.name + " n_sigma=" + std::to_string(n));
      ++checked;
    }
  }
  EXPECT_GT(checked, 11000u);  // too-close-to-call rows are rare
}

// Typical-p ranks by |-ln q - H|, a difference of two computed quantities:
// tokens whose score is within 1e-4 of the boundary may fall either way, every
// other token must be where the reference puts it.
TEST(TypicalP, KeepsTheReferenceSetOutsideARoundingBand) {
  constexpr Real kBand = 1e-4L;
  for (const RowCase& c : RandomCases(51, 3000)) {
    for (float p : {0.2f, 0.5f, 0.9f, 0.95f}) {
      std::vector<Real> score;
      const RefSet ref = testing::RefTypicalP(c.z, p, &score);
      std::vector<float> x = c.z;
      ASSERT_TRUE(TypicalP(x, p).ok());
      const std::vector<bool> got = KeptMask(x);
      Real boundary = -1;
      for (size_t i = 0; i < x.size(); ++i) {
        if (ref.keep[i]) boundary = std::max(boundary, score[i]);
      }
      Real next = std::numeric_limits<Real>::infinity();
      for (size_t i = 0; i < x.size(); ++i) {
        if (!ref.keep[i] && score[i] > boundary) next = std::min(next, score[i]);
      }
      if (ref.ambiguous) next = std::numeric_limits<Real>::infinity(), boundary = -1;
      {  // in every case the kept set's mass reaches p (up to rounding)
        const std::vector<Real> q = testing::RefSoftmax(c.z);
        Real mass = 0;
        for (size_t i = 0; i < x.size(); ++i) mass += got[i] ? q[i] : 0;
        ASSERT_GE(mass, p - 1e-6L) << c.name;
      }
      for (size_t i = 0; i < x.size(); ++i) {
        if (score[i] < boundary - kBand) {
          ASSERT_TRUE(got[i]) << c.name << " p=" << p << " dropped token " << i;
        }
        if (score[i] > next + kBand && std::isfinite(static_cast<double>(score[i]))) {
          ASSERT_FALSE(got[i]) << c.name << " p=" << p << " kept token " << i;
        }
      }
    }
  }
}

TEST(Filters, BreakTiesAtTheBoundaryTowardsLowerIds) {
  std::vector<float> x = {1, 2, 2, 2, 3};
  ASSERT_EQ(*TopK(x, 2), 2u);
  EXPECT_EQ(KeptMask(x), (std::vector<bool>{false, true, false, false, true}));

  std::vector<float> flat(4, 0.0f);  // 0.25 each: p = 0.5 is reached after two tokens
  ASSERT_EQ(*TopP(flat, 0.5f), 2u);
  EXPECT_EQ(KeptMask(flat), (std::vector<bool>{true, true, false, false}));

  std::vector<float> big(10000, 1.0f);  // ties spanning the bucket path
  ASSERT_EQ(*TopK(big, 77), 77u);
  for (size_t i = 0; i < big.size(); ++i) ASSERT_EQ(big[i] != kNegInf, i < 77) << i;
}

TEST(Filters, TopPKeepsTheTokenThatCrossesP) {
  // Probabilities 0.5, 0.3, 0.2 (logits are their logs): p = 0.6 needs two tokens.
  std::vector<float> x = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  ASSERT_EQ(*TopP(x, 0.6f), 2u);
  EXPECT_EQ(x[2], kNegInf);
}

TEST(Filters, NoOpSettingsKeepEverything) {
  std::mt19937_64 rng(60);
  const std::vector<float> z = testing::RandomRow(rng, 1000, RowKind::kNormal5);
  std::vector<float> x = z;
  EXPECT_EQ(*TopP(x, 1.0f), 1000u);
  EXPECT_EQ(*TopK(x, 0), 1000u);
  EXPECT_EQ(*TopK(x, 1000), 1000u);
  EXPECT_EQ(*TopK(x, 5000), 1000u);
  EXPECT_EQ(*MinP(x, 0.0f), 1000u);
  EXPECT_EQ(*TypicalP(x, 1.0f), 1000u);
  EXPECT_EQ(*TopNSigma(x, 0.0f), 1000u);
  EXPECT_EQ(x, z);
}

TEST(Filters, AllMassInOneTokenKeepsOnlyThatToken) {
  std::vector<float> z(5000, 0.0f);
  z[1234] = 200.0f;
  for (auto filter : {+[](std::vector<float>& x) { return *TopP(x, 0.999f); },
                      +[](std::vector<float>& x) { return *MinP(x, 1e-6f); },
                      +[](std::vector<float>& x) { return *TopNSigma(x, 1.0f); }}) {
    std::vector<float> x = z;
    EXPECT_EQ(filter(x), 1u);
    EXPECT_EQ(x[1234], 200.0f);
  }
}

TEST(Filters, RejectBadParametersWithTheirNameAndValue) {
  std::vector<float> x = {1, 2, 3};
  EXPECT_EQ(TopK(x, -1).status().message(), "top_k = -1 must be >= 0");
  EXPECT_EQ(TopP(x, 0.0f).status().message(), "top_p = 0 is outside (0, 1]");
  EXPECT_EQ(TopP(x, 1.5f).status().message(), "top_p = 1.5 is outside (0, 1]");
  EXPECT_FALSE(TopP(x, NAN).ok());
  EXPECT_EQ(MinP(x, -0.1f).status().message(), "min_p = -0.100000001 is outside [0, 1]");
  EXPECT_FALSE(MinP(x, 1.1f).ok());
  EXPECT_FALSE(TypicalP(x, 0.0f).ok());
  EXPECT_FALSE(TopNSigma(x, -1.0f).ok());
  std::vector<float> bad = {1, NAN};
  EXPECT_EQ(TopK(bad, 1).status().message(), "logits[1] = nan: logits must be finite or -inf");
}

}  // namespace
}  // namespace logitkit
