// Host checks for `kiln doctor`: can this machine run sandboxes, with which limits, and what did a crashed
// Kiln leave behind. Plain values; the CLI prints them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::runtime {

struct Finding {
  enum Level { kOk, kWarn, kFail } level = kOk;
  std::string check;   // "user namespaces", "cgroups", ...
  std::string detail;  // what was found, and for kWarn/kFail what to do about it
};

// Runs every check, in order: user namespaces (a real sandbox is started), cgroups and their controllers,
// seccomp, overlayfs, kiln-envd, kiln-kernel-bridge and Jupyter kernels (optional languages), python3 and
// node on the host (what sandboxes run), free disk under `home`, and the clock. Never fails as a whole: a
// check that cannot run is a finding.
std::vector<Finding> CheckHost(const std::string& home);

// What a Kiln process that died without cleaning up leaves on this host.
struct Leftovers {
  std::vector<std::string> cgroups;  // empty sandbox cgroups
  std::vector<std::string> sockets;  // envd socket files nothing listens on
  std::vector<pid_t> orphans;        // kiln-envd processes whose owner died (reparented to init)
  bool empty() const { return cgroups.empty() && sockets.empty() && orphans.empty(); }
};

// The socket files (*.sock) in `dir`, last modified `min_age_seconds` ago or earlier, that no socket of this
// network namespace is bound to: a Kiln process died without removing them. Read from /proc/self/net/unix,
// so no live sandbox is connected to in order to find out. Runtime::Create removes those a minute old.
std::vector<std::string> DeadSocketFiles(const std::string& dir, int64_t min_age_seconds);

// Lists them; with `remove`, kills the orphaned sandboxes (their whole process tree), unlinks the dead
// sockets and removes the cgroups, and returns what was actually removed. `socket_dir` "" = the default.
Leftovers FindLeftovers(bool remove, const std::string& socket_dir = "");

}  // namespace kiln::runtime
