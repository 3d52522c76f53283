// Forks of a code-context runner that never exec'd: a fork bomb in a cell (`while True: os.fork()`,
// `:(){ :|:& };:`), or a cell that forked and let the child return. Such copies share the runner's request
// and event pipes, so they would steal the next request or answer in its place, and they hold the sandbox's
// process slots (pids limit), so envd could not even start a thread to answer /health. Private to envd.
#pragma once

#include <sys/types.h>

namespace kiln::envd {

// Kills the processes of `runner`'s process group, other than `runner`, that run the runner's own command
// line (its forks that did not exec). The group is stopped meanwhile so the copies cannot fork faster than
// they are killed; other members (commands the cell started in the background) are resumed. Returns how
// many were killed. Thread-safe; reads /proc (envd is PID 1 of the sandbox's PID namespace).
int KillRunnerCopies(pid_t runner);

// SIGKILL to every process left in the group `pgid` (the group of a runner that died), then waits up to
// 2 s until they are reaped (only then are their process slots free again). Idempotent.
void KillProcessGroup(pid_t pgid);

}  // namespace kiln::envd
