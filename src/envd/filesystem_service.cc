#include "kiln/envd/filesystem_service.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "kiln/envd/users.h"

namespace kiln::envd {
namespace {

uid_t ChownUid(const Caller& c) {
  return c.switch_identity ? c.user.uid : static_cast<uid_t>(-1);
}

Status NotExist(const std::string& abs) {
  return NotFound("path '" + abs + "' does not exist");
}

// Names in a directory (without . and ..), sorted bytewise like Go's filepath.WalkDir.
Result<std::vector<std::string>> SortedNames(int dir_fd, const std::string& abs) {
  int dup_fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0) return ErrnoStatus("open '" + abs + "'", errno);
  DIR* dir = ::fdopendir(dup_fd);
  if (!dir) {
    ::close(dup_fd);
    return ErrnoStatus("fdopendir '" + abs + "'", errno);
  }
  std::vector<std::string> names;
  while (dirent* d = ::readdir(dir)) {
    std::string_view n = d->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<std::string> SymlinkTarget(int dir_fd, const std::string& name, const std::string& abs) {
  char buf[4096];
  ssize_t n = ::readlinkat(dir_fd, name.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  std::string target(buf, static_cast<size_t>(n));
  if (target.empty()) return std::nullopt;
  if (target[0] == '/') return CleanAbsolute(target);
  return CleanAbsolute(JoinPath(SplitParent(abs).first, target));
}

EntryInfo EntryAt(int dir_fd, const std::string& name, const std::string& abs, const struct stat& st,
                  const UserDb& users) {
  EntryInfo e = MakeEntryInfo(abs, st, users);
  if (e.type == FileType::kSymlink) e.symlink_target = SymlinkTarget(dir_fd, name, abs);
  return e;
}

// The answer is built in memory: bounded so that a listing of "/" at depth 100 cannot take envd's memory.
constexpr int64_t kMaxListDepth = 64;
constexpr size_t kMaxListEntries = 20'000;

// False once `out` holds more than kMaxListEntries.
bool Walk(int dir_fd, const std::string& abs, int depth_left, const UserDb& users, Json* out) {
  auto names = SortedNames(dir_fd, abs);
  if (!names.ok()) return true;  // unreadable or vanished while walking: skipped, as WalkDir's callers do
  for (const std::string& name : *names) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (out->size() >= kMaxListEntries) return false;
    std::string child = JoinPath(abs, name);
    out->push_back(EntryInfoJson(EntryAt(dir_fd, name, child, st, users)));
    if (!S_ISDIR(st.st_mode) || depth_left <= 1) continue;
    // O_NOFOLLOW: a directory swapped for a symlink between fstatat and here is not followed.
    UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub && !Walk(sub.get(), child, depth_left - 1, users, out)) return false;
  }
  return true;
}

Status RemoveTree(int dir_fd, const std::string& name, const std::string& abs) {
  if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return Status::Ok();
  if (errno != EISDIR && errno != EPERM) return ErrnoStatus("remove '" + abs + "'", errno);
  UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub) return ErrnoStatus("open '" + abs + "'", errno);
  KILN_ASSIGN_OR_RETURN(auto names, SortedNames(sub.get(), abs));
  for (const std::string& child : names)
    KILN_RETURN_IF_ERROR(RemoveTree(sub.get(), child, JoinPath(abs, child)));
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return ErrnoStatus("remove '" + abs + "'", errno);
  return Status::Ok();
}

}  // namespace

Result<std::string> FilesystemService::Resolve(std::string_view path, const Caller& caller) {
  return ResolveUserPath(path, caller.user.home);
}

Result<EntryInfo> FilesystemService::StatPath(const std::string& abs, const UserDb& users) const {
  auto [dir, name] = SplitParent(abs);
  auto dir_fd = root_->OpenDir(dir);
  if (!dir_fd.ok()) return dir_fd.status().code() == Code::kNotFound ? NotExist(abs) : dir_fd.status();
  struct stat st;
  int flags = name.empty() ? AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW : AT_SYMLINK_NOFOLLOW;
  if (::fstatat(dir_fd->get(), name.c_str(), &st, flags) != 0) {
    if (errno == ENOENT) return NotExist(abs);
    return ErrnoStatus("stat '" + abs + "'", errno);
  }
  return EntryAt(dir_fd->get(), name, abs, st, users);
}

Result<Json> FilesystemService::Stat(const Json& request, const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(std::string path, GetString(request, "path"));
  KILN_ASSIGN_OR_RETURN(std::string abs, Resolve(path, caller));
  KILN_ASSIGN_OR_RETURN(EntryInfo entry, StatPath(abs, UserDb::Load(*root_)));
  return Json{{"entry", EntryInfoJson(entry)}};
}

Result<Json> FilesystemService::ListDir(const Json& request, const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(std::string path, GetString(request, "path"));
  KILN_ASSIGN_OR_RETURN(int64_t depth, GetInt(request, "depth"));
  KILN_ASSIGN_OR_RETURN(std::string abs, Resolve(path, caller));
  auto dir = root_->OpenPath(abs, O_RDONLY | O_DIRECTORY);
  if (!dir.ok()) {
    if (dir.status().code() == Code::kNotFound) return NotExist(abs);
    if (dir.status().code() == Code::kInvalidArgument)
      return InvalidArgument("path '" + abs + "' is not a directory");
    return dir.status();
  }
  if (depth > kMaxListDepth)
    return InvalidArgument("depth " + std::to_string(depth) + " is above the limit of " +
                           std::to_string(kMaxListDepth));
  Json entries = Json::array();
  if (!Walk(dir->get(), abs, static_cast<int>(std::max<int64_t>(depth, 1)), UserDb::Load(*root_), &entries))
    return ResourceExhausted("the listing of '" + abs + "' has more than " + std::to_string(kMaxListEntries) +
                             " entries; list a smaller depth or a subdirectory");
  return Json{{"entries", std::move(entries)}};
}

Result<Json> FilesystemService::MakeDir(const Json& request, const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(std::string path, GetString(request, "path"));
  KILN_ASSIGN_OR_RETURN(std::string abs, Resolve(path, caller));
  bool created = false;
  KILN_RETURN_IF_ERROR(root_->MakeDirs(abs, ChownUid(caller), caller.user.gid, &created));
  if (!created) return AlreadyExists("directory '" + abs + "' already exists");
  KILN_ASSIGN_OR_RETURN(EntryInfo entry, StatPath(abs, UserDb::Load(*root_)));
  return Json{{"entry", EntryInfoJson(entry)}};
}

Result<Json> FilesystemService::Move(const Json& request, const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(std::string source, GetString(request, "source"));
  KILN_ASSIGN_OR_RETURN(std::string destination, GetString(request, "destination"));
  KILN_ASSIGN_OR_RETURN(std::string from, Resolve(source, caller));
  KILN_ASSIGN_OR_RETURN(std::string to, Resolve(destination, caller));
  if (from == "/" || to == "/") return InvalidArgument("cannot move the root directory");
  auto [from_dir, from_name] = SplitParent(from);
  auto [to_dir, to_name] = SplitParent(to);
  auto from_fd = root_->OpenDir(from_dir);
  if (!from_fd.ok()) return from_fd.status().code() == Code::kNotFound ? NotExist(from) : from_fd.status();
  struct stat st;
  if (::fstatat(from_fd->get(), from_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? NotExist(from) : ErrnoStatus("stat '" + from + "'", errno);
  KILN_RETURN_IF_ERROR(root_->MakeDirs(to_dir, ChownUid(caller), caller.user.gid));
  KILN_ASSIGN_OR_RETURN(UniqueFd to_fd, root_->OpenDir(to_dir));
  if (::renameat(from_fd->get(), from_name.c_str(), to_fd.get(), to_name.c_str()) != 0)
    return ErrnoStatus("rename '" + from + "' to '" + to + "'", errno);
  KILN_ASSIGN_OR_RETURN(EntryInfo entry, StatPath(to, UserDb::Load(*root_)));
  return Json{{"entry", EntryInfoJson(entry)}};
}

Result<Json> FilesystemService::Remove(const Json& request, const Caller& caller) const {
  KILN_ASSIGN_OR_RETURN(std::string path, GetString(request, "path"));
  KILN_ASSIGN_OR_RETURN(std::string abs, Resolve(path, caller));
  if (abs == "/") return InvalidArgument("refusing to remove the root directory");
  auto [dir, name] = SplitParent(abs);
  auto dir_fd = root_->OpenDir(dir);
  if (!dir_fd.ok()) {
    if (dir_fd.status().code() == Code::kNotFound) return Json::object();
    return dir_fd.status();
  }
  KILN_RETURN_IF_ERROR(RemoveTree(dir_fd->get(), name, abs));
  return Json::object();
}

}  // namespace kiln::envd
