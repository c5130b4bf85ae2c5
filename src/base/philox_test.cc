#include "base/philox.h"

#include <gtest/gtest.h>

#include <cmath>

namespace logitkit::base {
namespace {

// Known-answer vectors published with Random123 (tests/kat_vectors).
TEST(Philox, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}),
            (PhiloxBlock{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox4x32({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}),
            (PhiloxBlock{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxBlock{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, UniformDoubleIsInUnitIntervalWithMeanOneHalf) {
  // 1e6 uniforms: the mean has standard deviation sqrt(1/12/1e6) = 2.9e-4;
  // 6e-3 is 20 sigma, so a correct generator never fails this.
  double sum = 0;
  const int n = 1000000;
  for (int i = 0; i < n; ++i) {
    const double u = UniformDouble(42, 7, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 6e-3);
}

TEST(Philox, SeedStreamAndStepEachChangeTheDraw) {
  const double u = UniformDouble(1, 2, 3);
  EXPECT_EQ(u, UniformDouble(1, 2, 3));
  EXPECT_NE(u, UniformDouble(2, 2, 3));
  EXPECT_NE(u, UniformDouble(1, 3, 3));
  EXPECT_NE(u, UniformDouble(1, 2, 4));
  EXPECT_NE(UniformDouble(0, 0, 1ull << 32), UniformDouble(0, 0, 0));  // high step bits count
}

}  // namespace
}  // namespace logitkit::base
