// The sandbox's first process, between clone() and exec of init: a flat checklist of containment steps.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "kiln/base/os.h"
#include "mount_plan.h"
#include "network.h"
#include "seccomp_filter.h"

namespace kiln::sandbox {

// Everything the child needs, prepared by the parent before clone(). The child may share the parent's memory
// (see clone_vfork.h): it reads the plan, never writes it, and allocates only on its way to failing.
struct ChildPlan {
  Os* os = nullptr;
  int sync_fd = -1;  // the child's end of the parent socketpair (close-on-exec)
  // The parent's end, which the child's copy of the fd table holds too: the child closes it first, so that
  // the parent's death closes the channel and the child, waiting for "go", sees the end and exits.
  int parent_sync_fd = -1;
  MountPlan mounts;
  std::string hostname;
  bool setup_loopback = true;
  bool new_cgroup_namespace = true;
  bool die_with_parent = false;
  bool become_root = true;               // switch to the namespace's uid 0 (only when the parent mapped it)
  std::vector<std::pair<int, int>> fds;  // host fd -> fd inside; at most kMaxMappedFds
  int64_t max_file_bytes = 0, max_open_files = 0;
  int64_t max_processes = 0;  // RLIMIT_NPROC, the fork-bomb bound when no pids cgroup is available
  const SeccompProgram* seccomp = nullptr;
  int init_fd = -1;
  // Network on: the write end of the user-mode stack's exit pipe, which init keeps open (not close-on-exec)
  // just above the mapped fds, and the egress routes to install (see network.h).
  int network_hold_fd = -1;
  const EgressRoute* egress_routes = nullptr;
  size_t egress_route_count = 0;
  // Cgroup v1 `tasks` files opened by the parent (Cgroup::SelfJoinFiles): the child writes "0" to each
  // before anything else, joining its cgroups while it is the only thread. Close-on-exec.
  std::vector<int> cgroup_join_fds;
  std::vector<char*> argv, envp;  // null-terminated, pointing into strings owned by the parent's frame
};

inline constexpr size_t kMaxMappedFds = 64;

// Sync protocol on the socketpair: the child sends kHello once it runs (its pid is known by then); the
// parent answers kGo once the uid/gid maps and cgroups are in place, or shuts its end down to abort. The
// child then answers nothing on success (its end closes at exec) or one ChildFailure on error.
inline constexpr char kHello = 'H';
inline constexpr char kGo = 'G';
struct ChildFailure {
  int code;            // kiln::Code
  char message[1000];  // NUL-terminated
};

// clone() entry point; `arg` is a ChildPlan*. Never returns on success.
int ChildMain(void* arg);

}  // namespace kiln::sandbox
