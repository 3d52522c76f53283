#include "kiln/base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace kiln {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  KILN_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, ErrnoKeepsCallAndReason) {
  Status s = ErrnoStatus("open(/nope)", ENOENT);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "open(/nope): No such file or directory");
  EXPECT_EQ(ErrnoStatus("x", ENOSPC).code(), Code::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus("x", EPERM).code(), Code::kPermissionDenied);
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(), "invalid_argument: odd: 3");
}

TEST(StatusTest, WithContextPrefixes) {
  EXPECT_EQ(NotFound("x").WithContext("loading").message(), "loading: x");
  EXPECT_TRUE(Status::Ok().WithContext("y").ok());
}

}  // namespace
}  // namespace kiln
