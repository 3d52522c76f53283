// The filesystem a sandbox sees, as a flat list of steps computed in the parent and replayed by the child.
//
// The parent does every lookup (which host paths exist, which are symlinks, which mount flags are locked)
// so the child runs a short, auditable sequence of mount/mkdir/write calls, each with a description that
// names it in errors.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/os.h"
#include "kiln/base/status.h"
#include "kiln/sandbox/spec.h"

namespace kiln::sandbox {

struct MountStep {
  enum Kind { kMount, kMkdir, kTouch, kSymlink, kWriteFile, kPivotRoot, kUmount, kAttachTree, kDetach } kind;
  std::string a;  // mount source / path / symlink target
  std::string b;  // mount target / symlink path
  std::string fstype;
  unsigned long flags = 0;
  std::string data;  // mount options or file content
  mode_t mode = 0755;
  uid_t uid = 0;
  gid_t gid = 0;
  bool tolerate_exists = false;
  int tree_fd = -1;  // kAttachTree: a detached mount tree held by the MountPlan, attached at `b`
};

struct Identity {
  uid_t root_uid = 0;  // uid (inside) that owns system files: 0, or the user's own uid when unprivileged
  uid_t user_uid = kSandboxUid;
  gid_t user_gid = kSandboxGid;
  // When the caller is the host's root: a user namespace with the sandbox's id map (idmap.h). Lower layers
  // of layered mounts are idmapped copies through it, so the sandbox's root owns the files it sees. -1:
  // lower layers are the host paths as they are.
  int idmap_userns_fd = -1;
  // The host ids the sandbox's user is: what an overlay's lower layer shows its owner's files as.
  uid_t host_user_uid = 0;
  gid_t host_user_gid = 0;
};

struct MountPlan {
  std::vector<MountStep> steps;
  // Detached copies of bind sources the sandbox's root could not reach by path: a source under a private
  // directory (Kiln's helpers in a clone under /root, mode 0700). Made by the privileged parent, attached
  // by the child. They must stay open until the child has run its steps.
  std::vector<UniqueFd> trees;
  int layers = 0;  // copy-on-write layers (overlay mounts) in the plan
};

// Where a sandbox's copy-on-write layers live, inside its root: covered by an empty read-only tmpfs once
// the layers are mounted, so the sandbox cannot reach (and confuse) the upper directories behind them.
inline constexpr char kLayersDir[] = "/.kiln-layers";

// Builds the steps that create the sandbox's root at `new_root` (an existing empty host directory used as
// a mount point inside the sandbox's private mount namespace) and switch to it. `os` makes the detached
// trees; `host_root_parent`: the caller is the host's root, so it can reach every path and clone mounts
// (otherwise the sandbox's root is the caller's own uid and binds by path).
Result<MountPlan> BuildMountPlan(const SandboxSpec& spec, const std::string& new_root,
                                 const Identity& identity, Os& os, bool host_root_parent);

// True when a process that is neither the owner nor in the group of any directory on the way (the
// sandbox's root, an unmapped uid on the host) can look `path` up: every ancestor is searchable by others.
bool ReachableByOthers(const std::string& path);

// Replays the steps through `os`. Runs in the sandbox's child process; stops at the first failure, naming
// the step.
Status RunMountPlan(const std::vector<MountStep>& steps, Os& os);

}  // namespace kiln::sandbox
