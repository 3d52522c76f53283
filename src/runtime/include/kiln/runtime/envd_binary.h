// Finds the kiln-envd binary that every sandbox runs as its init.
#pragma once

#include <optional>
#include <string>

#include "kiln/base/status.h"

namespace kiln::runtime {

// An O_PATH fd of kiln-envd, opened once per process and kept open (thread-safe). Looked up in $KILN_ENVD,
// then next to the running executable, then in ../libexec/kiln/ (base/install_paths.h). NotFound names the
// places searched.
Result<int> EnvdBinaryFd();
// The path that EnvdBinaryFd() opened.
Result<std::string> EnvdBinaryPath();

// Where every sandbox sees kiln-envd under the name `sudo` (envd/sudo_socket.h): first in the default PATH.
inline constexpr char kSandboxSudoPath[] = "/opt/kiln/bin/sudo";
// Where every sandbox sees kiln-kernel-bridge (Jupyter kernelspec languages in code contexts).
inline constexpr char kSandboxKernelBridgePath[] = "/opt/kiln/bin/kiln-kernel-bridge";
// The host's kiln-kernel-bridge: $KILN_KERNEL_BRIDGE, else the one beside kiln-envd, else as kiln-envd is
// looked up; nullopt when there is
// none (an optional feature: sandboxes then offer only python, javascript and bash contexts). Looked up
// once per process.
std::optional<std::string> KernelBridgeBinaryPath();

}  // namespace kiln::runtime
