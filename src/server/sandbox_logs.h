// GET /sandboxes/{id}/logs and GET /v2/sandboxes/{id}/logs: what the sandbox's envd logged (envd's start,
// each process's start and end), in the shapes of E2B's `SandboxLogs` and `SandboxLogsV2Response`.
//
// Legacy: ?start=<unix ms>&limit=<n> (default 1000), oldest first, as {"logs": [{timestamp, line}],
// "logEntries": [{timestamp, level, message, fields}]}; `line` is the entry as one JSON object (envd's log
// line). v2: ?cursor=<unix ms>&limit=<n>&direction=forward|backward&level=<minimum>&search=<substring> as
// {"logs": [{timestamp, level, message, fields}]}; forward (the default) gives entries at or after the
// cursor oldest first, backward entries at or before it (default: now) newest first.
#pragma once

#include <string>

#include "api.h"
#include "query.h"

namespace kiln::server {

ApiResponse SandboxLogs(control::Control& control, const control::Principal& caller, const std::string& id,
                        const Target& target, bool v2);

}  // namespace kiln::server
