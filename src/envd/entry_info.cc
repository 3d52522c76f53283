#include "kiln/envd/entry_info.h"

#include "kiln/base/clock.h"
#include "kiln/envd/paths.h"
#include "kiln/envd/users.h"

namespace kiln::envd {

std::string_view FileTypeName(FileType type) {
  switch (type) {
    case FileType::kFile:
      return "FILE_TYPE_FILE";
    case FileType::kDirectory:
      return "FILE_TYPE_DIRECTORY";
    case FileType::kSymlink:
      return "FILE_TYPE_SYMLINK";
    default:
      return "FILE_TYPE_UNSPECIFIED";
  }
}

FileType FileTypeOf(mode_t st_mode) {
  if (S_ISREG(st_mode)) return FileType::kFile;
  if (S_ISDIR(st_mode)) return FileType::kDirectory;
  if (S_ISLNK(st_mode)) return FileType::kSymlink;
  return FileType::kUnspecified;
}

std::string GoFileModeString(mode_t m) {
  // Go prints one letter per set type bit, in the order of its constant "dalTLDpSugct?"; the letters envd
  // can see from stat are these, in that order.
  std::string out;
  if (S_ISDIR(m)) out += 'd';
  if (S_ISLNK(m)) out += 'L';
  if (S_ISBLK(m) || S_ISCHR(m)) out += 'D';
  if (S_ISFIFO(m)) out += 'p';
  if (S_ISSOCK(m)) out += 'S';
  if (m & S_ISUID) out += 'u';
  if (m & S_ISGID) out += 'g';
  if (S_ISCHR(m)) out += 'c';
  if (m & S_ISVTX) out += 't';
  if (out.empty()) out += '-';
  static const char kRwx[] = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) out += (m & (1u << (8 - i))) ? kRwx[i] : '-';
  return out;
}

EntryInfo MakeEntryInfo(const std::string& path, const struct stat& st, const UserDb& users) {
  EntryInfo e;
  e.path = path;
  e.name = path == "/" ? "/" : SplitParent(path).second;
  e.type = FileTypeOf(st.st_mode);
  e.size = static_cast<int64_t>(st.st_size);
  e.mode = st.st_mode & 0777;
  e.permissions = GoFileModeString(st.st_mode);
  e.owner = users.UserName(st.st_uid);
  e.group = users.GroupName(st.st_gid);
  e.modified_nanos = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return e;
}

Json EntryInfoJson(const EntryInfo& e) {
  Json j = {{"name", e.name},
            {"type", FileTypeName(e.type)},
            {"path", e.path},
            {"size", e.size},
            {"mode", e.mode},
            {"permissions", e.permissions},
            {"owner", e.owner},
            {"group", e.group},
            {"modifiedTime", Rfc3339(e.modified_nanos)}};
  if (e.symlink_target) j["symlinkTarget"] = *e.symlink_target;
  return j;
}

}  // namespace kiln::envd
