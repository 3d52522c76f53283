// The control plane's SQLite database (WAL) under the Kiln home directory: keys and the sandbox registry.
//
// Persisted format (a spec: columns are only ever added, never renamed or renumbered). meta(key, value)
// holds "schema_version" = "4". api_keys(id, name, hash, admin, created_ms, revoked_ms): hash is the
// SHA-256 hex of the secret. sandboxes(id, owner, template, metadata, env, access_token, cpu_count,
// memory_mb, disk_mb, started_ms, end_ms, state, ended_ms, end_reason, socket_path (version 2), auto_pause
// (version 3, 0 or 1), traffic_token (version 4; '' when public traffic is allowed)): metadata and env are
// JSON objects of strings; state is "running", "paused" or "ended"; times are wall-clock milliseconds;
// socket_path is envd's socket on the host.
//
// Thread-safety: one connection guarded by a mutex; callers take it through Lock(). Other processes may use
// the same file concurrently (busy timeout 5 s).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace kiln::control {

// One prepared statement; binds by 1-based index. Steps report SQLite's message on failure.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, const std::string& value);
  Statement& Bind(int index, int64_t value);
  // true: a row is ready (read it with Text/Int); false: done.
  Result<bool> Step();
  // Runs to completion (for statements without rows).
  Status Run();
  std::string Text(int column) const;
  int64_t Int(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // Opens (creating when missing, mode 0600) the database at `path` and brings its schema up to date.
  static Result<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();

  // The connection's lock: hold it across Prepare/Step of one logical operation.
  std::unique_lock<std::mutex> Lock() const { return std::unique_lock<std::mutex>(mu_); }
  // Requires Lock() held. Internal names the statement and SQLite's message.
  Result<Statement> Prepare(const std::string& sql) const;
  Status Exec(const std::string& sql) const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  Status Migrate();

  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace kiln::control
