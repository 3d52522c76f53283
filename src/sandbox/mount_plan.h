// The filesystem a sandbox sees, as a flat list of steps computed in the parent and replayed by the child.
//
// The parent does every lookup (which host paths exist, which are symlinks, which mount flags are locked)
// so the child runs a short, auditable sequence of mount/mkdir/write calls, each with a description that
// names it in errors.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "kiln/base/os.h"
#include "kiln/base/status.h"
#include "kiln/sandbox/spec.h"

namespace kiln::sandbox {

struct MountStep {
  enum Kind { kMount, kMkdir, kTouch, kSymlink, kWriteFile, kPivotRoot, kUmount } kind;
  std::string a;  // mount source / path / symlink target
  std::string b;  // mount target / symlink path
  std::string fstype;
  unsigned long flags = 0;
  std::string data;  // mount options or file content
  mode_t mode = 0755;
  uid_t uid = 0;
  gid_t gid = 0;
  bool tolerate_exists = false;
};

struct Identity {
  uid_t root_uid = 0;  // uid (inside) that owns system files: 0, or the user's own uid when unprivileged
  uid_t user_uid = kSandboxUid;
  gid_t user_gid = kSandboxGid;
};

// Builds the steps that create the sandbox's root at `new_root` (an existing empty host directory used as
// a mount point inside the sandbox's private mount namespace) and switch to it.
Result<std::vector<MountStep>> BuildMountPlan(const SandboxSpec& spec, const std::string& new_root,
                                              const Identity& identity);

// Replays the steps through `os`. Runs in the sandbox's child process; stops at the first failure, naming
// the step.
Status RunMountPlan(const std::vector<MountStep>& steps, Os& os);

}  // namespace kiln::sandbox
