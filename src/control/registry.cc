#include "registry.h"

#include <nlohmann/json.hpp>

#include "kiln/base/json.h"

namespace kiln::control::registry {
namespace {

constexpr char kColumns[] =
    "id, owner, template, metadata, env, access_token, cpu_count, memory_mb, disk_mb, started_ms, end_ms, "
    "state, ended_ms, end_reason, socket_path, auto_pause";

std::string ToJson(const std::map<std::string, std::string>& map) {
  return DumpJson(nlohmann::json(map));
}

// The column was written by ToJson; anything else (a hand-edited database) reads as empty.
std::map<std::string, std::string> FromJson(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::map<std::string, std::string> map;
  if (!parsed.is_object()) return map;
  for (auto& [key, value] : parsed.items())
    if (value.is_string()) map[key] = value.get<std::string>();
  return map;
}

SandboxRecord ReadRow(const Statement& row) {
  SandboxRecord r;
  r.id = row.Text(0);
  r.owner = row.Text(1);
  r.template_id = row.Text(2);
  r.metadata = FromJson(row.Text(3));
  r.env_vars = FromJson(row.Text(4));
  r.access_token = row.Text(5);
  r.cpu_count = row.Int(6);
  r.memory_mb = row.Int(7);
  r.disk_mb = row.Int(8);
  r.started_ms = row.Int(9);
  r.end_ms = row.Int(10);
  r.state = row.Text(11);
  r.ended_ms = row.Int(12);
  r.end_reason = row.Text(13);
  r.socket_path = row.Text(14);
  r.auto_pause = row.Int(15) != 0;
  return r;
}

Result<std::vector<SandboxRecord>> ReadAll(Statement& query) {
  std::vector<SandboxRecord> records;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) return records;
    records.push_back(ReadRow(query));
  }
}

}  // namespace

Status Insert(Database& db, const SandboxRecord& r) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(Statement insert,
                        db.Prepare(std::string("INSERT INTO sandboxes(") + kColumns +
                                   ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, r.id).Bind(2, r.owner).Bind(3, r.template_id).Bind(4, ToJson(r.metadata));
  insert.Bind(5, ToJson(r.env_vars)).Bind(6, r.access_token).Bind(7, r.cpu_count).Bind(8, r.memory_mb);
  insert.Bind(9, r.disk_mb).Bind(10, r.started_ms).Bind(11, r.end_ms).Bind(12, r.state);
  insert.Bind(13, r.ended_ms).Bind(14, r.end_reason).Bind(15, r.socket_path);
  insert.Bind(16, static_cast<int64_t>(r.auto_pause ? 1 : 0));
  return insert.Run();
}

Result<std::optional<SandboxRecord>> Find(Database& db, const std::string& id) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(Statement query,
                        db.Prepare(std::string("SELECT ") + kColumns + " FROM sandboxes WHERE id = ?"));
  query.Bind(1, id);
  KILN_ASSIGN_OR_RETURN(std::vector<SandboxRecord> found, ReadAll(query));
  if (found.empty()) return std::optional<SandboxRecord>();
  return std::optional<SandboxRecord>(std::move(found.front()));
}

Result<std::vector<SandboxRecord>> ListLive(Database& db, const std::string& owner) {
  auto lock = db.Lock();
  std::string sql = std::string("SELECT ") + kColumns + " FROM sandboxes WHERE state != 'ended'";
  if (!owner.empty()) sql += " AND owner = ?";
  KILN_ASSIGN_OR_RETURN(Statement query, db.Prepare(sql));
  if (!owner.empty()) query.Bind(1, owner);
  return ReadAll(query);
}

Status SetEnd(Database& db, const std::string& id, int64_t end_ms) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(Statement update, db.Prepare("UPDATE sandboxes SET end_ms = ? WHERE id = ?"));
  return update.Bind(1, end_ms).Bind(2, id).Run();
}

Status SetState(Database& db, const std::string& id, const std::string& state) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(Statement update, db.Prepare("UPDATE sandboxes SET state = ? WHERE id = ?"));
  return update.Bind(1, state).Bind(2, id).Run();
}

Status MarkRunning(Database& db, const SandboxRecord& r) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(
      Statement update,
      db.Prepare("UPDATE sandboxes SET socket_path = ?, started_ms = ?, end_ms = ?, state = ? "
                 "WHERE id = ?"));
  return update.Bind(1, r.socket_path)
      .Bind(2, r.started_ms)
      .Bind(3, r.end_ms)
      .Bind(4, r.state)
      .Bind(5, r.id)
      .Run();
}

Status MarkEnded(Database& db, const std::string& id, int64_t ended_ms, const std::string& reason) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(
      Statement update,
      db.Prepare("UPDATE sandboxes SET state = 'ended', ended_ms = ?, end_reason = ? WHERE id = ?"));
  return update.Bind(1, ended_ms).Bind(2, reason).Bind(3, id).Run();
}

Status Claim(Database& db, const SandboxRecord& r) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(
      Statement update,
      db.Prepare("UPDATE sandboxes SET owner = ?, metadata = ?, started_ms = ?, end_ms = ?, "
                 "auto_pause = ?, state = ?, env = ? WHERE id = ? AND state = 'pooled' "
                 "RETURNING id"));
  update.Bind(1, r.owner).Bind(2, ToJson(r.metadata)).Bind(3, r.started_ms).Bind(4, r.end_ms);
  update.Bind(5, static_cast<int64_t>(r.auto_pause ? 1 : 0)).Bind(6, r.state).Bind(7, ToJson(r.env_vars));
  update.Bind(8, r.id);
  KILN_ASSIGN_OR_RETURN(bool row, update.Step());
  if (!row) return NotFound("sandbox " + r.id + " is not pooled");
  return update.Run();
}

Status DeleteEndedBefore(Database& db, int64_t ended_before_ms) {
  auto lock = db.Lock();
  KILN_ASSIGN_OR_RETURN(Statement remove,
                        db.Prepare("DELETE FROM sandboxes WHERE state = 'ended' AND ended_ms < ?"));
  return remove.Bind(1, ended_before_ms).Run();
}

}  // namespace kiln::control::registry
