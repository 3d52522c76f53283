// GET /templates: the templates a sandbox can be created from (the built-in `base` and
// `code-interpreter-v1`, then those built with `kiln template build` into the server's home), in the shape
// of E2B's Template (templateID, buildID, cpuCount, memoryMB, diskSizeMB, public, aliases, names,
// createdAt, updatedAt, createdBy, lastSpawnedAt, spawnCount, buildCount, envdVersion, buildStatus), plus
// Kiln's startCmd and readyCmd.
#pragma once

#include "api.h"

namespace kiln::server {

ApiResponse ListTemplates(const control::Control& control);

}  // namespace kiln::server
