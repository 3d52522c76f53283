#include "kiln/envd/users.h"

#include <gtest/gtest.h>

namespace kiln::envd {
namespace {

constexpr char kPasswd[] =
    "# comment\n"
    "root:x:0:0:root:/root:/bin/bash\n"
    "\n"
    "user:x:1000:1000:,,,:/home/user:/bin/bash\n"
    "broken:x:notanumber:1:::\n"
    "short:x:5\n"
    "+nis\n"
    "nohome:x:1001:1001:::\n";
constexpr char kGroup[] = "root:x:0:\nuser:x:1000:\nsudo:x:27:user\nbad:x:zz:\n";

TEST(UserDbTest, ParsesUsers) {
  UserDb db = UserDb::Parse(kPasswd, kGroup);
  auto user = db.FindUser("user");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->uid, 1000u);
  EXPECT_EQ(user->gid, 1000u);
  EXPECT_EQ(user->home, "/home/user");
  EXPECT_EQ(user->shell, "/bin/bash");
  EXPECT_EQ(db.FindUser("root")->home, "/root");
}

TEST(UserDbTest, SkipsMalformedLines) {
  UserDb db = UserDb::Parse(kPasswd, kGroup);
  EXPECT_FALSE(db.FindUser("broken"));
  EXPECT_FALSE(db.FindUser("short"));
  EXPECT_FALSE(db.FindUser("+nis"));
  EXPECT_FALSE(db.FindUser("nobody"));
  EXPECT_EQ(db.FindUser("nohome")->home, "/");
}

TEST(UserDbTest, NamesIdsWithNumericFallback) {
  UserDb db = UserDb::Parse(kPasswd, kGroup);
  EXPECT_EQ(db.UserName(1000), "user");
  EXPECT_EQ(db.UserName(4242), "4242");
  EXPECT_EQ(db.GroupName(27), "sudo");
  EXPECT_EQ(db.GroupName(4242), "4242");
}

TEST(UserDbTest, EmptyInput) {
  UserDb db = UserDb::Parse("", "");
  EXPECT_FALSE(db.FindUser("root"));
  EXPECT_EQ(db.UserName(0), "0");
}

}  // namespace
}  // namespace kiln::envd
