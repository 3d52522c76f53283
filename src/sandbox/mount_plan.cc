#include "mount_plan.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "kiln/base/strings.h"
#include "kiln/sandbox/user_db.h"

namespace kiln::sandbox {
namespace {

constexpr unsigned long kHardening = MS_NOSUID | MS_NODEV;

class PlanBuilder {
 public:
  PlanBuilder(std::string root, Identity id) : root_(std::move(root)), id_(id) {}

  // Binds `source` at `target`, or attaches the detached tree `tree_fd` (a copy of `source`) there.
  void BindOrAttach(const std::string& source, const std::string& target, int tree_fd, bool recursive) {
    if (tree_fd < 0) {
      Mount(source, target, "", MS_BIND | (recursive ? MS_REC : 0), "");
      return;
    }
    MountStep s{MountStep::kAttachTree, source, root_ + target};
    s.tree_fd = tree_fd;
    steps_.push_back(s);
    // The copy would otherwise stay in the host mount's peer group.
    Mount("", target, "", MS_PRIVATE | (recursive ? MS_REC : 0), "");
  }

  void Mount(std::string src, std::string target, std::string fstype, unsigned long flags, std::string data) {
    steps_.push_back(
        {MountStep::kMount, std::move(src), root_ + target, std::move(fstype), flags, std::move(data)});
  }
  void Mkdir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
    MountStep s{MountStep::kMkdir, root_ + path};
    s.mode = mode, s.uid = uid, s.gid = gid, s.tolerate_exists = true;
    steps_.push_back(s);
  }
  void SystemDir(const std::string& path) { Mkdir(path, 0755, id_.root_uid, id_.root_uid); }
  // Creates the missing ancestors of `path` (mount targets may be anywhere, e.g. /opt/tools/bin).
  void Parents(const std::string& path) {
    for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
      std::string dir = path.substr(0, pos);
      if (made_parents_.insert(dir).second) SystemDir(dir);
    }
  }
  void Touch(const std::string& path) {
    MountStep s{MountStep::kTouch, root_ + path};
    s.mode = 0644, s.tolerate_exists = true;
    steps_.push_back(s);
  }
  void Symlink(const std::string& target, const std::string& path) {
    steps_.push_back({MountStep::kSymlink, target, root_ + path});
  }
  void WriteFile(const std::string& path, std::string content, mode_t mode, uid_t uid, gid_t gid) {
    MountStep s{MountStep::kWriteFile, root_ + path};
    s.data = std::move(content), s.mode = mode, s.uid = uid, s.gid = gid;
    steps_.push_back(s);
  }
  // A read-only bind of a host path (dir or file), keeping the flags the kernel locks for us (noexec).
  void BindReadOnly(const std::string& source, const std::string& target, bool is_dir, int tree_fd = -1) {
    Parents(target);
    if (is_dir) {
      SystemDir(target);
    } else {
      Touch(target);
    }
    BindOrAttach(source, target, tree_fd, /*recursive=*/false);
    struct statvfs vfs {};
    unsigned long locked = (statvfs(source.c_str(), &vfs) == 0 && (vfs.f_flag & ST_NOEXEC)) ? MS_NOEXEC : 0;
    Mount("", target, "", MS_REMOUNT | MS_BIND | MS_RDONLY | kHardening | locked, "");
  }
  void Raw(MountStep step) { steps_.push_back(std::move(step)); }
  void Detach(const std::string& path) { steps_.push_back({MountStep::kDetach, root_ + path}); }
  const std::string& root() const { return root_; }
  std::vector<MountStep> Take() { return std::move(steps_); }
  const Identity& id() const { return id_; }

 private:
  std::string root_;
  Identity id_;
  std::vector<MountStep> steps_;
  std::set<std::string> made_parents_;
};

// A detached copy of `m.source` when the sandbox's root could not look it up by path, else -1.
Result<int> DetachedCopy(const BindMount& m, Os& os, bool host_root_parent, MountPlan& out) {
  if (!host_root_parent || ReachableByOthers(m.source)) return -1;
  Result<int> fd = os.CloneMountTree(m.source, m.writable);
  if (!fd.ok()) {
    return fd.status().WithContext("mount source " + m.source +
                                   " is under a directory the sandbox cannot search; copying its mount");
  }
  out.trees.emplace_back(*fd);
  return *fd;
}

// Overlay options are comma-separated and lowerdir lists colon-separated; such paths would be misread.
Status CheckOverlayPath(const std::string& path) {
  if (path.find_first_of(",:\\") != std::string::npos)
    return InvalidArgument("layered mount path '" + path + "' contains ',', ':' or '\\'");
  return Status::Ok();
}

// `source` (a host directory) at `target` as an overlay: the read-only lower layer is the host directory
// (an idmapped copy when the caller is root), the upper and work directories are on the sandbox's root
// tmpfs, i.e. its bounded disk.
Status AddLayeredMount(const std::string& source, const std::string& target, PlanBuilder& plan, Os& os,
                       MountPlan& out, const std::string& new_root) {
  KILN_RETURN_IF_ERROR(CheckOverlayPath(new_root + target));
  KILN_RETURN_IF_ERROR(CheckOverlayPath(source));
  const Identity& id = plan.id();
  if (out.layers == 0) plan.Mkdir(kLayersDir, 0700, id.root_uid, id.root_uid);
  std::string layer = std::string(kLayersDir) + "/" + std::to_string(out.layers++);
  plan.Mkdir(layer, 0700, id.root_uid, id.root_uid);
  for (const char* part : {"/upper", "/work"}) plan.Mkdir(layer + part, 0755, id.root_uid, id.root_uid);
  std::string lower = source;
  // A filesystem without idmapped mounts (older kernels) keeps the host's owners: /usr stays the host
  // root's, unchangeable by the sandbox's root, but the rest of the root is still writable.
  if (id.idmap_userns_fd >= 0) {
    Result<int> fd = os.CloneMountTree(source, /*recursive=*/false);
    if (!fd.ok()) return fd.status().WithContext("copying " + source + " for its writable layer");
    UniqueFd tree(*fd);
    if (os.IdmapMountTree(tree.get(), id.idmap_userns_fd).ok()) {
      plan.Mkdir(layer + "/lower", 0755, id.root_uid, id.root_uid);
      plan.BindOrAttach(source, layer + "/lower", tree.get(), /*recursive=*/false);
      out.trees.push_back(std::move(tree));
      lower = new_root + layer + "/lower";
    }
  }
  plan.Parents(target);
  plan.SystemDir(target);
  plan.Mount("overlay", target, "overlay", kHardening,
             "lowerdir=" + lower + ",upperdir=" + new_root + layer + "/upper,workdir=" + new_root + layer +
                 "/work,userxattr");
  return Status::Ok();
}

Status AddSystemMounts(const SandboxSpec& spec, PlanBuilder& plan, Os& os, bool host_root_parent,
                       MountPlan& out, const std::string& new_root) {
  for (const BindMount& m : spec.mounts) {
    std::string target = m.target.empty() ? m.source : m.target;
    struct stat st {};
    if (lstat(m.source.c_str(), &st) != 0) {
      if (m.optional) continue;
      return FailedPrecondition("mount source " + m.source + " does not exist on this host");
    }
    if (S_ISLNK(st.st_mode)) {  // merged-/usr hosts: /bin -> usr/bin; mirror the link
      char buf[4096];
      ssize_t n = readlink(m.source.c_str(), buf, sizeof buf - 1);
      if (n <= 0) return ErrnoStatus("readlink(" + m.source + ")", errno);
      plan.Symlink(std::string(buf, static_cast<size_t>(n)), target);
      continue;
    }
    if (m.layered && spec.writable_root && !m.writable && S_ISDIR(st.st_mode)) {
      KILN_RETURN_IF_ERROR(AddLayeredMount(m.source, target, plan, os, out, new_root));
      continue;
    }
    KILN_ASSIGN_OR_RETURN(int tree_fd, DetachedCopy(m, os, host_root_parent, out));
    if (m.writable) {
      plan.Parents(target);
      plan.SystemDir(target);
      plan.BindOrAttach(m.source, target, tree_fd, /*recursive=*/true);
      plan.Mount("", target, "", MS_REMOUNT | MS_BIND | kHardening, "");
    } else {
      plan.BindReadOnly(m.source, target, S_ISDIR(st.st_mode), tree_fd);
    }
  }
  return Status::Ok();
}

// The host's /etc/profile plus a last line that puts /opt/kiln/bin (where the runtime mounts Kiln's tools
// for sandboxed code, such as sudo) first on PATH: E2B's SDK runs every command as `bash -l -c`, and
// Debian's profile resets PATH, so a bound copy would hide them.
std::string ProfileFile(const std::string& host_profile) {
  std::ifstream in(host_profile, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text +
         "case \":$PATH:\" in *:/opt/kiln/bin:*) ;; *) [ -d /opt/kiln/bin ] && PATH=\"/opt/kiln/bin:$PATH\" "
         ";; "
         "esac\nexport PATH\n";
}

Status AddEtc(const SandboxSpec& spec, PlanBuilder& plan) {
  plan.SystemDir("/etc");
  for (const std::string& name : spec.etc_files) {
    std::string source = "/etc/" + name;
    struct stat st {};
    if (lstat(source.c_str(), &st) != 0) continue;
    if (name == "profile" && S_ISREG(st.st_mode)) {
      plan.WriteFile(source, ProfileFile(source), 0644, plan.id().root_uid, plan.id().root_uid);
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = readlink(source.c_str(), buf, sizeof buf - 1);
      if (n > 0) plan.Symlink(std::string(buf, static_cast<size_t>(n)), source);
      continue;
    }
    plan.BindReadOnly(source, source, S_ISDIR(st.st_mode));
  }
  uid_t r = plan.id().root_uid;
  std::string base_passwd, base_group;
  if (!spec.users_from.empty()) {
    KILN_ASSIGN_OR_RETURN(base_passwd, ReadUserDbFile(spec.users_from, "passwd"));
    KILN_ASSIGN_OR_RETURN(base_group, ReadUserDbFile(spec.users_from, "group"));
  }
  UserDbIds ids{r == 0, plan.id().user_uid, plan.id().user_gid};
  plan.WriteFile("/etc/passwd", MergePasswd(base_passwd, ids), 0644, r, r);
  plan.WriteFile("/etc/group", MergeGroup(base_group, ids), 0644, r, r);
  plan.WriteFile("/etc/hostname", spec.hostname + "\n", 0644, r, r);
  plan.WriteFile("/etc/hosts", "127.0.0.1 localhost " + spec.hostname + "\n::1 localhost ip6-localhost\n",
                 0644, r, r);
  // slirp4netns answers DNS on its own address and forwards to the host's resolvers, loopback ones included.
  plan.WriteFile("/etc/resolv.conf",
                 spec.network ? "nameserver 10.0.2.3\n" : "# no network in this sandbox\n", 0644, r, r);
  return Status::Ok();
}

void AddDev(PlanBuilder& plan) {
  plan.SystemDir("/dev");
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string path = std::string("/dev/") + dev;
    plan.Touch(path);
    plan.Mount(path, path, "", MS_BIND, "");
  }
  plan.Symlink("/proc/self/fd", "/dev/fd");
  plan.Symlink("/proc/self/fd/0", "/dev/stdin");
  plan.Symlink("/proc/self/fd/1", "/dev/stdout");
  plan.Symlink("/proc/self/fd/2", "/dev/stderr");
  plan.SystemDir("/dev/pts");
  plan.Mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
  plan.Symlink("pts/ptmx", "/dev/ptmx");
  plan.SystemDir("/dev/shm");
  plan.Mount("tmpfs", "/dev/shm", "tmpfs", kHardening | MS_NOEXEC, "size=64m,nr_inodes=1024,mode=1777");
}

// Inodes live in kernel memory that `size` does not count: a tmpfs of empty files could otherwise hold
// millions. One inode per 4 KiB of size (at least 1024) is more than real workloads use.
int64_t TmpfsInodes(int64_t bytes) {
  return std::max<int64_t>(1024, bytes / 4096);
}

std::string TmpfsOptions(int64_t bytes, const char* mode, const Identity& id, bool owned_by_user) {
  std::string o =
      "size=" + std::to_string(bytes) + ",nr_inodes=" + std::to_string(TmpfsInodes(bytes)) + ",mode=" + mode;
  if (owned_by_user) o += ",uid=" + std::to_string(id.user_uid) + ",gid=" + std::to_string(id.user_gid);
  return o;
}

void AddSeedFiles(const SandboxSpec& spec, PlanBuilder& plan) {
  const Identity& id = plan.id();
  for (const auto& [path, content] : spec.files) {
    std::string prefix = StartsWith(path, "/tmp/") ? "/tmp" : kSandboxHome;
    std::string rest = path.substr(prefix.size() + 1);
    std::vector<std::string> parts = Split(rest, '/');
    std::string dir = prefix;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (parts[i].empty() || parts[i] == ".") continue;
      dir += "/" + parts[i];
      plan.Mkdir(dir, 0755, id.user_uid, id.user_gid);
    }
    plan.WriteFile(path, content, 0644, id.user_uid, id.user_gid);
  }
}

// The lower layer at `lower`: privileged, a detached copy of the directory made read-only and idmapped so
// that its owner's files show as the sandbox's user's; unprivileged (the sandbox's user is the caller), a
// read-only bind.
Status AddOverlayLower(const OverlayMount& o, const std::string& lower, PlanBuilder& plan, Os& os,
                       bool host_root_parent, MountPlan& out) {
  struct stat st {};
  if (stat(o.source.c_str(), &st) != 0) return ErrnoStatus("overlay source " + o.source, errno);
  if (!S_ISDIR(st.st_mode)) return FailedPrecondition("overlay source " + o.source + " is not a directory");
  if (!host_root_parent) {
    plan.Mount(o.source, lower, "", MS_BIND, "");
    plan.Mount("", lower, "", MS_REMOUNT | MS_BIND | MS_RDONLY | kHardening, "");
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(int fd, os.CloneMountTree(o.source, /*recursive=*/false));
  out.trees.emplace_back(fd);
  const Identity& id = plan.id();
  KILN_RETURN_IF_ERROR(os.IdmapMountTree(fd, st.st_uid, st.st_gid, id.host_user_uid, id.host_user_gid)
                           .WithContext("overlay source " + o.source));
  MountStep attach{MountStep::kAttachTree, o.source, plan.root() + lower};
  attach.tree_fd = fd;
  plan.Raw(attach);
  plan.Mount("", lower, "", MS_PRIVATE, "");
  return Status::Ok();
}

// Each overlay is staged on its own tmpfs (the upper layer and overlayfs' work directory, bounded by
// upper_bytes) and the stage is detached once the overlay is mounted: overlayfs keeps private references
// to its layers, and the sandbox cannot reach the lower layer by another path.
Status AddOverlays(const SandboxSpec& spec, PlanBuilder& plan, Os& os, bool host_root_parent,
                   MountPlan& out) {
  const Identity& id = plan.id();
  for (size_t i = 0; i < spec.overlays.size(); ++i) {
    const OverlayMount& o = spec.overlays[i];
    std::string stage = "/.kiln-overlay-" + std::to_string(i);
    plan.SystemDir(stage);
    plan.Mount("tmpfs", stage, "tmpfs", kHardening, TmpfsOptions(o.upper_bytes, "0700", id, false));
    plan.SystemDir(stage + "/lower");
    plan.Mkdir(stage + "/upper", 0755, id.user_uid, id.user_gid);
    plan.SystemDir(stage + "/work");
    KILN_RETURN_IF_ERROR(AddOverlayLower(o, stage + "/lower", plan, os, host_root_parent, out));
    std::string dir = StartsWith(o.target, "/tmp/") ? "/tmp" : kSandboxHome;
    for (const std::string& part : Split(o.target.substr(dir.size() + 1), '/')) {
      if (part.empty() || part == ".") continue;
      dir += "/" + part;
      plan.Mkdir(dir, 0755, id.user_uid, id.user_gid);
    }
    std::string s = plan.root() + stage;
    plan.Mount("overlay", o.target, "overlay", kHardening,
               "lowerdir=" + s + "/lower,upperdir=" + s + "/upper,workdir=" + s + "/work");
    plan.Detach(stage);
  }
  return Status::Ok();
}

}  // namespace

bool ReachableByOthers(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    struct stat st {};
    if (stat(path.substr(0, pos).c_str(), &st) != 0) return true;  // the bind itself reports what is wrong
    if (S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH)) return false;
  }
  return true;
}

Result<MountPlan> BuildMountPlan(const SandboxSpec& spec, const std::string& new_root,
                                 const Identity& identity, Os& os, bool host_root_parent) {
  MountPlan out;
  PlanBuilder plan(new_root, identity);
  // Nothing we mount may propagate back to the host.
  plan.Raw({MountStep::kMount, "", "/", "", MS_REC | MS_PRIVATE, ""});
  // A read-only root needs only room for mount points and the generated /etc files.
  int64_t root_bytes = spec.writable_root ? spec.limits.disk_bytes : 16ll << 20;
  plan.Raw({MountStep::kMount, "tmpfs", new_root, "tmpfs", kHardening,
            "size=" + std::to_string(root_bytes) + ",nr_inodes=" + std::to_string(TmpfsInodes(root_bytes)) +
                ",mode=0755,uid=" + std::to_string(identity.root_uid) +
                ",gid=" + std::to_string(identity.root_uid)});
  KILN_RETURN_IF_ERROR(AddSystemMounts(spec, plan, os, host_root_parent, out, new_root));
  if (out.layers > 0) {
    plan.Mount("tmpfs", kLayersDir, "tmpfs", kHardening | MS_NOEXEC | MS_RDONLY,
               "size=4k,nr_inodes=1,mode=0");
  }
  KILN_RETURN_IF_ERROR(AddEtc(spec, plan));
  AddDev(plan);
  plan.SystemDir("/home");
  plan.SystemDir(kSandboxHome);
  plan.Mount("tmpfs", kSandboxHome, "tmpfs", kHardening,
             TmpfsOptions(spec.limits.tmpfs_home_bytes, "0755", identity, true));
  plan.SystemDir("/tmp");
  plan.Mount("tmpfs", "/tmp", "tmpfs", kHardening,
             TmpfsOptions(spec.limits.tmpfs_tmp_bytes, "1777", identity, false));
  AddSeedFiles(spec, plan);
  KILN_RETURN_IF_ERROR(AddOverlays(spec, plan, os, host_root_parent, out));
  // procfs can only be mounted while the host's /proc is still visible in this mount namespace.
  plan.SystemDir("/proc");
  plan.Mount("proc", "/proc", "proc", kHardening | MS_NOEXEC, "");
  plan.Mount("/proc/sys", "/proc/sys", "", MS_BIND | MS_REC, "");
  plan.Mount("", "/proc/sys", "", MS_REMOUNT | MS_BIND | MS_RDONLY | kHardening | MS_NOEXEC, "");
  plan.Raw({MountStep::kPivotRoot, new_root, new_root});
  plan.Raw({MountStep::kUmount, "/", "/"});
  if (!spec.writable_root)
    plan.Raw({MountStep::kMount, "", "/", "", MS_REMOUNT | MS_BIND | MS_RDONLY | kHardening, ""});
  out.steps = plan.Take();
  return out;
}

Status RunMountPlan(const std::vector<MountStep>& steps, Os& os) {
  for (const MountStep& s : steps) {
    Status st;
    switch (s.kind) {
      case MountStep::kMount:
        st = os.Mount(s.a, s.b, s.fstype, s.flags, s.data);
        break;
      case MountStep::kMkdir:
        st = os.MakeDir(s.a, s.mode);
        if (st.code() == Code::kAlreadyExists && s.tolerate_exists) st = Status::Ok();
        if (st.ok() && s.uid != 0) st = os.Chown(s.a, s.uid, s.gid);
        break;
      case MountStep::kTouch:
        st = os.Touch(s.a, s.mode);
        break;
      case MountStep::kSymlink:
        st = os.Symlink(s.a, s.b);
        break;
      case MountStep::kWriteFile:
        st = os.WriteNewFile(s.a, s.data, s.mode, s.uid, s.gid);
        break;
      case MountStep::kPivotRoot:
        // pivot_root(".", ".") stacks the old root on top of the new one; it is then lazily unmounted.
        if (chdir(s.a.c_str()) != 0) return ErrnoStatus("chdir(" + s.a + ")", errno);
        st = os.PivotRoot(".", ".");
        break;
      case MountStep::kAttachTree:
        st = os.AttachMountTree(s.tree_fd, s.b);
        break;
      case MountStep::kDetach:
        st = os.Umount(s.a, MNT_DETACH);
        break;
      case MountStep::kUmount:
        st = os.Umount(".", MNT_DETACH);
        if (st.ok() && chdir("/") != 0) st = ErrnoStatus("chdir(/)", errno);
        break;
    }
    if (!st.ok()) return st.WithContext("preparing the sandbox filesystem");
  }
  return Status::Ok();
}

}  // namespace kiln::sandbox
