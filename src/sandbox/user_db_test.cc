#include "kiln/sandbox/user_db.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kiln::sandbox {
namespace {
namespace fs = std::filesystem;

constexpr char kDebianPasswd[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr char kDebianGroup[] = "root:x:0:\nstaff:x:50:\nusers:x:100:\nnogroup:x:65534:\n";

TEST(UserDbTest, WithoutABaseOnlyKilnsAccounts) {
  EXPECT_EQ(MergePasswd("", {}),
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            "user:x:1000:1000::/home/user:/bin/bash\n");
  EXPECT_EQ(MergeGroup("", {}), "root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n");
  // An unprivileged sandbox has no root of its own.
  EXPECT_EQ(MergeGroup("", {false, 1000, 1000}), "nogroup:x:65534:\nuser:x:1000:\n");
}

TEST(UserDbTest, KeepsDebiansSystemAccountsAndAddsUser) {
  EXPECT_EQ(MergePasswd(kDebianPasswd, {}),
            std::string(kDebianPasswd) + "user:x:1000:1000::/home/user:/bin/bash\n");
  EXPECT_EQ(MergeGroup(kDebianGroup, {}),
            "root:x:0:\nstaff:x:50:\nusers:x:100:\nnogroup:x:65534:\nuser:x:1000:\n");
}

TEST(UserDbTest, ReplacesEntriesThatClaimUsersNameOrId) {
  std::string passwd =
      MergePasswd("root:x:0:0::/root:/bin/sh\nuser:x:0:0::/root:/bin/sh\nimpostor:x:1000:0::/:/bin/sh\n", {});
  EXPECT_EQ(passwd,
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            "user:x:1000:1000::/home/user:/bin/bash\n");
  EXPECT_EQ(MergePasswd(passwd, {}), passwd);
  // A root line with user's id is dropped, and root is then Kiln's.
  EXPECT_EQ(MergeGroup("root:x:1000:\n", {}), "root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n");
}

TEST(UserDbTest, DropsCommentsBlankAndNamelessLines) {
  EXPECT_EQ(MergeGroup("# c\n\n:x:5:\nnocolon\r\nstaff:x:50:\r\n", {}),
            "root:x:0:\nstaff:x:50:\nnogroup:x:65534:\nuser:x:1000:\n");
}

class UserDbFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-user-db-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/etc");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(UserDbFileTest, ReadsTheFileOrNothingWhenMissing) {
  std::ofstream(dir_ + "/etc/group") << kDebianGroup;
  EXPECT_EQ(*ReadUserDbFile(dir_ + "/etc", "group"), kDebianGroup);
  EXPECT_EQ(*ReadUserDbFile(dir_ + "/etc", "passwd"), "");
  EXPECT_EQ(*ReadUserDbFile(dir_ + "/missing", "passwd"), "");
}

// A template's root comes from code that ran in a sandbox: its passwd must not lead the host to read
// another file (the host's /etc/shadow) into the next sandbox.
TEST_F(UserDbFileTest, RefusesSymlinksFifosAndHugeFiles) {
  ASSERT_EQ(symlink("/etc/shadow", (dir_ + "/etc/passwd").c_str()), 0);
  Result<std::string> r = ReadUserDbFile(dir_ + "/etc", "passwd");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("passwd"), std::string::npos) << r.status().message();

  ASSERT_EQ(mkfifo((dir_ + "/etc/group").c_str(), 0644), 0);  // opening must not block
  EXPECT_FALSE(ReadUserDbFile(dir_ + "/etc", "group").ok());

  fs::remove(dir_ + "/etc/group");
  std::ofstream(dir_ + "/etc/group") << std::string(kMaxUserDbBytes + 1, 'a');
  r = ReadUserDbFile(dir_ + "/etc", "group");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("larger"), std::string::npos) << r.status().message();

  fs::create_directories(dir_ + "/real");
  std::ofstream(dir_ + "/real/passwd") << kDebianPasswd;
  ASSERT_EQ(symlink((dir_ + "/real").c_str(), (dir_ + "/linked").c_str()), 0);
  EXPECT_FALSE(ReadUserDbFile(dir_ + "/linked", "passwd").ok());  // etc itself a symlink
}

}  // namespace
}  // namespace kiln::sandbox
