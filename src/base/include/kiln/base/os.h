// The OS seam: every system call the sandbox engine makes that a test may want to fail goes through Os.
//
// Os::Real() makes the real calls and translates errno once, into a Status that names the call and its
// arguments. ForwardingOs delegates every call to another Os, so a test overrides only the call it wants to
// fail (leveldb's EnvWrapper pattern). Implementations must be safe to call after fork() in a child that is
// single-threaded: no locks, no allocation beyond what the Status message needs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln {

struct Subdir {
  std::string name;
  int64_t modified_unix_seconds = 0;  // st_mtime
};

class Os {
 public:
  virtual ~Os() = default;
  // The process-wide real implementation. Never null, never destroyed.
  static Os& Real();

  virtual Status Mount(const std::string& source, const std::string& target, const std::string& fstype,
                       unsigned long flags, const std::string& data) = 0;
  virtual Status Umount(const std::string& target, int flags) = 0;
  virtual Status PivotRoot(const std::string& new_root, const std::string& put_old) = 0;
  // A detached copy of the mount at `path` (open_tree(OPEN_TREE_CLONE), close-on-exec; `recursive` takes
  // the mounts below it too). The caller owns the returned fd. Made by a process that can reach `path`, it
  // lets a sandbox whose root cannot (a private directory on the way) still mount what is there.
  virtual Result<int> CloneMountTree(const std::string& path, bool recursive) = 0;
  // Attaches a detached mount tree (from CloneMountTree) at `target` (move_mount).
  virtual Status AttachMountTree(int tree_fd, const std::string& target) = 0;
  // Makes the detached tree read-only and idmapped through the user namespace `userns_fd`: a file owned by
  // uid N on disk appears owned by whatever host uid that namespace maps N to
  // (mount_setattr(MOUNT_ATTR_IDMAP)).
  virtual Status IdmapMountTree(int tree_fd, int userns_fd) = 0;
  // Makes a detached tree read-only, nosuid and nodev, and shows what `disk_uid`/`disk_gid` own on disk as
  // owned by the host ids `shown_uid`/`shown_gid` (an idmapped mount through a throwaway user namespace);
  // files of other owners show as the overflow id (nobody). Needs CAP_SYS_ADMIN on the host.
  virtual Status IdmapMountTree(int tree_fd, uid_t disk_uid, gid_t disk_gid, uid_t shown_uid,
                                gid_t shown_gid) = 0;
  // mkdir(2); an existing directory is an AlreadyExists error the caller may ignore.
  virtual Status MakeDir(const std::string& path, mode_t mode) = 0;
  virtual Status RemoveDir(const std::string& path) = 0;
  // Creates an empty regular file (if missing) to serve as a bind-mount target.
  virtual Status Touch(const std::string& path, mode_t mode) = 0;
  virtual Status Symlink(const std::string& target, const std::string& link_path) = 0;
  // Opens an existing file write-only with O_TRUNC and writes `data` in one write(2) (cgroup files need
  // this).
  virtual Status WriteFile(const std::string& path, std::string_view data) = 0;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Creates (or truncates) a regular file with `data`, then sets its mode and owner.
  virtual Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode, uid_t uid,
                              gid_t gid) = 0;
  virtual Status Chown(const std::string& path, uid_t uid, gid_t gid) = 0;
  virtual Status SetHostname(const std::string& name) = 0;
  virtual Status Kill(pid_t pid, int signal) = 0;
  // The directories directly inside `dir` (not "." and ".."), in no particular order.
  virtual Result<std::vector<Subdir>> ListSubdirs(const std::string& dir) = 0;
};

class ForwardingOs : public Os {
 public:
  explicit ForwardingOs(Os* target) : target_(target) {}
  Status Mount(const std::string& s, const std::string& t, const std::string& f, unsigned long fl,
               const std::string& d) override {
    return target_->Mount(s, t, f, fl, d);
  }
  Status Umount(const std::string& t, int f) override { return target_->Umount(t, f); }
  Status PivotRoot(const std::string& n, const std::string& p) override { return target_->PivotRoot(n, p); }
  Result<int> CloneMountTree(const std::string& p, bool r) override { return target_->CloneMountTree(p, r); }
  Status AttachMountTree(int fd, const std::string& t) override { return target_->AttachMountTree(fd, t); }
  Status IdmapMountTree(int fd, int userns) override { return target_->IdmapMountTree(fd, userns); }
  Status IdmapMountTree(int fd, uid_t du, gid_t dg, uid_t su, gid_t sg) override {
    return target_->IdmapMountTree(fd, du, dg, su, sg);
  }
  Status MakeDir(const std::string& p, mode_t m) override { return target_->MakeDir(p, m); }
  Status RemoveDir(const std::string& p) override { return target_->RemoveDir(p); }
  Status Touch(const std::string& p, mode_t m) override { return target_->Touch(p, m); }
  Status Symlink(const std::string& t, const std::string& l) override { return target_->Symlink(t, l); }
  Status WriteFile(const std::string& p, std::string_view d) override { return target_->WriteFile(p, d); }
  Result<std::string> ReadFile(const std::string& p) override { return target_->ReadFile(p); }
  Status WriteNewFile(const std::string& p, std::string_view d, mode_t m, uid_t u, gid_t g) override {
    return target_->WriteNewFile(p, d, m, u, g);
  }
  Status Chown(const std::string& p, uid_t u, gid_t g) override { return target_->Chown(p, u, g); }
  Status SetHostname(const std::string& n) override { return target_->SetHostname(n); }
  Status Kill(pid_t pid, int sig) override { return target_->Kill(pid, sig); }
  Result<std::vector<Subdir>> ListSubdirs(const std::string& d) override { return target_->ListSubdirs(d); }

 private:
  Os* target_;
};

}  // namespace kiln
