#include "kiln/envd/paths.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace kiln::envd {
namespace {

TEST(CleanAbsoluteTest, CollapsesDotsAndSlashes) {
  EXPECT_EQ(CleanAbsolute("/"), "/");
  EXPECT_EQ(CleanAbsolute("//a//b/"), "/a/b");
  EXPECT_EQ(CleanAbsolute("/a/./b/../c"), "/a/c");
  EXPECT_EQ(CleanAbsolute("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(CleanAbsolute("/a/.."), "/");
}

TEST(ResolveUserPathTest, ExpandsHomeAndRelativePaths) {
  EXPECT_EQ(*ResolveUserPath("a.txt", "/home/user"), "/home/user/a.txt");
  EXPECT_EQ(*ResolveUserPath("", "/home/user"), "/home/user");
  EXPECT_EQ(*ResolveUserPath("~", "/home/user"), "/home/user");
  EXPECT_EQ(*ResolveUserPath("~/x/../y", "/home/user"), "/home/user/y");
  EXPECT_EQ(*ResolveUserPath("/tmp/x", "/home/user"), "/tmp/x");
  EXPECT_EQ(*ResolveUserPath("../../../etc/passwd", "/home/user"), "/etc/passwd");
  EXPECT_EQ(*ResolveUserPath("~user", "/home/user"), "/home/user/~user");  // only "~" and "~/" expand
}

TEST(ResolveUserPathTest, RejectsNulBytes) {
  auto r = ResolveUserPath(std::string_view("a\0b", 3), "/home/user");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(SplitParentTest, Splits) {
  EXPECT_EQ(SplitParent("/a/b/c"), std::make_pair(std::string("/a/b"), std::string("c")));
  EXPECT_EQ(SplitParent("/a"), std::make_pair(std::string("/"), std::string("a")));
  EXPECT_EQ(SplitParent("/"), std::make_pair(std::string("/"), std::string("")));
  EXPECT_EQ(JoinPath("/", "a"), "/a");
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
}

// A temp tree: <tmp>/outside/secret and <tmp>/root/... with symlinks that try to leave root.
class RootFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-paths-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    ASSERT_EQ(::mkdir((base_ + "/outside").c_str(), 0755), 0);
    std::ofstream(base_ + "/outside/secret") << "secret";
    root_dir_ = base_ + "/root";
    ASSERT_EQ(::mkdir(root_dir_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root_dir_ + "/etc").c_str(), 0755), 0);
    std::ofstream(root_dir_ + "/etc/passwd") << "inside";
    ASSERT_EQ(::symlink((base_ + "/outside").c_str(), (root_dir_ + "/abs_link").c_str()), 0);
    ASSERT_EQ(::symlink("../../outside/secret", (root_dir_ + "/etc/rel_link").c_str()), 0);
    ASSERT_EQ(::symlink("/etc/passwd", (root_dir_ + "/passwd_link").c_str()), 0);
    ASSERT_EQ(::symlink("/proc/self/root", (root_dir_ + "/magic").c_str()), 0);
    auto root = RootFs::Open(root_dir_);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    root_ = std::make_unique<RootFs>(std::move(root).value());
  }
  void TearDown() override { std::system(("rm -rf '" + base_ + "'").c_str()); }

  std::string ReadVia(const std::string& path) {
    auto fd = root_->OpenPath(path, O_RDONLY);
    if (!fd.ok()) return "ERR:" + fd.status().ToString();
    char buf[64];
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }

  std::string base_, root_dir_;
  std::unique_ptr<RootFs> root_;
};

TEST_F(RootFsTest, AbsolutePathsAreRootRelative) {
  EXPECT_EQ(ReadVia("/etc/passwd"), "inside");
}

TEST_F(RootFsTest, DotDotIsClampedAtRoot) {
  EXPECT_EQ(ReadVia("../../etc/passwd"), "inside");
  EXPECT_EQ(ReadVia("/etc/../../../../etc/passwd"), "inside");
}

TEST_F(RootFsTest, AbsoluteSymlinksResolveInsideRoot) {
  EXPECT_EQ(ReadVia("/passwd_link"), "inside");
  // <root>/abs_link -> <tmp>/outside is re-rooted: <root><tmp>/outside does not exist.
  EXPECT_EQ(ReadVia("/abs_link/secret").substr(0, 4), "ERR:");
}

TEST_F(RootFsTest, RelativeSymlinksCannotClimbOut) {
  std::string got = ReadVia("/etc/rel_link");
  EXPECT_NE(got, "secret");
  EXPECT_EQ(got.substr(0, 4), "ERR:");
}

TEST_F(RootFsTest, MagicLinksAreRefused) {
  EXPECT_EQ(ReadVia("/magic/etc/passwd").substr(0, 4), "ERR:");
}

TEST_F(RootFsTest, NulBytesAreRejected) {
  auto fd = root_->OpenPath(std::string("/etc\0/passwd", 12), O_RDONLY);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Code::kInvalidArgument);
}

TEST_F(RootFsTest, MakeDirsFollowsSymlinksInsideRootOnly) {
  // <root>/abs_link -> <tmp>/outside dangles once re-rooted: mkdir -p fails (as coreutils' does) and
  // creates nothing outside.
  EXPECT_FALSE(root_->MakeDirs("/abs_link/new/dir", static_cast<uid_t>(-1), 0).ok());
  struct stat st;
  EXPECT_EQ(::stat((base_ + "/outside/new").c_str(), &st), -1);
  // An absolute symlink to a directory inside the root is followed relative to the root.
  ASSERT_EQ(::symlink("/etc", (root_dir_ + "/etc_link").c_str()), 0);
  bool created = false;
  ASSERT_TRUE(root_->MakeDirs("/etc_link/sub/dir", static_cast<uid_t>(-1), 0, &created).ok());
  EXPECT_TRUE(created);
  EXPECT_EQ(::stat((root_dir_ + "/etc/sub/dir").c_str(), &st), 0);
  ASSERT_TRUE(root_->MakeDirs("/etc_link/sub/dir", static_cast<uid_t>(-1), 0, &created).ok());
  EXPECT_FALSE(created);
}

TEST_F(RootFsTest, MakeDirsThroughAFileFails) {
  auto s = root_->MakeDirs("/etc/passwd/x", static_cast<uid_t>(-1), 0);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
}

}  // namespace
}  // namespace kiln::envd
