#include "kiln/envd/watcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kiln::envd {
namespace {

constexpr uint32_t kMask =
    IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR | IN_EXCL_UNLINK;

std::string_view TypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kCreate:
      return "EVENT_TYPE_CREATE";
    case WatchEventType::kWrite:
      return "EVENT_TYPE_WRITE";
    case WatchEventType::kRemove:
      return "EVENT_TYPE_REMOVE";
    case WatchEventType::kRename:
      return "EVENT_TYPE_RENAME";
    case WatchEventType::kChmod:
      return "EVENT_TYPE_CHMOD";
  }
  return "EVENT_TYPE_UNSPECIFIED";
}

std::string Join(const std::string& rel, std::string_view name) {
  if (rel.empty()) return std::string(name);
  if (name.empty()) return rel;
  return rel + "/" + std::string(name);
}

// Filesystems whose changes inotify never sees: a watch there would silently report nothing.
Status CheckWatchable(int fd, const std::string& abs, bool allow_network) {
  struct statfs fs;
  if (::fstatfs(fd, &fs) != 0) return ErrnoStatus("statfs '" + abs + "'", errno);
  switch (static_cast<unsigned long>(fs.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
      return InvalidArgument("cannot watch '" + abs +
                             "': it is on a pseudo filesystem (proc, sysfs, cgroup) whose changes produce no "
                             "inotify events");
    case NFS_SUPER_MAGIC:
    case SMB_SUPER_MAGIC:
    case 0xFF534D42:  // CIFS
    case 0xFE534D42:  // SMB2
      if (!allow_network)
        return InvalidArgument("'" + abs +
                               "' is on a network filesystem: set allowNetworkMounts to watch it");
      return Status::Ok();
    default:
      return Status::Ok();
  }
}

// The subdirectories of the open directory `dir_fd` (symlinks excluded).
std::vector<std::string> SubDirs(int dir_fd) {
  std::vector<std::string> out;
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return out;
  }
  while (dirent* d = ::readdir(dir)) {
    std::string_view n = d->d_name;
    if (n == "." || n == "..") continue;
    bool is_dir = d->d_type == DT_DIR;
    struct stat st;
    if (d->d_type == DT_UNKNOWN && ::fstatat(dir_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
      is_dir = S_ISDIR(st.st_mode);
    if (is_dir) out.emplace_back(n);
  }
  ::closedir(dir);
  return out;
}

}  // namespace

Json WatchEventJson(const WatchEvent& event, const std::optional<EntryInfo>& entry) {
  Json j = {{"name", event.name}, {"type", TypeName(event.type)}};
  if (entry) j["entry"] = EntryInfoJson(*entry);
  return j;
}

Result<std::unique_ptr<DirWatcher>> DirWatcher::Create(const RootFs& root, const std::string& abs,
                                                       const WatchOptions& options) {
  auto dir = root.OpenPath(abs, O_RDONLY | O_DIRECTORY);
  if (!dir.ok() && dir.status().code() == Code::kNotFound)
    return NotFound("path '" + abs + "' does not exist");
  if (!dir.ok() && dir.status().message().find("Not a directory") != std::string::npos)
    return InvalidArgument("path '" + abs + "' is not a directory");
  if (!dir.ok()) return dir.status();
  KILN_RETURN_IF_ERROR(CheckWatchable(dir->get(), abs, options.allow_network_mounts));
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 && (errno == EMFILE || errno == ENFILE))
    return ResourceExhausted("no inotify instance left for another watch (the sandbox's limit is reached)");
  if (fd < 0) return ErrnoStatus("inotify_init1", errno);
  std::unique_ptr<DirWatcher> w(new DirWatcher(root, abs, options, UniqueFd(fd)));
  KILN_RETURN_IF_ERROR(w->AddOne("", dir->get()));
  if (options.recursive) {
    for (const std::string& sub : SubDirs(dir->get())) KILN_RETURN_IF_ERROR(w->AddTree(sub));
  }
  return w;
}

Status DirWatcher::AddTree(const std::string& rel) {
  std::vector<std::string> pending = {rel};
  while (!pending.empty()) {
    std::string next = std::move(pending.back());
    pending.pop_back();
    // O_NOFOLLOW: a directory replaced by a symlink since it was listed is skipped, never followed.
    auto dir = root_.OpenPath(JoinPath(abs_, next), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!dir.ok()) continue;  // gone or replaced meanwhile: nothing to watch
    KILN_RETURN_IF_ERROR(AddOne(next, dir->get()));
    for (const std::string& sub : SubDirs(dir->get())) pending.push_back(Join(next, sub));
  }
  return Status::Ok();
}

Status DirWatcher::AddOne(const std::string& rel, int dir_fd) {
  if (dirs_.size() >= options_.max_directories)
    return ResourceExhausted("watching '" + abs_ + "' needs more than " +
                             std::to_string(options_.max_directories) + " directory watches");
  // Through the fd's /proc link: the directory the confined open found, not a path re-resolved by name.
  std::string link = "/proc/self/fd/" + std::to_string(dir_fd);
  int wd = ::inotify_add_watch(inotify_.get(), link.c_str(), kMask);
  if (wd < 0 && errno == ENOSPC) return ResourceExhausted("the sandbox's inotify watch limit is reached");
  if (wd < 0) return ErrnoStatus("inotify_add_watch '" + JoinPath(abs_, rel) + "'", errno);
  dirs_[wd] = rel;
  return Status::Ok();
}

Result<std::vector<WatchEvent>> DirWatcher::Read(int timeout_ms) {
  std::vector<WatchEvent> out;
  pollfd p{inotify_.get(), POLLIN, 0};
  int ready = ::poll(&p, 1, timeout_ms);
  if (ready <= 0) return out;  // timeout, or EINTR: the caller asks again
  alignas(inotify_event) char buf[65536];
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return ErrnoStatus("read inotify events", errno);
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      Translate(*ev, &out);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  return out;
}

void DirWatcher::Translate(const inotify_event& ev, std::vector<WatchEvent>* out) {
  auto it = dirs_.find(ev.wd);
  if (it == dirs_.end()) return;
  if (ev.mask & IN_IGNORED) {
    dirs_.erase(it);
    return;
  }
  const std::string name = Join(it->second, ev.len ? std::string_view(ev.name) : std::string_view());
  if (ev.mask & (IN_CREATE | IN_MOVED_TO)) out->push_back({name, WatchEventType::kCreate});
  if (ev.mask & IN_MODIFY) out->push_back({name, WatchEventType::kWrite});
  if (ev.mask & IN_DELETE) out->push_back({name, WatchEventType::kRemove});
  if (ev.mask & IN_MOVED_FROM) out->push_back({name, WatchEventType::kRename});
  if (ev.mask & IN_ATTRIB) out->push_back({name, WatchEventType::kChmod});
  if (!options_.recursive || !(ev.mask & IN_ISDIR)) return;
  if (ev.mask & IN_MOVED_FROM) {
    // The subtree's watches would report its old names: drop them; a move back in re-adds them.
    for (auto w = dirs_.begin(); w != dirs_.end();) {
      bool inside = w->second == name || w->second.rfind(name + "/", 0) == 0;
      if (inside) ::inotify_rm_watch(inotify_.get(), w->first);
      w = inside ? dirs_.erase(w) : std::next(w);
    }
  }
  // A directory past the bound is left unwatched: the stream goes on for everything already watched.
  if (ev.mask & (IN_CREATE | IN_MOVED_TO)) (void)AddTree(name);
}

}  // namespace kiln::envd
