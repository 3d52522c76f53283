// The sandbox engine: turns a SandboxSpec into a running, contained process tree.
//
// A Backend launches sandboxes; a Sandbox is the handle to one: its init process (PID 1 of a fresh PID
// namespace) plus its cgroup. Destroying the handle kills the whole tree and removes every host-side
// resource it made (cgroup directories, pidfd). Handles are thread-compatible: one owner at a time;
// different sandboxes may be used from different threads.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/os.h"
#include "kiln/base/status.h"
#include "kiln/sandbox/spec.h"

namespace kiln::sandbox {

// What runs as PID 1 and which host fds it gets.
struct LaunchOptions {
  int init_binary_fd = -1;        // an fd of the (static) init binary, executed with execveat(AT_EMPTY_PATH)
  std::vector<std::string> argv;  // argv of init, argv[0] included
  std::vector<std::string> envp;  // environment of init ("K=V")
  // Host fd -> fd number inside (e.g. {pipe, 1}); fds not listed are closed at exec.
  std::vector<std::pair<int, int>> fds;
  bool die_with_parent = false;  // SIGKILL the sandbox when the launching *thread* exits (one-shot CLI runs)
  std::string id;                // sandbox id; a random one when empty
};

struct ExitInfo {
  int exit_code = 0;  // init's exit status, or 128+signal
  int signal = 0;     // the signal that killed init, or 0
  bool oom_killed = false;
};

// Which limits this host can enforce, probed once per process.
struct Capabilities {
  bool privileged = false;  // running as root: full uid mapping and cgroups
  std::string cgroup_mode;  // "v2", "v1" or "none"
  std::string cgroup_root;  // where sandbox cgroups are created
  bool memory_limit = false, pids_limit = false, cpu_limit = false;
  // Human-readable lines about limits that cannot be applied here and why.
  std::vector<std::string> warnings;
};

// A sample of a sandbox's resource use (bytes; CPU time in nanoseconds since it started).
struct Usage {
  int64_t cpu_ns = 0;
  int64_t memory_bytes = 0, memory_limit_bytes = 0, memory_cache_bytes = 0;
  int64_t disk_used_bytes = 0, disk_total_bytes = 0;  // the writable home filesystem
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  virtual const std::string& id() const = 0;
  // Host pid of the sandbox's init; 0 once it has been reaped.
  virtual pid_t init_pid() const = 0;
  // A pidfd of init: becomes readable when init exits (for poll loops). Owned by the Sandbox.
  virtual int pidfd() const = 0;
  // Waits up to `timeout_ms` (<0: forever) for init to exit. DeadlineExceeded if it is still running.
  virtual Result<ExitInfo> Wait(int64_t timeout_ms) = 0;
  // Kills every process of the sandbox and reaps init. Idempotent.
  virtual Status Kill() = 0;
  // Kill() and remove host-side resources; reports the first cleanup failure. Idempotent.
  virtual Status Destroy() = 0;
  // Peak memory use in bytes, if the cgroup tracks it; 0 otherwise.
  virtual int64_t PeakMemoryBytes() = 0;
  // Freezes every process of the sandbox (cgroup freezer; memory kept) or thaws them. Unimplemented where
  // the host has no freezer (no cgroups, or cgroup v1 without the freezer hierarchy).
  virtual Status SetPaused(bool paused) {
    (void)paused;
    return Unimplemented("pausing needs a cgroup freezer");
  }
  virtual bool paused() { return false; }
  // What the sandbox uses now, from its cgroup and its home filesystem. Unimplemented without cgroups.
  virtual Result<Usage> CurrentUsage() { return Unimplemented("usage needs cgroups"); }
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Starts a sandbox. On error nothing is left behind. Errors name the failing step and its cause.
  virtual Result<std::unique_ptr<Sandbox>> Launch(const SandboxSpec& spec, const LaunchOptions& options) = 0;
  virtual const Capabilities& capabilities() const = 0;
  // Takes charge of sandbox `id`, launched earlier by another process (a server killed by SIGKILL: its
  // sandboxes live on, reparented, in their cgroups). The handle finds init in the sandbox's cgroup and
  // watches it through a pidfd; Kill and Destroy work as for a launched sandbox, but Wait cannot report
  // the exit status of a process that is not this one's child (exit_code -1). A sandbox whose cgroup is
  // left but whose init is gone yields a handle whose Wait(0) returns at once (Destroy cleans up).
  // NotFound when no cgroup of the sandbox exists; InvalidArgument for an id not shaped like a generated
  // one; Unimplemented without cgroups, where the processes cannot be found.
  virtual Result<std::unique_ptr<Sandbox>> Adopt(const std::string& id) {
    return Unimplemented("sandbox " + id + ": this backend cannot adopt sandboxes");
  }
};

// The Linux namespaces backend. `os` must outlive the backend. Fails with FailedPrecondition naming the
// cause and the fix when this host cannot create sandboxes (for example: user namespaces disabled).
Result<std::unique_ptr<Backend>> MakeNamespaceBackend(Os& os = Os::Real());

// Host care (`kiln doctor`): the sandbox cgroups a killed Kiln process left behind (named like generated
// ids, idle for a minute, with no process in them). With `remove`, they are removed too; what the kernel
// refuses (in use after all) is left and not listed.
std::vector<std::string> LeftoverCgroups(Os& os, bool remove);

// The seccomp deny list, as syscall names, with why each is denied (for the README and tests).
struct DeniedSyscall {
  const char* name;
  const char* why;
};
const std::vector<DeniedSyscall>& DeniedSyscalls();

}  // namespace kiln::sandbox
