// The two ends of sudo's socket (see sudo.h for the protocol).
//
// Who may connect: any process of this sandbox (SO_PEERCRED: its pid is visible in envd's pid namespace,
// so the host and other sandboxes, which see envd's socket when they share a network namespace, are
// refused), like E2B's passwordless sudo for every sandbox user. The caller's uid, not anything in the
// request, becomes SUDO_UID. After the request, each byte the shim sends is a signal to forward to the
// command's process group (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2); EOF (the shim
// died) kills the group. The reply goes out once the command has been reaped.
#pragma once

#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/envd/config.h"

namespace kiln::envd {

class ProcessTable;

// At most this many sudo commands run at once; more are refused with an error.
inline constexpr int kMaxConcurrentSudo = 32;

// Binds the abstract socket (sudo.h: SudoSocketName) and serves it on a thread of its own for the life of
// the process. Called by envd when it is PID 1 and root. `config` and `table` must outlive the process.
Status StartSudoServer(const EnvdConfig* config, ProcessTable* table);

// The shim: `sudo ARGS...` (args without argv[0]). Returns the exit status: the command's, 128+N when a
// signal N ended it, 1 for sudo's own errors (written to stderr).
int RunSudoShim(const std::vector<std::string>& args);

}  // namespace kiln::envd
