// Reading envd's GET /logs answer (envd/event_log.h) into control's log entries. The answer comes from inside
// a sandbox, so it is treated as hostile: anything that is not an object with a "logs" array is an error,
// entries without an integer timestampMs are skipped, and non-string fields are dropped.
#pragma once

#include <string>
#include <vector>

#include "kiln/control/control.h"

namespace kiln::control {

Result<std::vector<SandboxLogEntry>> ParseEnvdLogs(const std::string& body);

}  // namespace kiln::control
