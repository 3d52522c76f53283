// EntryInfo: what the filesystem service reports about one file (E2B filesystem.proto, field for field),
// built from an lstat result. Pure functions; thread-safe.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>

#include "kiln/envd/json_util.h"

namespace kiln::envd {

class UserDb;

// filesystem.FileType; values are the proto numbers and must never be renumbered.
enum class FileType { kUnspecified = 0, kFile = 1, kDirectory = 2, kSymlink = 3 };

// "FILE_TYPE_FILE", ...
std::string_view FileTypeName(FileType type);
// Regular file, directory and symlink map to their types; anything else (device, fifo, socket) is
// UNSPECIFIED, which the SDK skips in listings.
FileType FileTypeOf(mode_t st_mode);

// Go's os.FileMode.String() for a stat mode: "-rw-r--r--", "drwxr-xr-x", "Lrwxrwxrwx", "dtrwxrwxrwx"
// (sticky), "urwxr-xr-x" (setuid), "Dcrw-rw-rw-" (character device).
std::string GoFileModeString(mode_t st_mode);

struct EntryInfo {
  std::string name;  // base name
  FileType type = FileType::kUnspecified;
  std::string path;  // absolute, as the user sees it (inside the root)
  int64_t size = 0;
  uint32_t mode = 0;        // permission bits only (0644 -> 420)
  std::string permissions;  // GoFileModeString
  std::string owner;
  std::string group;
  int64_t modified_nanos = 0;                 // wall clock
  std::optional<std::string> symlink_target;  // absolute, for symlinks
};

// Fills everything but symlink_target from an lstat result.
EntryInfo MakeEntryInfo(const std::string& path, const struct stat& st, const UserDb& users);
// The proto3-JSON form: {"name","type":"FILE_TYPE_FILE","path","size","mode","permissions","owner","group",
// "modifiedTime":"<RFC 3339>","symlinkTarget"?}.
Json EntryInfoJson(const EntryInfo& entry);

}  // namespace kiln::envd
