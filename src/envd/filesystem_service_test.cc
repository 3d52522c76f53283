#include "kiln/envd/filesystem_service.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace kiln::envd {
namespace {

class FilesystemServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-fs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::mkdir((dir_ + "/home").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_ + "/home/user").c_str(), 0755), 0);
    auto root = RootFs::Open(dir_);
    ASSERT_TRUE(root.ok());
    root_ = std::make_unique<RootFs>(std::move(root).value());
    fs_ = std::make_unique<FilesystemService>(root_.get());
    caller_.user = {"user", ::getuid(), ::getgid(), "/home/user", "/bin/sh"};
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  Json Call(Result<Json> (FilesystemService::*method)(const Json&, const Caller&) const, Json request) {
    auto r = (fs_.get()->*method)(request, caller_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Json();
  }
  Code CallCode(Result<Json> (FilesystemService::*method)(const Json&, const Caller&) const, Json request) {
    return (fs_.get()->*method)(request, caller_).status().code();
  }

  std::string dir_;
  std::unique_ptr<RootFs> root_;
  std::unique_ptr<FilesystemService> fs_;
  Caller caller_;
};

TEST_F(FilesystemServiceTest, WriteReadStat) {
  auto w = fs_->WriteFile("a/b.txt", "hello", caller_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)["path"], "/home/user/a/b.txt");
  EXPECT_EQ((*w)["name"], "b.txt");
  EXPECT_EQ(*fs_->ReadFile("~/a/b.txt", caller_), "hello");
  Json st = Call(&FilesystemService::Stat, {{"path", "/home/user/a/b.txt"}});
  EXPECT_EQ(st["entry"]["size"], 5);
  EXPECT_EQ(st["entry"]["type"], "FILE_TYPE_FILE");
  EXPECT_EQ(st["entry"]["permissions"], "-rw-r--r--");
}

TEST_F(FilesystemServiceTest, ReadErrorsHaveE2bMessages) {
  auto missing = fs_->ReadFile("/nope", caller_);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "path '/nope' does not exist");
  auto dir = fs_->ReadFile("/home", caller_);
  EXPECT_EQ(dir.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(dir.status().message(), "path '/home' is a directory");
}

TEST_F(FilesystemServiceTest, StatMissingAndSymlink) {
  EXPECT_EQ(CallCode(&FilesystemService::Stat, {{"path", "/missing"}}), Code::kNotFound);
  EXPECT_EQ(CallCode(&FilesystemService::Stat, {{"path", "/missing/deeper"}}), Code::kNotFound);
  ASSERT_EQ(::symlink("../other", (dir_ + "/home/user/link").c_str()), 0);
  Json st = Call(&FilesystemService::Stat, {{"path", "link"}});
  EXPECT_EQ(st["entry"]["type"], "FILE_TYPE_SYMLINK");
  EXPECT_EQ(st["entry"]["name"], "link");
  EXPECT_EQ(st["entry"]["symlinkTarget"], "/home/other");
}

TEST_F(FilesystemServiceTest, ListDirIsPreOrderLexical) {
  for (const char* p : {"d/file1.txt", "d/subdir2/x", "d/subdir1/subdir1_2/y", "d/subdir1/subdir1_1/z"})
    ASSERT_TRUE(fs_->WriteFile(p, "", caller_).ok());
  Json r = Call(&FilesystemService::ListDir, {{"path", "d"}, {"depth", 2}});
  std::vector<std::string> paths;
  for (auto& e : r["entries"]) paths.push_back(e["path"]);
  std::vector<std::string> want = {"/home/user/d/file1.txt",         "/home/user/d/subdir1",
                                   "/home/user/d/subdir1/subdir1_1", "/home/user/d/subdir1/subdir1_2",
                                   "/home/user/d/subdir2",           "/home/user/d/subdir2/x"};
  EXPECT_EQ(paths, want);
  Json one = Call(&FilesystemService::ListDir, {{"path", "d"}, {"depth", "1"}});
  EXPECT_EQ(one["entries"].size(), 3u);
  EXPECT_EQ(CallCode(&FilesystemService::ListDir, {{"path", "nope"}}), Code::kNotFound);
  EXPECT_EQ(CallCode(&FilesystemService::ListDir, {{"path", "d/file1.txt"}}), Code::kInvalidArgument);
}

TEST_F(FilesystemServiceTest, MakeDirSemantics) {
  Json r = Call(&FilesystemService::MakeDir, {{"path", "x/y/z"}});
  EXPECT_EQ(r["entry"]["type"], "FILE_TYPE_DIRECTORY");
  EXPECT_EQ(r["entry"]["path"], "/home/user/x/y/z");
  EXPECT_EQ(CallCode(&FilesystemService::MakeDir, {{"path", "x/y/z"}}), Code::kAlreadyExists);
  ASSERT_TRUE(fs_->WriteFile("f", "", caller_).ok());
  EXPECT_EQ(CallCode(&FilesystemService::MakeDir, {{"path", "f"}}), Code::kInvalidArgument);
}

TEST_F(FilesystemServiceTest, MoveAndRemove) {
  ASSERT_TRUE(fs_->WriteFile("src/a", "1", caller_).ok());
  Json r = Call(&FilesystemService::Move, {{"source", "src"}, {"destination", "new/place"}});
  EXPECT_EQ(r["entry"]["path"], "/home/user/new/place");
  EXPECT_EQ(*fs_->ReadFile("new/place/a", caller_), "1");
  EXPECT_EQ(CallCode(&FilesystemService::Move, {{"source", "src"}, {"destination", "q"}}), Code::kNotFound);
  Call(&FilesystemService::Remove, {{"path", "new"}});
  EXPECT_EQ(CallCode(&FilesystemService::Stat, {{"path", "new"}}), Code::kNotFound);
  Call(&FilesystemService::Remove, {{"path", "new"}});  // missing is fine
  EXPECT_EQ(CallCode(&FilesystemService::Remove, {{"path", "/"}}), Code::kInvalidArgument);
}

TEST_F(FilesystemServiceTest, RemoveDoesNotFollowSymlinksOut) {
  std::string outside = dir_ + "-outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  std::ofstream(outside + "/keep") << "k";
  ASSERT_EQ(::symlink(outside.c_str(), (dir_ + "/home/user/evil").c_str()), 0);
  ASSERT_TRUE(fs_->WriteFile("tree/x", "", caller_).ok());
  ASSERT_EQ(::symlink(outside.c_str(), (dir_ + "/home/user/tree/evil").c_str()), 0);
  Call(&FilesystemService::Remove, {{"path", "tree"}});
  Call(&FilesystemService::Remove, {{"path", "evil"}});
  struct stat st;
  EXPECT_EQ(::stat((outside + "/keep").c_str(), &st), 0);
  std::system(("rm -rf '" + outside + "'").c_str());
}

TEST_F(FilesystemServiceTest, EscapesStayInsideRoot) {
  auto w = fs_->WriteFile("../../../../escape.txt", "x", caller_);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)["path"], "/escape.txt");
  struct stat st;
  EXPECT_EQ(::stat((dir_ + "/escape.txt").c_str(), &st), 0);
  EXPECT_EQ(fs_->ReadFile(std::string("a\0b", 3), caller_).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::envd
