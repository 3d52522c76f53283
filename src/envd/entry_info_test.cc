#include "kiln/envd/entry_info.h"

#include <gtest/gtest.h>

#include "kiln/envd/users.h"

namespace kiln::envd {
namespace {

TEST(GoFileModeStringTest, MatchesGo) {
  EXPECT_EQ(GoFileModeString(S_IFREG | 0644), "-rw-r--r--");
  EXPECT_EQ(GoFileModeString(S_IFDIR | 0755), "drwxr-xr-x");
  EXPECT_EQ(GoFileModeString(S_IFLNK | 0777), "Lrwxrwxrwx");
  EXPECT_EQ(GoFileModeString(S_IFDIR | S_ISVTX | 0777), "dtrwxrwxrwx");
  EXPECT_EQ(GoFileModeString(S_IFREG | S_ISUID | 0755), "urwxr-xr-x");
  EXPECT_EQ(GoFileModeString(S_IFREG | S_ISGID | 0755), "grwxr-xr-x");
  EXPECT_EQ(GoFileModeString(S_IFCHR | 0666), "Dcrw-rw-rw-");
  EXPECT_EQ(GoFileModeString(S_IFBLK | 0660), "Drw-rw----");
  EXPECT_EQ(GoFileModeString(S_IFIFO | 0600), "prw-------");
  EXPECT_EQ(GoFileModeString(S_IFSOCK | 0700), "Srwx------");
  EXPECT_EQ(GoFileModeString(S_IFREG | 0), "----------");
}

TEST(FileTypeTest, NamesAndKinds) {
  EXPECT_EQ(FileTypeOf(S_IFREG), FileType::kFile);
  EXPECT_EQ(FileTypeOf(S_IFDIR), FileType::kDirectory);
  EXPECT_EQ(FileTypeOf(S_IFLNK), FileType::kSymlink);
  EXPECT_EQ(FileTypeOf(S_IFSOCK), FileType::kUnspecified);
  EXPECT_EQ(FileTypeName(FileType::kDirectory), "FILE_TYPE_DIRECTORY");
  EXPECT_EQ(FileTypeName(FileType::kUnspecified), "FILE_TYPE_UNSPECIFIED");
}

TEST(EntryInfoTest, JsonHasEveryField) {
  struct stat st {};
  st.st_mode = S_IFREG | 0644;
  st.st_size = 3;
  st.st_uid = 1000;
  st.st_gid = 1000;
  st.st_mtim.tv_sec = 1704067200;  // 2024-01-01T00:00:00Z
  st.st_mtim.tv_nsec = 123'000'000;
  UserDb users = UserDb::Parse("user:x:1000:1000::/home/user:/bin/sh\n", "user:x:1000:\n");
  Json j = EntryInfoJson(MakeEntryInfo("/home/user/a.txt", st, users));
  EXPECT_EQ(j["name"], "a.txt");
  EXPECT_EQ(j["type"], "FILE_TYPE_FILE");
  EXPECT_EQ(j["path"], "/home/user/a.txt");
  EXPECT_EQ(j["size"], 3);
  EXPECT_EQ(j["mode"], 420);
  EXPECT_EQ(j["permissions"], "-rw-r--r--");
  EXPECT_EQ(j["owner"], "user");
  EXPECT_EQ(j["group"], "user");
  EXPECT_EQ(j["modifiedTime"], "2024-01-01T00:00:00.123Z");
  EXPECT_FALSE(j.contains("symlinkTarget"));
}

}  // namespace
}  // namespace kiln::envd
