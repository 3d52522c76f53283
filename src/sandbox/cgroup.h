// Cgroups for sandboxes: one directory per sandbox, limits written before the sandbox starts, removed after.
//
// Two sibling backends with the same interface, chosen once per process by ProbeCgroups(): v2 (one unified
// hierarchy) and v1 (a directory per controller: memory, pids, cpu). Not thread-safe per object.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "kiln/base/os.h"
#include "kiln/base/status.h"
#include "kiln/sandbox/sandbox.h"
#include "kiln/sandbox/spec.h"

namespace kiln::sandbox {

struct CgroupConfig {
  std::string mode;  // "v2", "v1" or "none"
  // v2: the parent directory of sandbox cgroups (e.g. /sys/fs/cgroup/kiln).
  // v1: the controllers' mount points' common parent (e.g. /sys/fs/cgroup); sandboxes go in <ctrl>/kiln/<id>.
  std::string root;
  bool memory = false, pids = false, cpu = false;  // controllers usable under root
  bool freezer = false;  // v2: always (cgroup.freeze); v1: the freezer hierarchy is mounted
  std::vector<std::string> warnings;
};

// Finds how this host offers cgroups. $KILN_CGROUP (v1, v2, none) and $KILN_CGROUP_ROOT override the probe.
// KILN_CGROUP_ROOT=delegated (cgroup v2; systemd's Delegate=yes): this process moves into a "server" leaf of
// its own cgroup, which becomes the sandboxes' parent.
CgroupConfig ProbeCgroups(Os& os);

// Removes the sandbox cgroups a killed Kiln process left behind (it had no chance to remove them): the
// directories under Kiln's parents named like generated sandbox ids (RandomId: nothing else that may share
// a delegated parent), last modified `min_age_seconds` ago or earlier, and that the kernel lets go, which it
// does only for a cgroup with no process and no child cgroup in it. The age spares a launch in progress,
// whose cgroup is empty until its first process joins. Returns how many went.
int SweepStaleCgroups(Os& os, const CgroupConfig& config, int64_t min_age_seconds);
// The cgroups SweepStaleCgroups would remove (no process listed in them), without removing any.
std::vector<std::string> StaleCgroupCandidates(Os& os, const CgroupConfig& config, int64_t min_age_seconds);

class Cgroup {
 public:
  virtual ~Cgroup() = default;
  // Creates the sandbox's cgroup(s) and writes the limits. A limit whose controller the config lacks is
  // skipped (ProbeCgroups has already put it in the warnings). Mode "none" yields a null Cgroup.
  static Result<std::unique_ptr<Cgroup>> Create(Os& os, const CgroupConfig& config, const std::string& id,
                                                const Limits& limits);
  // The cgroup(s) of a sandbox created earlier, possibly by another process (re-adopting a sandbox after a
  // restart). NotFound when they do not exist; a null Cgroup in mode "none".
  static Result<std::unique_ptr<Cgroup>> Open(Os& os, const CgroupConfig& config, const std::string& id);
  // Moves `pid` into the cgroup(s).
  virtual Status Attach(pid_t pid) = 0;
  // The directory a new process can be born in (clone3 CLONE_INTO_CGROUP, cgroup v2), or "" when the
  // cgroup must be joined with Attach after the clone (v1).
  virtual std::string CloneIntoDir() const { return ""; }
  // Files a new single-threaded process may write "0" to, through descriptors its launcher opened, to join
  // the cgroup(s) itself (v1 `tasks`), or none (v2, which has CloneIntoDir). Moving the writing thread
  // itself is the one migration for which the kernel skips its global threadgroup lock, whose write side
  // waits for an RCU grace period (about 10 ms); writing another pid to cgroup.procs (Attach) takes it.
  virtual std::vector<std::string> SelfJoinFiles() const { return {}; }
  // True when the kernel OOM killer killed a process of this cgroup.
  virtual bool OomKilled() = 0;
  virtual int64_t PeakMemoryBytes() = 0;
  // Kills every process still in the cgroup (v2: cgroup.kill; v1: SIGKILL each listed pid). A frozen
  // cgroup is thawed after the signals, so that its processes can die.
  virtual Status KillAll() = 0;
  // The processes in the cgroup (host pids), for finding a re-adopted sandbox's init.
  virtual std::vector<pid_t> Processes() = 0;
  // Freezes (true) or thaws the cgroup's processes: v2 cgroup.freeze, v1 freezer.state. Returns once the
  // kernel reports the state reached (up to 2 s: DeadlineExceeded). Unimplemented without a freezer.
  virtual Status SetFrozen(bool frozen) = 0;
  virtual bool Frozen() = 0;
  // CPU and memory fields of Usage (v2: cpu.stat, memory.current/max/stat; v1: memory.* and, without a
  // cpuacct group, the CPU time of the listed processes and of the children they reaped).
  virtual Usage CurrentUsage() = 0;
  // Removes the directories, retrying briefly while exiting processes still occupy them.
  virtual Status Remove() = 0;
};

// The cgroup's Usage plus the home filesystem of the sandbox whose init is `init` (seen through
// /proc/INIT/root); a memory limit past the host's memory is reported as the host's memory.
Usage SandboxUsage(Cgroup& cgroup, pid_t init);

}  // namespace kiln::sandbox
