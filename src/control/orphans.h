// Sandboxes left running by a server process that died without killing them (kill -9, a crash): the kernel
// keeps them, reparented to init, and nobody enforces their lifetime any more. Until the runtime can re-adopt
// them (see the report of issue 13), the next server kills them.
#pragma once

#include <string>

#include "kiln/base/status.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::control {

// SIGKILLs every process in sandbox `id`'s cgroup (its init among them, which takes the whole PID namespace
// with it), waits up to 2 s for them to go, removes its cgroup directories and its envd socket. OK when
// nothing was left. InvalidArgument for an id not shaped like a generated one (never a path); Unimplemented
// without cgroups ("none"), where the processes cannot be found.
Status KillOrphan(const sandbox::Capabilities& caps, const std::string& id, const std::string& socket_path);

}  // namespace kiln::control
