// Sandboxes for tool sessions (kiln mcp, kiln chat), made by a runtime::Runtime.
//
// Thread-safety: the factory may be called from any thread; the Runtime must outlive it.
#pragma once

#include <cstdint>

#include "kiln/runtime/runtime.h"
#include "kiln/tools/runner.h"

namespace kiln::tools {

struct ToolSandboxOptions {
  int64_t lifetime_ms = 0;      // the sandbox's lifetime; 0 = until killed (or the Runtime goes)
  bool die_with_owner = false;  // PR_SET_PDEATHSIG: dies with the thread that calls the factory
};

// Each call creates a sandbox (default spec; MPLCONFIGDIR on its writable /tmp so matplotlib works) and
// returns where it listens. Whoever calls it kills the sandbox with runtime->Kill(endpoint.id).
SandboxFactory RuntimeSandboxFactory(runtime::Runtime* runtime, ToolSandboxOptions options = {});

}  // namespace kiln::tools
