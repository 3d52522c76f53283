// Path handling for envd's file APIs. Sandboxed code is hostile, so every user-supplied path is resolved by
// the kernel inside a root directory (openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `..` and
// absolute symlinks are clamped to the root and cannot escape it. Callers then operate on the directory fds
// this returns (mkdirat, unlinkat, renameat, fstatat) instead of re-resolving strings.
//
// Thread-safety: RootFs is immutable after Open() and safe to share between threads.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"

namespace kiln::envd {

// Go's path.Clean for an absolute path: collapses "//", ".", and ".." (never above "/"). `path` must start
// with '/'.
std::string CleanAbsolute(std::string_view path);

// Turns a path from a request into a clean absolute path as the user sees it: "~" and "~/x" expand to
// `home`, a relative path (and "") resolves against `home`. Fails (InvalidArgument) on a NUL byte.
Result<std::string> ResolveUserPath(std::string_view input, std::string_view home);

// "/a/b/c" -> {"/a/b", "c"}; "/a" -> {"/", "a"}; "/" -> {"/", ""}. `clean_abs` must be clean and absolute.
std::pair<std::string, std::string> SplitParent(const std::string& clean_abs);
// "/a" + "b" -> "/a/b"; "/" + "b" -> "/b".
std::string JoinPath(const std::string& dir, std::string_view name);

class RootFs {
 public:
  // Opens `root_dir` (a host path) as the confinement root. Fails if it is not a directory.
  static Result<RootFs> Open(const std::string& root_dir);

  // openat2(root, path, flags | O_CLOEXEC, mode) confined to the root; `path` is absolute or relative to
  // the root. Errors are ErrnoStatus values naming `path` ("open '/x': No such file or directory").
  Result<UniqueFd> OpenPath(const std::string& path, int flags, mode_t mode = 0) const;
  // An O_PATH | O_DIRECTORY fd of `dir` (symlinks followed inside the root).
  Result<UniqueFd> OpenDir(const std::string& dir) const;
  // Creates every missing directory of `clean_abs` (mkdir -p, mode 0755), chowning the ones it creates to
  // uid/gid unless uid is -1. Fails with InvalidArgument if a component exists and is not a directory.
  // Sets *created (if given) to whether the last component was created here.
  Status MakeDirs(const std::string& clean_abs, uid_t uid, gid_t gid, bool* created = nullptr) const;

  int fd() const { return root_.get(); }

 private:
  explicit RootFs(UniqueFd root) : root_(std::move(root)) {}
  UniqueFd root_;
};

}  // namespace kiln::envd
