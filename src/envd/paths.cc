#include "kiln/envd/paths.h"

#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "kiln/base/strings.h"

namespace kiln::envd {

std::string CleanAbsolute(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(i, end - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = end + 1;
  }
  std::string out;
  for (std::string_view p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

Result<std::string> ResolveUserPath(std::string_view input, std::string_view home) {
  if (input.find('\0') != std::string_view::npos) return InvalidArgument("path contains a NUL byte");
  std::string joined;
  if (input == "~" || StartsWith(input, "~/")) {
    joined = std::string(home) + "/" + std::string(input.substr(1));
  } else if (StartsWith(input, "/")) {
    joined = std::string(input);
  } else {
    joined = std::string(home) + "/" + std::string(input);
  }
  if (!StartsWith(joined, "/")) joined = "/" + joined;  // a relative home in /etc/passwd
  return CleanAbsolute(joined);
}

std::pair<std::string, std::string> SplitParent(const std::string& clean_abs) {
  if (clean_abs == "/") return {"/", ""};
  size_t slash = clean_abs.rfind('/');
  std::string dir = slash == 0 ? "/" : clean_abs.substr(0, slash);
  return {dir, clean_abs.substr(slash + 1)};
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  if (dir == "/") return "/" + std::string(name);
  return dir + "/" + std::string(name);
}

// The one place envd resolves a path string: the kernel clamps `..` and absolute symlinks to the root and
// refuses /proc magic links, so no concurrent rename or planted symlink can lead outside it.
static int OpenInRoot(int root_fd, const std::string& path, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char* p = path.empty() ? "." : path.c_str();
  for (int attempt = 0;; ++attempt) {
    long fd = syscall(SYS_openat2, root_fd, p, &how, sizeof how);
    // EAGAIN: a concurrent rename made the kernel unsure `..` stayed inside; retrying is the documented fix.
    if (fd < 0 && errno == EAGAIN && attempt < 16) continue;
    return static_cast<int>(fd);
  }
}

Result<RootFs> RootFs::Open(const std::string& root_dir) {
  int fd = ::open(root_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open root '" + root_dir + "'", errno);
  return RootFs(UniqueFd(fd));
}

Result<UniqueFd> RootFs::OpenPath(const std::string& path, int flags, mode_t mode) const {
  if (path.find('\0') != std::string::npos) return InvalidArgument("path contains a NUL byte");
  int fd = OpenInRoot(root_.get(), path, flags, mode);
  if (fd < 0) {
    int err = errno;
    Status status = ErrnoStatus("open '" + path + "'", err);
    errno = err;  // callers may distinguish errnos that share a code (EISDIR vs ELOOP)
    return status;
  }
  return UniqueFd(fd);
}

Result<UniqueFd> RootFs::OpenDir(const std::string& dir) const {
  return OpenPath(dir, O_PATH | O_DIRECTORY);
}

Status RootFs::MakeDirs(const std::string& clean_abs, uid_t uid, gid_t gid, bool* created) const {
  if (created) *created = false;
  KILN_ASSIGN_OR_RETURN(UniqueFd dir, OpenDir("/"));
  std::string walked = "/";
  for (const std::string& part : Split(clean_abs, '/')) {
    if (part.empty()) continue;
    bool made = ::mkdirat(dir.get(), part.c_str(), 0755) == 0;
    if (!made && errno != EEXIST) return ErrnoStatus("mkdir '" + JoinPath(walked, part) + "'", errno);
    if (made && uid != static_cast<uid_t>(-1)) {
      if (::fchownat(dir.get(), part.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
        return ErrnoStatus("chown '" + JoinPath(walked, part) + "'", errno);
    }
    if (created) *created = made;
    walked = JoinPath(walked, part);
    // Re-resolve from the root: a symlinked component must be followed with root-relative semantics.
    auto next = OpenDir(walked);
    if (!next.ok()) {
      if (next.status().code() == Code::kInvalidArgument)  // ENOTDIR
        return InvalidArgument("path '" + walked + "' exists and is not a directory");
      return next.status();
    }
    dir = std::move(next).value();
  }
  return Status::Ok();
}

}  // namespace kiln::envd
