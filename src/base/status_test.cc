#include "logitkit/status.h"

#include <gtest/gtest.h>

namespace logitkit {
namespace {

TEST(Status, DefaultIsOk) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().ToString(), "OK");
}

TEST(Status, ToStringNamesCodeAndMessage) {
  const Status s = InvalidArgumentError("top_p = 1.5 is outside (0, 1]");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT: top_p = 1.5 is outside (0, 1]");
  EXPECT_EQ(s.WithContext("row 3: ").message(), "row 3: top_p = 1.5 is outside (0, 1]");
  EXPECT_EQ(s.WithContext("row 3: ").code(), StatusCode::kInvalidArgument);
}

TEST(StatusOr, HoldsValueOrError) {
  StatusOr<int> v = 7;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  StatusOr<int> e = OutOfRangeError("token 9 >= n_vocab 8");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kOutOfRange);
  StatusOr<int> bad = OkStatus();  // misuse is reported, not hidden
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace logitkit
