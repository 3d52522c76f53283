#include "kiln/base/os.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kiln {
namespace {

// From <linux/mount.h>, which clashes with glibc's <sys/mount.h>.
constexpr unsigned kOpenTreeClone = 1;
constexpr unsigned kMoveMountFromEmptyPath = 0x4;
constexpr unsigned kAtRecursive = 0x8000;  // <linux/fcntl.h>
constexpr uint64_t kMountAttrRdonly = 0x1, kMountAttrNosuid = 0x2, kMountAttrNodev = 0x4;
constexpr uint64_t kMountAttrIdmap = 0x100000;
struct MountAttr {  // struct mount_attr
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

Status WriteAll(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open(" + path + ")", errno);
  ssize_t n = ::write(fd, data.data(), data.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(data.size())) return ErrnoStatus("write(" + path + ")", n < 0 ? err : EIO);
  return Status::Ok();
}

// A user namespace with the single mapping disk id -> shown id (an fd to it), held by a child that waits in
// it until `release` is closed. The child is forked so that the caller may be multi-threaded.
class IdmapNamespace {
 public:
  ~IdmapNamespace() {
    if (release_ >= 0) ::close(release_);
    if (ns_fd_ >= 0) ::close(ns_fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Result<int> Open(uid_t disk_uid, gid_t disk_gid, uid_t shown_uid, gid_t shown_gid) {
    int ready[2], hold[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
    if (::pipe2(hold, O_CLOEXEC) != 0) {
      ::close(ready[0]), ::close(ready[1]);
      return ErrnoStatus("pipe2", errno);
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]), ::close(hold[1]);
      char ok = ::unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
      if (::write(ready[1], &ok, 1) == 1 && ok) (void)!::read(hold[0], &ok, 1);
      ::_exit(0);
    }
    int fork_errno = errno;
    ::close(ready[1]), ::close(hold[0]);
    release_ = hold[1];
    char ok = 0;
    ssize_t n = pid_ > 0 ? ::read(ready[0], &ok, 1) : -1;
    ::close(ready[0]);
    if (pid_ < 0) return ErrnoStatus("fork", fork_errno);
    if (n != 1 || !ok) return FailedPrecondition("unshare(CLONE_NEWUSER) failed for an idmapped mount");
    std::string proc = "/proc/" + std::to_string(pid_);
    KILN_RETURN_IF_ERROR(
        WriteAll(proc + "/uid_map", std::to_string(disk_uid) + " " + std::to_string(shown_uid) + " 1\n"));
    KILN_RETURN_IF_ERROR(
        WriteAll(proc + "/gid_map", std::to_string(disk_gid) + " " + std::to_string(shown_gid) + " 1\n"));
    ns_fd_ = ::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd_ < 0) return ErrnoStatus("open(" + proc + "/ns/user)", errno);
    return ns_fd_;
  }

 private:
  pid_t pid_ = -1;
  int release_ = -1;
  int ns_fd_ = -1;
};

class RealOs final : public Os {
 public:
  Status Mount(const std::string& source, const std::string& target, const std::string& fstype,
               unsigned long flags, const std::string& data) override {
    if (::mount(source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(), flags,
                data.empty() ? nullptr : data.c_str()) != 0) {
      return ErrnoStatus("mount(" + source + ", " + target + ", " + fstype + ")", errno);
    }
    return Status::Ok();
  }
  Status Umount(const std::string& target, int flags) override {
    if (::umount2(target.c_str(), flags) != 0) return ErrnoStatus("umount2(" + target + ")", errno);
    return Status::Ok();
  }
  Status PivotRoot(const std::string& new_root, const std::string& put_old) override {
    if (::syscall(SYS_pivot_root, new_root.c_str(), put_old.c_str()) != 0) {
      return ErrnoStatus("pivot_root(" + new_root + ", " + put_old + ")", errno);
    }
    return Status::Ok();
  }
  Result<int> CloneMountTree(const std::string& path, bool recursive) override {
    unsigned flags = kOpenTreeClone | O_CLOEXEC | (recursive ? kAtRecursive : 0);
    long fd = ::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), flags);
    if (fd < 0) return ErrnoStatus("open_tree(" + path + ", OPEN_TREE_CLONE)", errno);
    return static_cast<int>(fd);
  }
  Status AttachMountTree(int tree_fd, const std::string& target) override {
    if (::syscall(SYS_move_mount, tree_fd, "", AT_FDCWD, target.c_str(), kMoveMountFromEmptyPath) != 0) {
      return ErrnoStatus("move_mount(fd " + std::to_string(tree_fd) + ", " + target + ")", errno);
    }
    return Status::Ok();
  }
  Status IdmapMountTree(int tree_fd, int userns_fd) override {
    MountAttr attr{kMountAttrIdmap | kMountAttrRdonly, 0, 0, static_cast<uint64_t>(userns_fd)};
    if (::syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
      return ErrnoStatus("mount_setattr(fd " + std::to_string(tree_fd) + ", MOUNT_ATTR_IDMAP)", errno);
    }
    return Status::Ok();
  }
  Status IdmapMountTree(int tree_fd, uid_t disk_uid, gid_t disk_gid, uid_t shown_uid,
                        gid_t shown_gid) override {
    IdmapNamespace ns;
    KILN_ASSIGN_OR_RETURN(int ns_fd, ns.Open(disk_uid, disk_gid, shown_uid, shown_gid));
    MountAttr attr{kMountAttrIdmap | kMountAttrRdonly | kMountAttrNosuid | kMountAttrNodev, 0, 0,
                   static_cast<uint64_t>(ns_fd)};
    if (::syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
      return ErrnoStatus("mount_setattr(fd " + std::to_string(tree_fd) + ", MOUNT_ATTR_IDMAP)", errno);
    return Status::Ok();
  }
  Status MakeDir(const std::string& path, mode_t mode) override {
    if (::mkdir(path.c_str(), mode) != 0) return ErrnoStatus("mkdir(" + path + ")", errno);
    return Status::Ok();
  }
  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return ErrnoStatus("rmdir(" + path + ")", errno);
    return Status::Ok();
  }
  Status Touch(const std::string& path, mode_t mode) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) return ErrnoStatus("open(" + path + ", O_CREAT)", errno);
    ::close(fd);
    return Status::Ok();
  }
  Status Symlink(const std::string& target, const std::string& link_path) override {
    if (::symlink(target.c_str(), link_path.c_str()) != 0) {
      return ErrnoStatus("symlink(" + target + ", " + link_path + ")", errno);
    }
    return Status::Ok();
  }
  Status WriteFile(const std::string& path, std::string_view data) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open(" + path + ")", errno);
    ssize_t n = ::write(fd, data.data(), data.size());
    int err = errno;
    ::close(fd);
    if (n < 0) return ErrnoStatus("write(" + path + ", \"" + std::string(data) + "\")", err);
    if (static_cast<size_t>(n) != data.size()) return Internal("short write to " + path);
    return Status::Ok();
  }
  Result<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open(" + path + ")", errno);
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return ErrnoStatus("read(" + path + ")", err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }
  Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode, uid_t uid,
                      gid_t gid) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return ErrnoStatus("open(" + path + ", O_CREAT)", errno);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return ErrnoStatus("write(" + path + ")", err);
      }
      done += static_cast<size_t>(n);
    }
    int rc = ::fchmod(fd, mode) == 0 && ::fchown(fd, uid, gid) == 0 ? 0 : errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fchown/fchmod(" + path + ")", rc);
    return Status::Ok();
  }
  Status Chown(const std::string& path, uid_t uid, gid_t gid) override {
    if (::lchown(path.c_str(), uid, gid) != 0) return ErrnoStatus("chown(" + path + ")", errno);
    return Status::Ok();
  }
  Status SetHostname(const std::string& name) override {
    if (::sethostname(name.data(), name.size()) != 0) return ErrnoStatus("sethostname(" + name + ")", errno);
    return Status::Ok();
  }
  Result<std::vector<Subdir>> ListSubdirs(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return ErrnoStatus("opendir(" + dir + ")", errno);
    std::vector<Subdir> out;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)) continue;
      struct stat st {};
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
      out.push_back({std::string(name), static_cast<int64_t>(st.st_mtime)});
    }
    ::closedir(d);
    return out;
  }
  Status Kill(pid_t pid, int signal) override {
    if (::kill(pid, signal) != 0) {
      return ErrnoStatus("kill(" + std::to_string(pid) + ", " + std::to_string(signal) + ")", errno);
    }
    return Status::Ok();
  }
};

}  // namespace

Os& Os::Real() {
  static RealOs* real = new RealOs();
  return *real;
}

}  // namespace kiln
