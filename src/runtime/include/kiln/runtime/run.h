// One-shot execution: a fresh sandbox runs one program to completion and is destroyed.
//
// This is `kiln run` and what the coding agent uses for each attempt. Thread-safe: concurrent calls run in
// separate sandboxes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/sandbox/spec.h"

namespace kiln::runtime {

struct RunRequest {
  std::vector<std::string> argv;  // program (resolved on the sandbox's PATH) and its arguments
  std::string stdin_data;         // fed to the program's stdin, then EOF
  bool inherit_stdin = false;     // instead: the caller's own stdin (the CLI's `--stdin -`)
  sandbox::SandboxSpec spec;      // isolation and limits; spec.files seeds source files
  // Who runs it inside the sandbox: "user" (uid 1000, no capabilities) or "root" (uid 0 of the sandbox's
  // user namespace, a bounded capability set; an unprivileged uid to the host).
  std::string user = sandbox::kSandboxUser;
};

struct RunResult {
  int exit_code = 0;        // the program's exit status; 128+N when killed by signal N
  int signal = 0;           // the signal that killed it, or 0
  std::string stdout_data;  // captured, at most spec.limits.max_output_bytes
  std::string stderr_data;
  bool timed_out = false;   // killed because spec.limits.timeout_ms elapsed
  bool oom_killed = false;  // the memory limit was hit and the kernel killed a process
  bool truncated = false;   // output beyond max_output_bytes was discarded
  int64_t duration_ms = 0;
  std::string sandbox_id;
};

// Called from the calling thread as output arrives: stream 1 = stdout, 2 = stderr.
using OutputCallback = std::function<void(int stream, std::string_view data)>;

// Runs the program. Ignores SIGPIPE process-wide if it was left at its default. Errors are Kiln's own (cannot
// create the sandbox, missing kiln-envd, ...), never the program's: a program that fails still yields a
// RunResult.
Result<RunResult> Run(const RunRequest& request, const OutputCallback& on_output = {});

// For a process told to stop (a signal thread): kills every sandbox a Run of this process has running, and
// every one launched from now on, then waits up to `timeout_ms` for their Runs to finish taking them down
// (processes reaped, cgroups removed); those Runs return as if the program had been killed. Returns how many
// were still up when the wait ended. Without it, a killed process's sandboxes die with it (the parent-death
// signal) but leave their empty cgroups for the next Kiln to sweep.
int StopAllRuns(int64_t timeout_ms);

}  // namespace kiln::runtime
