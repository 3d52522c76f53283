// Spawning user processes: the one function through which every process envd starts for a user goes,
// in both serve and exec mode.
//
// The child runs a flat checklist (see spawn.cc: ChildMain) using only async-signal-safe calls, because
// envd is multi-threaded: new session, default signal state, stdio, close every other fd, drop to the
// user's uid/gid with no capabilities and no_new_privs, chdir, execve. If any step fails, the child sends
// {step, errno} over a close-on-exec pipe and exits 127, so the parent reports the failure as a Status.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"

namespace kiln::envd {

struct SpawnIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct SpawnSpec {
  // The program: a path (containing '/') or a name searched in PATH of `env` (like execvpe).
  std::string program;
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "KEY=VALUE"
  int cwd_fd = -1;                // directory to fchdir to (borrowed); -1 keeps envd's cwd
  // Switch to this uid/gid (setgroups([gid]), setresgid, setresuid). Requires envd to be root.
  // nullopt keeps envd's identity. no_new_privs is set either way. A non-root child has no capabilities;
  // a root child (uid 0 of the sandbox's user namespace) keeps kSandboxRootCaps of envd's bounding set,
  // which also becomes its bounding set.
  std::optional<SpawnIdentity> identity;
  // The child's stdin/stdout/stderr (borrowed); -1 inherits envd's own.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Make the child's stdin (a terminal's slave end) its controlling terminal (TIOCSCTTY, after setsid),
  // so that job control, ^C and SIGWINCH reach the program as on a real terminal.
  bool controlling_tty = false;
  // Further fds (borrowed) the child gets as fds 3, 4, ... in order (e.g. the code interpreter's private
  // frame channel). Each must be >= 3 + extra_fds.size(), so placing them cannot clobber another.
  std::vector<int> extra_fds;
};

// A forked child whose exec has not been confirmed yet.
struct ForkedChild {
  pid_t pid = -1;
  UniqueFd exec_status;  // read end of the child's error pipe
};

// Starts the child and returns once it has exec'd or failed (vfork semantics: the calling thread waits;
// envd's memory is shared, not copied). Register `pid` wherever exit statuses are routed before another
// thread can reap it, then call AwaitExec. Fails only if clone or pipe creation fails.
Result<ForkedChild> ForkChild(const SpawnSpec& spec);
// Blocks until the child has exec'd (OK) or failed a step: then an error naming the step and errno, e.g.
// "execve '/bin/nope': No such file or directory" (NotFound) or PermissionDenied for EACCES. The failed
// child exits 127 and must still be reaped by the caller's reaper. *exec_errno receives the errno (0 on
// success) when given.
Status AwaitExec(ForkedChild& child, const SpawnSpec& spec, int* exec_errno = nullptr);

// The process environment: PATH, HOME, USER, LOGNAME, then `global`, then `call` (later keys override
// earlier ones, keeping the first position).
std::vector<std::string> BuildEnv(const std::string& home, const std::string& user,
                                  const std::vector<std::pair<std::string, std::string>>& global,
                                  const std::vector<std::pair<std::string, std::string>>& call);

// What root in a sandbox may do (within envd's own bounding set): own, chmod and read/write any file of
// the sandbox, signal any of its processes, change uid/gid (apt drops to _apt), bind ports below 1024.
// All of it applies to the sandbox's user namespace only: to the host, root is an unprivileged uid.
inline constexpr uint64_t kSandboxRootCaps =
    (1u << 0) /*CHOWN*/ | (1u << 1) /*DAC_OVERRIDE*/ | (1u << 2) /*DAC_READ_SEARCH*/ | (1u << 3) /*FOWNER*/ |
    (1u << 4) /*FSETID*/ | (1u << 5) /*KILL*/ | (1u << 6) /*SETGID*/ | (1u << 7) /*SETUID*/ |
    (1u << 10) /*NET_BIND_SERVICE*/;

// The PATH of every sandbox process: /opt/kiln/bin first, where the runtime binds Kiln's own `sudo`.
inline constexpr char kDefaultPath[] =
    "/opt/kiln/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace kiln::envd
