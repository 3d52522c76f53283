// A user namespace that exists only to lend its id map to idmapped mounts.
//
// When Kiln runs as root, the sandbox's root is host uid IdBase, and the host's system files (owned by host
// uid 0) would appear owned by nobody inside: the sandbox's root could not change them even in its private
// copy-on-write layer. An idmapped, read-only copy of /usr made through a namespace with the sandbox's own
// map shows them owned by the sandbox's root instead, on that copy only; the host's files are untouched.
#pragma once

#include <string>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"

namespace kiln::sandbox {

// Makes a user namespace with `uid_gid_map` (the /proc/PID/uid_map text, used for gids too) and returns an
// fd of it (close-on-exec). The process that made it is gone when this returns; the fd keeps it alive.
Result<UniqueFd> MakeIdmapNamespace(const std::string& uid_gid_map);

}  // namespace kiln::sandbox
