// The process-wide sandbox backend, probed once (thread-safe).
#pragma once

#include "kiln/base/status.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::runtime {

// The namespaces backend, created on first use. The error (e.g. no user namespaces) is remembered.
Result<sandbox::Backend*> DefaultBackend();

// Environment for programs in a sandbox: spec.env plus PATH, HOME, USER, LOGNAME and LANG when absent.
std::vector<std::pair<std::string, std::string>> ProgramEnvironment(const sandbox::SandboxSpec& spec);

}  // namespace kiln::runtime
