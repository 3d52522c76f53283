// The sandbox table of the control database (schema in kiln/control/database.h). Every function takes the
// database's lock itself.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kiln/control/control.h"

namespace kiln::control::registry {

Status Insert(Database& db, const SandboxRecord& record);
// nullopt when the id was never registered.
Result<std::optional<SandboxRecord>> Find(Database& db, const std::string& id);
// Sandboxes not ended; `owner` empty: every owner.
Result<std::vector<SandboxRecord>> ListLive(Database& db, const std::string& owner);
Status SetEnd(Database& db, const std::string& id, int64_t end_ms);
Status SetState(Database& db, const std::string& id, const std::string& state);
// A "starting" record's sandbox runs: its socket, start and end times, state.
Status MarkRunning(Database& db, const SandboxRecord& record);
// Deletes the rows of sandboxes that ended before `ended_before_ms`.
Status DeleteEndedBefore(Database& db, int64_t ended_before_ms);
// A "pooled" record becomes its claimer's: owner, metadata, env, start and end times, autoPause, traffic
// token, state.
// NotFound when it is not pooled (any more).
Status Claim(Database& db, const SandboxRecord& record);
Status MarkEnded(Database& db, const std::string& id, int64_t ended_ms, const std::string& reason);

}  // namespace kiln::control::registry
