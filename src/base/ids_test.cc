#include "kiln/base/ids.h"

#include <set>

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(IdsTest, RandomIdsHaveTheirShapeAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = RandomId();
    EXPECT_TRUE(HasRandomIdShape(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_TRUE(HasRandomIdShape(RandomId(8), 8));
}

TEST(IdsTest, OtherNamesDoNotHaveTheShape) {
  for (const char* name : {"", "user.slice", "init.scope", "0bcdefghij0123456789", "Abcdefghij0123456789",
                           "abcdefghij012345678", "abcdefghij01234567890", "abcdefghij-123456789"}) {
    EXPECT_FALSE(HasRandomIdShape(name)) << name;
  }
}

}  // namespace
}  // namespace kiln
