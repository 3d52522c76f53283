#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>

#include "kiln/workflow/checkpoint_store.h"

namespace kiln::workflow {
namespace {

const char* const kSchema = R"sql(
  CREATE TABLE IF NOT EXISTS threads(id TEXT PRIMARY KEY, status TEXT NOT NULL, head INTEGER NOT NULL,
                                     owner_pid INTEGER NOT NULL, created_ms INTEGER NOT NULL,
                                     updated_ms INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS checkpoints(thread_id TEXT NOT NULL, id INTEGER NOT NULL, parent_id INTEGER NOT NULL,
                                         step INTEGER NOT NULL, schema_version INTEGER NOT NULL,
                                         next TEXT NOT NULL, state TEXT NOT NULL, interrupt TEXT NOT NULL,
                                         status TEXT NOT NULL, reason TEXT NOT NULL, created_ms INTEGER NOT NULL,
                                         PRIMARY KEY(thread_id, id)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS steps(thread_id TEXT NOT NULL, from_checkpoint INTEGER NOT NULL, node TEXT NOT NULL,
                                   done INTEGER NOT NULL, attempts INTEGER NOT NULL, output TEXT NOT NULL,
                                   PRIMARY KEY(thread_id, from_checkpoint)) WITHOUT ROWID;
)sql";

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Result<bool> Step() {
    if (rc_ != SQLITE_OK) return Internal(std::string("sqlite: prepare: ") + sqlite3_errmsg(db_));
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Internal(std::string("sqlite: ") + sqlite3_errmsg(db_) + " in " + sqlite3_sql(stmt_));
  }
  Status Run() {
    KILN_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return Status::Ok();
  }
  std::string Text(int c) const {
    auto* t = sqlite3_column_text(stmt_, c);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(stmt_, c)) : "";
  }
  int64_t Int(int c) const { return sqlite3_column_int64(stmt_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

class SqliteStore final : public CheckpointStore {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return Internal("sqlite: " + msg);
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT (rolled back if it fails).
  template <typename F>
  auto Txn(F body) -> decltype(body()) {
    KILN_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    auto result = body();
    if (!result.ok()) {
      (void)Exec("ROLLBACK");
      return result;
    }
    Status commit = Exec("COMMIT");
    if (!commit.ok()) {
      (void)Exec("ROLLBACK");
      return commit;
    }
    return result;
  }

  Result<int64_t> CreateThread(const Checkpoint& first, int64_t owner_pid) override {
    const std::string& id = first.thread_id;
    return Txn([&]() -> Result<int64_t> {
      Stmt find(db_, "SELECT 1 FROM threads WHERE id=?");
      KILN_ASSIGN_OR_RETURN(bool exists, find.Bind(1, id).Step());
      if (exists) return AlreadyExists("thread " + id + " already exists");
      int64_t now = NowMs();
      KILN_RETURN_IF_ERROR(Stmt(db_, "INSERT INTO threads VALUES(?,?,0,?,?,?)")
                               .Bind(1, id)
                               .Bind(2, std::string(ThreadStatusName(ThreadStatus::kRunning)))
                               .Bind(3, owner_pid)
                               .Bind(4, now)
                               .Bind(5, now)
                               .Run());
      return InsertHead(first);
    });
  }

  Result<ThreadInfo> ReadThread(const std::string& id) {
    Stmt s(db_, "SELECT status, head, owner_pid, created_ms, updated_ms FROM threads WHERE id=?");
    KILN_ASSIGN_OR_RETURN(bool row, s.Bind(1, id).Step());
    if (!row) return NotFound("no thread " + id);
    ThreadInfo info;
    info.id = id;
    KILN_ASSIGN_OR_RETURN(info.status, ParseThreadStatus(s.Text(0)));
    info.head = s.Int(1);
    info.owner_pid = s.Int(2);
    info.created_ms = s.Int(3);
    info.updated_ms = s.Int(4);
    return info;
  }

  Result<ThreadInfo> Claim(const std::string& id, int64_t owner_pid) override {
    return Txn([&]() -> Result<ThreadInfo> {
      KILN_ASSIGN_OR_RETURN(ThreadInfo info, ReadThread(id));
      if (info.owner_pid != 0 && ProcessAlive(info.owner_pid)) {
        return FailedPrecondition("conflict: thread " + id + " is being run by process " +
                                  std::to_string(info.owner_pid) + "; try again when it stops");
      }
      KILN_RETURN_IF_ERROR(Stmt(db_, "UPDATE threads SET owner_pid=?, updated_ms=? WHERE id=?")
                               .Bind(1, owner_pid)
                               .Bind(2, NowMs())
                               .Bind(3, id)
                               .Run());
      info.owner_pid = owner_pid;
      return info;
    });
  }

  Status Release(const std::string& id, int64_t owner_pid) override {
    return Stmt(db_, "UPDATE threads SET owner_pid=0 WHERE id=? AND owner_pid=?")
        .Bind(1, id)
        .Bind(2, owner_pid)
        .Run();
  }

  Result<int64_t> Append(Checkpoint cp, int64_t expected_head, int64_t owner_pid) override {
    return Txn([&]() -> Result<int64_t> {
      KILN_ASSIGN_OR_RETURN(ThreadInfo info, ReadThread(cp.thread_id));
      if (info.owner_pid != owner_pid || info.head != expected_head) {
        return FailedPrecondition("conflict: thread " + cp.thread_id + " moved on (head " +
                                  std::to_string(info.head) + ", expected " + std::to_string(expected_head) +
                                  ") or is run by another process");
      }
      return InsertHead(cp);
    });
  }

  // Inside a transaction: adds `cp` under the next id and makes it the thread's head.
  Result<int64_t> InsertHead(const Checkpoint& cp) {
    Stmt max(db_, "SELECT COALESCE(MAX(id),0) FROM checkpoints WHERE thread_id=?");
    KILN_ASSIGN_OR_RETURN(bool row, max.Bind(1, cp.thread_id).Step());
    int64_t id = (row ? max.Int(0) : 0) + 1;
    int64_t now = NowMs();
    std::string status(ThreadStatusName(cp.status));
    KILN_RETURN_IF_ERROR(Stmt(db_, "INSERT INTO checkpoints VALUES(?,?,?,?,?,?,?,?,?,?,?)")
                             .Bind(1, cp.thread_id)
                             .Bind(2, id)
                             .Bind(3, cp.parent_id)
                             .Bind(4, cp.step)
                             .Bind(5, int64_t{cp.schema_version})
                             .Bind(6, cp.next)
                             .Bind(7, cp.state.dump())
                             .Bind(8, cp.interrupt.dump())
                             .Bind(9, status)
                             .Bind(10, cp.reason)
                             .Bind(11, now)
                             .Run());
    KILN_RETURN_IF_ERROR(Stmt(db_, "UPDATE threads SET head=?, status=?, updated_ms=? WHERE id=?")
                             .Bind(1, id)
                             .Bind(2, status)
                             .Bind(3, now)
                             .Bind(4, cp.thread_id)
                             .Run());
    return id;
  }

  Result<ThreadInfo> GetThread(const std::string& id) override { return ReadThread(id); }

  Result<std::vector<ThreadInfo>> ListThreads() override {
    Stmt s(db_, "SELECT id FROM threads ORDER BY created_ms, id");
    std::vector<std::string> ids;
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      ids.push_back(s.Text(0));
    }
    std::vector<ThreadInfo> out;
    for (const auto& id : ids) {
      KILN_ASSIGN_OR_RETURN(ThreadInfo info, ReadThread(id));
      out.push_back(std::move(info));
    }
    return out;
  }

  static constexpr const char* kCheckpointColumns =
      "SELECT id, parent_id, step, schema_version, next, state, interrupt, status, reason, created_ms "
      "FROM checkpoints WHERE thread_id=?";

  static Result<Checkpoint> ReadCheckpoint(const std::string& thread_id, const Stmt& s) {
    Checkpoint cp;
    cp.thread_id = thread_id;
    cp.id = s.Int(0);
    std::string where = "checkpoint " + std::to_string(cp.id) + " of thread " + thread_id;
    cp.parent_id = s.Int(1);
    cp.step = s.Int(2);
    cp.schema_version = static_cast<int>(s.Int(3));
    if (cp.schema_version > kCheckpointSchemaVersion || cp.schema_version < 1) {
      return FailedPrecondition(where + " has schema version " + std::to_string(cp.schema_version) +
                                "; this Kiln reads versions 1 to " +
                                std::to_string(kCheckpointSchemaVersion) + " (written by a newer Kiln?)");
    }
    cp.next = s.Text(4);
    cp.state = Json::parse(s.Text(5), nullptr, false);
    cp.interrupt = Json::parse(s.Text(6), nullptr, false);
    if (cp.state.is_discarded() || !cp.state.is_object() || cp.interrupt.is_discarded()) {
      return Internal(where + " is corrupted: its state is not a JSON object");
    }
    auto status = ParseThreadStatus(s.Text(7));
    if (!status.ok()) return Internal(where + " is corrupted: " + status.status().message());
    cp.status = *status;
    cp.reason = s.Text(8);
    cp.created_ms = s.Int(9);
    return cp;
  }

  Result<Checkpoint> GetCheckpoint(const std::string& thread_id, int64_t id) override {
    Stmt s(db_, (std::string(kCheckpointColumns) + " AND id=?").c_str());
    KILN_ASSIGN_OR_RETURN(bool row, s.Bind(1, thread_id).Bind(2, id).Step());
    if (!row) return NotFound("thread " + thread_id + " has no checkpoint " + std::to_string(id));
    return ReadCheckpoint(thread_id, s);
  }

  Result<std::vector<Checkpoint>> History(const std::string& thread_id) override {
    KILN_RETURN_IF_ERROR(ReadThread(thread_id).status());
    Stmt s(db_, (std::string(kCheckpointColumns) + " ORDER BY id DESC").c_str());
    s.Bind(1, thread_id);
    std::vector<Checkpoint> out;
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      KILN_ASSIGN_OR_RETURN(Checkpoint cp, ReadCheckpoint(thread_id, s));
      out.push_back(std::move(cp));
    }
  }

  Status DeleteThread(const std::string& id) override {
    return Txn([&]() -> Status {
      KILN_RETURN_IF_ERROR(ReadThread(id).status());
      KILN_RETURN_IF_ERROR(Stmt(db_, "DELETE FROM checkpoints WHERE thread_id=?").Bind(1, id).Run());
      KILN_RETURN_IF_ERROR(Stmt(db_, "DELETE FROM steps WHERE thread_id=?").Bind(1, id).Run());
      return Stmt(db_, "DELETE FROM threads WHERE id=?").Bind(1, id).Run();
    });
  }

  Status StartStep(const std::string& thread_id, int64_t from, const std::string& node) override {
    return Stmt(db_,
                "INSERT INTO steps VALUES(?,?,?,0,1,'null') ON CONFLICT(thread_id, from_checkpoint) "
                "DO UPDATE SET attempts=attempts+1, done=0")
        .Bind(1, thread_id)
        .Bind(2, from)
        .Bind(3, node)
        .Run();
  }

  Status FinishStep(const std::string& thread_id, int64_t from, const Json& output) override {
    return Stmt(db_, "UPDATE steps SET done=1, output=? WHERE thread_id=? AND from_checkpoint=?")
        .Bind(1, output.dump())
        .Bind(2, thread_id)
        .Bind(3, from)
        .Run();
  }

  Result<std::optional<StepRecord>> GetStep(const std::string& thread_id, int64_t from) override {
    Stmt s(db_, "SELECT node, done, attempts, output FROM steps WHERE thread_id=? AND from_checkpoint=?");
    KILN_ASSIGN_OR_RETURN(bool row, s.Bind(1, thread_id).Bind(2, from).Step());
    if (!row) return std::optional<StepRecord>();
    StepRecord r{from, s.Text(0), s.Int(1) != 0, static_cast<int>(s.Int(2)),
                 Json::parse(s.Text(3), nullptr, false)};
    if (r.output.is_discarded()) return Internal("step journal of thread " + thread_id + " is corrupted");
    return std::optional<StepRecord>(std::move(r));
  }

  Result<std::vector<StepRecord>> Steps(const std::string& thread_id) override {
    KILN_RETURN_IF_ERROR(ReadThread(thread_id).status());
    Stmt s(db_,
           "SELECT from_checkpoint, node, done, attempts, output FROM steps WHERE thread_id=? "
           "ORDER BY from_checkpoint");
    s.Bind(1, thread_id);
    std::vector<StepRecord> out;
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      StepRecord r{s.Int(0), s.Text(1), s.Int(2) != 0, static_cast<int>(s.Int(3)),
                   Json::parse(s.Text(4), nullptr, false)};
      if (r.output.is_discarded()) return Internal("step journal of thread " + thread_id + " is corrupted");
      out.push_back(std::move(r));
    }
  }

  Result<int64_t> Prune(const PruneOptions& o) override {
    return Txn([&]() -> Result<int64_t> {
      int64_t before = sqlite3_total_changes(db_);
      if (o.max_idle_ms > 0) {
        int64_t cutoff = o.now_ms - o.max_idle_ms;
        const char* where = "(SELECT id FROM threads WHERE updated_ms < ? AND owner_pid = 0)";
        KILN_RETURN_IF_ERROR(
            Stmt(db_, (std::string("DELETE FROM checkpoints WHERE thread_id IN ") + where).c_str())
                .Bind(1, cutoff)
                .Run());
        KILN_RETURN_IF_ERROR(Stmt(db_, (std::string("DELETE FROM steps WHERE thread_id IN ") + where).c_str())
                                 .Bind(1, cutoff)
                                 .Run());
        KILN_RETURN_IF_ERROR(
            Stmt(db_, "DELETE FROM threads WHERE updated_ms < ? AND owner_pid = 0").Bind(1, cutoff).Run());
      }
      if (o.keep_checkpoints > 0) {
        // The head is always kept, whatever its id (a fork's head may be older than other checkpoints).
        KILN_RETURN_IF_ERROR(Stmt(db_,
                                  "DELETE FROM checkpoints AS c WHERE id <= (SELECT MAX(id) FROM checkpoints "
                                  "WHERE thread_id=c.thread_id) - ? AND id <> (SELECT head FROM threads "
                                  "WHERE threads.id=c.thread_id)")
                                 .Bind(1, int64_t{o.keep_checkpoints})
                                 .Run());
        KILN_RETURN_IF_ERROR(
            Exec("DELETE FROM steps WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE "
                 "c.thread_id=steps.thread_id "
                 "AND c.id=steps.from_checkpoint)"));
      }
      return sqlite3_total_changes(db_) - before;
    });
  }

 private:
  sqlite3* db_;
};

}  // namespace

std::string_view ThreadStatusName(ThreadStatus status) {
  switch (status) {
    case ThreadStatus::kRunning:
      return "running";
    case ThreadStatus::kInterrupted:
      return "interrupted";
    case ThreadStatus::kStopped:
      return "stopped";
    case ThreadStatus::kDone:
      return "done";
    case ThreadStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

Result<ThreadStatus> ParseThreadStatus(std::string_view name) {
  for (auto s : {ThreadStatus::kRunning, ThreadStatus::kInterrupted, ThreadStatus::kStopped,
                 ThreadStatus::kDone, ThreadStatus::kFailed}) {
    if (ThreadStatusName(s) == name) return s;
  }
  return InvalidArgument("unknown thread status '" + std::string(name) + "'");
}

bool ProcessAlive(int64_t pid) {
  if (pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

Result<std::unique_ptr<CheckpointStore>> OpenSqliteCheckpointStore(const std::string& path) {
  sqlite3* raw = nullptr;
  mode_t old_mask = umask(0077);  // threads hold code and model answers: private to the user
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  umask(old_mask);
  auto store = std::make_unique<SqliteStore>(raw);
  if (rc != SQLITE_OK) return Internal("sqlite: open " + path + ": " + sqlite3_errmsg(raw));
  sqlite3_busy_timeout(raw, 10000);
  KILN_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;").WithContext(path));
  KILN_RETURN_IF_ERROR(store->Exec(kSchema).WithContext(path));
  return std::unique_ptr<CheckpointStore>(std::move(store));
}

}  // namespace kiln::workflow
