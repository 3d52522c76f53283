#include "kiln/base/strings.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(StringsTest, Base64RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 40; ++i) {
    data.push_back(static_cast<char>(i * 37));
    std::string decoded;
    ASSERT_TRUE(Base64Decode(Base64Encode(data), &decoded));
    EXPECT_EQ(decoded, data);
  }
  EXPECT_EQ(Base64Encode("hi\n"), "aGkK");
}

TEST(StringsTest, Base64AcceptsUrlSafeAndUnpadded) {
  std::string out;
  ASSERT_TRUE(Base64Decode("-_8", &out));
  EXPECT_EQ(out, "\xfb\xff");
  EXPECT_FALSE(Base64Decode("a$==", &out));
}

TEST(StringsTest, UrlDecode) {
  std::string out;
  ASSERT_TRUE(UrlDecode("a%2Fb+c", &out, true));
  EXPECT_EQ(out, "a/b c");
  EXPECT_FALSE(UrlDecode("bad%2", &out));
  EXPECT_FALSE(UrlDecode("bad%zz", &out));
}

}  // namespace
}  // namespace kiln
