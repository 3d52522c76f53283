// The OS side of starting a kernel: free loopback ports, the connection file and the process itself.
// Private to kernel_bridge (used by kernel.cc and its tests).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/kernel_bridge/wire.h"

namespace kiln::kernel_bridge {

// The five channels of a connection file, in this order in every port list.
enum Channel { kShell = 0, kIopub, kStdin, kControl, kHeartbeat, kChannelCount };

// `count` TCP ports on 127.0.0.1 that were free a moment ago (bound to port 0, then released; the
// sandbox's network namespace is private, so nobody else races for them).
Result<std::vector<int>> ReserveLoopbackPorts(size_t count);

// A connection file's content: tcp on 127.0.0.1, `ports` in Channel order, hmac-sha256 with `key`.
Json ConnectionInfo(const std::vector<int>& ports, const std::string& key, const std::string& kernel_name);

// A new directory, mode 0700, under `temp_root` (empty: $TMPDIR, else /tmp).
Result<std::string> MakePrivateDir(const std::string& temp_root);

// Writes `content` to `path` with mode 0600 (the key must not be readable by others).
Status WritePrivateFile(const std::string& path, const std::string& content);

// Starts `argv` (argv[0] searched in PATH) with the current environment plus `env`, in a new process group,
// with SIGINT/SIGCHLD unblocked and PR_SET_PDEATHSIG SIGKILL. NotFound (or the execve errno) when it
// cannot be executed.
Result<pid_t> SpawnKernel(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& env);

// "exit status N" or "signal: NAME", for error messages.
std::string DescribeWaitStatus(int wait_status);

}  // namespace kiln::kernel_bridge
