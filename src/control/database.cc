#include "kiln/control/database.h"

#include <sqlite3.h>
#include <sys/stat.h>

namespace kiln::control {
namespace {

Status SqliteError(sqlite3* db, const std::string& what) {
  return Internal("sqlite: " + what + ": " + sqlite3_errmsg(db));
}

// Each entry moves the schema one version up; entries are never edited once released.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE api_keys(id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
                          admin INTEGER NOT NULL, created_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL);
    CREATE TABLE sandboxes(id TEXT PRIMARY KEY, owner TEXT NOT NULL, template TEXT NOT NULL,
                           metadata TEXT NOT NULL, env TEXT NOT NULL, access_token TEXT NOT NULL,
                           cpu_count INTEGER NOT NULL, memory_mb INTEGER NOT NULL, disk_mb INTEGER NOT NULL,
                           started_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, state TEXT NOT NULL,
                           ended_ms INTEGER NOT NULL, end_reason TEXT NOT NULL);
    CREATE INDEX sandboxes_state ON sandboxes(state, owner);
    )sql",
    "ALTER TABLE sandboxes ADD COLUMN socket_path TEXT NOT NULL DEFAULT '';",
    "ALTER TABLE sandboxes ADD COLUMN auto_pause INTEGER NOT NULL DEFAULT 0;",
    "ALTER TABLE sandboxes ADD COLUMN traffic_token TEXT NOT NULL DEFAULT '';",
};

}  // namespace

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::Bind(int index, const std::string& value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, std::string("step ") + sqlite3_sql(stmt_));
}

Status Statement::Run() {
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (!text) return "";
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  // The umask decides the file's mode at creation: keys' hashes and access tokens are private.
  mode_t old_mask = umask(0077);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  umask(old_mask);
  std::unique_ptr<Database> db(new Database(raw));
  if (rc != SQLITE_OK) return SqliteError(raw, "open " + path);
  sqlite3_busy_timeout(raw, 5000);
  KILN_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  KILN_RETURN_IF_ERROR(db->Migrate());
  return db;
}

Database::~Database() {
  sqlite3_close_v2(db_);
}

Result<Statement> Database::Prepare(const std::string& sql) const {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
    return SqliteError(db_, "prepare " + sql);
  return Statement(db_, stmt);
}

Status Database::Exec(const std::string& sql) const {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK) return Status::Ok();
  std::string message = error ? error : "unknown error";
  sqlite3_free(error);
  return Internal("sqlite: " + message);
}

// BEGIN IMMEDIATE makes two processes opening a fresh home at once migrate one after the other.
Status Database::Migrate() {
  auto lock = Lock();
  KILN_RETURN_IF_ERROR(
      Exec("BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"));
  Status status = [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement get, Prepare("SELECT value FROM meta WHERE key='schema_version'"));
    KILN_ASSIGN_OR_RETURN(bool row, get.Step());
    int64_t version = row ? std::stoll(get.Text(0)) : 0;
    int64_t known = static_cast<int64_t>(std::size(kMigrations));
    if (version > known)
      return FailedPrecondition("database schema version " + std::to_string(version) +
                                " is newer than this kiln understands (" + std::to_string(known) + ")");
    for (int64_t v = version; v < known; ++v) KILN_RETURN_IF_ERROR(Exec(kMigrations[v]));
    KILN_ASSIGN_OR_RETURN(Statement set,
                          Prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)"));
    return set.Bind(1, std::to_string(known)).Run();
  }();
  if (!status.ok()) {
    (void)Exec("ROLLBACK");
    return status;
  }
  return Exec("COMMIT");
}

}  // namespace kiln::control
