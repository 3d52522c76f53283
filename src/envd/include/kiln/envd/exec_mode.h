// `kiln-envd exec`: one-shot mode used by `kiln run`. envd (PID 1) spawns the program through the same
// Spawn path as serve mode with stdin/stdout/stderr inherited, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to
// its process group, reaps every orphan, and when the program exits writes "exit <code> <signal>\n" to
// the status fd (code as below; signal 0 for a normal exit) and returns the exit code for envd:
//   the program's exit status; 128+N if killed by signal N;
//   127 if it cannot be executed (not found, ...), 126 on EACCES, with
//       "kiln-envd: cannot execute PROGRAM: <strerror>" on stderr;
//   125 if envd cannot prepare the launch (unknown --user, missing --cwd), with a message on stderr.
#pragma once

#include "kiln/envd/cli.h"

namespace kiln::envd {

// Runs the program to completion; returns the exit code envd should exit with. Call from a
// single-threaded process (it blocks signals and owns waitpid(-1)).
int RunExec(const ExecArgs& args);

}  // namespace kiln::envd
