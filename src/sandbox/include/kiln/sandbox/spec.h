// SandboxSpec: the declarative description of one sandbox, filled by the CLI, the API and policy files.
//
// Every field has a default chosen to be safe for hostile code; Validate() reports the first field that is
// out of range, naming it. A spec is a plain value (copyable, thread-compatible).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::sandbox {

// A host path made visible inside the sandbox.
struct BindMount {
  std::string source;     // absolute host path; must exist unless `optional`
  std::string target;     // absolute path inside the sandbox; defaults to `source` when empty
  bool writable = false;  // read-only unless set
  bool optional = false;  // skip silently when `source` is missing on this host
  // A directory under a private copy-on-write layer instead of a read-only bind, when the spec's
  // `writable_root` is set: writes land in the sandbox's disk (see Limits::disk_bytes), never on the host.
  bool layered = false;
};

// A copy-on-write view of a host directory: an overlay whose lower layer is `source` read-only and whose
// upper layer is a private tmpfs of `upper_bytes` that dies with the sandbox. The sandbox may write, delete
// and chmod anything under `target`; `source` is never modified. What `source`'s owner owns shows as owned
// by the sandbox's user, files of other owners as nobody.
struct OverlayMount {
  std::string source;                 // absolute host directory
  std::string target;                 // under /home/user or /tmp, created owned by the sandbox's user
  int64_t upper_bytes = 256ll << 20;  // what the sandbox may write there in all
};

struct Limits {
  int64_t memory_bytes = 512ll << 20;  // cgroup memory limit (RAM, and swap where accounted); 0 = unlimited
  int64_t pids = 256;                  // cgroup pids.max: bounds fork bombs; 0 = unlimited
  double cpus = 1.0;                   // CPU bandwidth in cores (cpu.max / cfs quota); 0 = unlimited
  int64_t timeout_ms = 30'000;         // wall clock from start until the whole sandbox is killed; 0 = none
  // Sizes of the writable tmpfs mounts; each also holds at most one inode per 4 KiB of its size.
  int64_t tmpfs_home_bytes = 256ll << 20;  // size of the writable /home/user tmpfs
  int64_t tmpfs_tmp_bytes = 256ll << 20;   // size of the writable /tmp tmpfs
  // The sandbox's private disk: the root filesystem's writable layer (everything outside /home/user, /tmp
  // and /dev/shm), in memory, at most this many bytes and one inode per 4 KiB; full, writes fail ENOSPC.
  int64_t disk_bytes = 512ll << 20;
  int64_t max_file_bytes = 256ll << 20;  // RLIMIT_FSIZE: largest file a process may write
  int64_t max_open_files = 1024;         // RLIMIT_NOFILE
  int64_t max_output_bytes =
      16ll << 20;  // per stream (stdout, stderr) captured by the host; past it: truncated
};

// Egress rules for a sandbox with network (E2B's network.allowOut / denyOut), IPv4 CIDRs ("10.1.0.0/16",
// or an address for /32). Unless allowed, the host's own addresses, RFC 1918, carrier-grade NAT, link-local
// (the cloud metadata address 169.254.169.254), multicast and "this network" are unreachable; the host's
// loopback always is. A destination matching both lists is allowed when its allow entry is at least as
// specific (longest prefix wins, allow wins a tie). The sandbox has no IPv6.
struct NetworkRules {
  std::vector<std::string> allow_out;
  std::vector<std::string> deny_out;
};

struct SandboxSpec {
  // Host directories shared read-only: what Python, bash, coreutils and node need. /etc is NOT shared
  // whole (it holds secrets such as /etc/shadow): only `etc_files` are, and passwd/group/hosts are generated.
  std::vector<BindMount> mounts = DefaultSystemMounts();
  // Files and directories under the host's /etc that are bound read-only (missing ones are skipped).
  std::vector<std::string> etc_files = DefaultEtcFiles();
  // A host directory (a template's etc/) whose passwd and group the sandbox's are made from, with Kiln's
  // accounts merged in (user_db.h); empty: Kiln's accounts only. Debian's system groups (staff, ...) must
  // exist for package scripts. Read safely: the files come from code that ran in a sandbox.
  std::string users_from;
  // Files written into the sandbox before the program starts: path inside the sandbox -> content. Paths
  // must be under /home/user or /tmp; owned by `user`.
  std::map<std::string, std::string> files;
  // Copy-on-write views of host directories, set up after `files` are written.
  std::vector<OverlayMount> overlays;
  Limits limits;
  // True: the root and the layered system directories (/usr) are writable copy-on-write layers over the
  // host's read-only files, discarded with the sandbox. False: a read-only root (the old behaviour).
  bool writable_root = true;
  // false: a private network namespace with loopback only. true: the same namespace plus a user-mode
  // network stack (slirp4netns, a process of the host user: no host network configuration is touched)
  // through which the sandbox reaches the outside; see NetworkRules for what stays unreachable.
  bool network = false;
  NetworkRules network_rules;
  std::string hostname = "sandbox";
  // Environment of the program; PATH, HOME, USER, LOGNAME and LANG are provided when absent.
  std::map<std::string, std::string> env;
  std::string workdir = "/home/user";

  static std::vector<BindMount> DefaultSystemMounts();
  static std::vector<std::string> DefaultEtcFiles();
  // OK, or InvalidArgument naming the first bad field ("limits.memory_bytes: must be >= 16 MiB, got 1").
  Status Validate() const;
};

// The unprivileged identity code runs as inside every sandbox.
inline constexpr uint32_t kSandboxUid = 1000;
inline constexpr uint32_t kSandboxGid = 1000;
inline constexpr char kSandboxUser[] = "user";
inline constexpr char kSandboxHome[] = "/home/user";
// When Kiln runs as root, a sandbox's ids 0 .. kSandboxIdCount-1 are host ids KILN_UID_BASE + that (the
// launcher's id map): root, Debian's system users and groups, `user`, nobody.
inline constexpr uint32_t kSandboxIdCount = 65536;

}  // namespace kiln::sandbox
