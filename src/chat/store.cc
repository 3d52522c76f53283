#include "kiln/chat/store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cctype>
#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace kiln::chat {
namespace {

using nlohmann::json;

const char* const kSchema = R"sql(
  CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');
  CREATE TABLE IF NOT EXISTS sessions(
    name TEXT PRIMARY KEY, model TEXT NOT NULL, tools_file TEXT NOT NULL, template TEXT NOT NULL,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0, calls INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, cost_known INTEGER NOT NULL DEFAULT 1,
    files BLOB NOT NULL DEFAULT x'', files_ms INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '', summary_upto INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS messages(
    session TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL,
    tool_calls TEXT NOT NULL, tool_call_id TEXT NOT NULL, tool_name TEXT NOT NULL,
    tool_error INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    PRIMARY KEY(session, seq)) WITHOUT ROWID;
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
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& BindDouble(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Stmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT);
    return *this;
  }
  Result<bool> Step() {
    if (rc_ != SQLITE_OK) return Internal(std::string("chat sessions: prepare: ") + sqlite3_errmsg(db_));
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Internal(std::string("chat sessions: ") + sqlite3_errmsg(db_));
  }
  Status Run() {
    KILN_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return Status::Ok();
  }
  std::string Text(int c) const {
    const void* p = sqlite3_column_blob(stmt_, c);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, c)) : "";
  }
  int64_t Int(int c) const { return sqlite3_column_int64(stmt_, c); }
  double Double(int c) const { return sqlite3_column_double(stmt_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  return name != "." && name != "..";
}

Status NoSuchSession(const std::string& name) {
  return NotFound("there is no chat session named '" + name + "' (kiln chat --list shows them)");
}

std::string ToolCallsJson(const std::vector<llm::ToolCall>& calls) {
  json out = json::array();
  for (const llm::ToolCall& c : calls)
    out.push_back({{"id", c.id}, {"name", c.name}, {"arguments", c.arguments_json}});
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::vector<llm::ToolCall>> ToolCallsFrom(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return Internal("chat sessions: a stored message's tool_calls is not a JSON array");
  std::vector<llm::ToolCall> calls;
  for (const json& c : j) {
    if (!c.is_object()) return Internal("chat sessions: a stored tool call is not an object");
    calls.push_back({c.value("id", ""), c.value("name", ""), c.value("arguments", "")});
  }
  return calls;
}

// Row columns of sessions, in the order Load and List select them.
constexpr const char* kSessionColumns =
    "name, model, tools_file, template, created_ms, updated_ms, input_tokens, output_tokens, "
    "cache_read_tokens, calls, cost_usd, cost_known, summary, summary_upto";

Session SessionFromRow(const Stmt& s) {
  Session out;
  out.name = s.Text(0);
  out.model = s.Text(1);
  out.tools_file = s.Text(2);
  out.template_name = s.Text(3);
  out.created_ms = s.Int(4);
  out.updated_ms = s.Int(5);
  out.totals.usage.input_tokens = s.Int(6);
  out.totals.usage.output_tokens = s.Int(7);
  out.totals.usage.cache_read_input_tokens = s.Int(8);
  out.totals.calls = s.Int(9);
  out.totals.cost_usd = s.Double(10);
  out.totals.cost_known = s.Int(11) != 0;
  out.summary = s.Text(12);
  out.summary_upto = s.Int(13);
  return out;
}

}  // namespace

std::string_view RoleName(llm::Role role) {
  switch (role) {
    case llm::Role::kSystem:
      return "system";
    case llm::Role::kUser:
      return "user";
    case llm::Role::kAssistant:
      return "assistant";
    case llm::Role::kTool:
      break;
  }
  return "tool";
}

std::optional<llm::Role> RoleFromName(std::string_view name) {
  for (llm::Role r : {llm::Role::kSystem, llm::Role::kUser, llm::Role::kAssistant, llm::Role::kTool}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

Result<std::unique_ptr<SessionStore>> SessionStore::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  sqlite3* db = nullptr;
  mode_t old_mask = ::umask(077);
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  ::umask(old_mask);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Unavailable("chat sessions: cannot open " + path + ": " + why);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<SessionStore> store(new SessionStore(db));
  KILN_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  KILN_RETURN_IF_ERROR(store->Exec(kSchema));
  return store;
}

SessionStore::~SessionStore() {
  sqlite3_close(db_);
}

Status SessionStore::Exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
  std::string why = err ? err : "unknown error";
  sqlite3_free(err);
  return Internal("chat sessions: " + why);
}

Status SessionStore::Create(const Session& session) {
  if (!ValidName(session.name)) {
    return InvalidArgument("session name '" + session.name +
                           "': use 1 to 64 letters, digits, '.', '_' or '-'");
  }
  std::lock_guard lock(mu_);
  Stmt exists(db_, "SELECT 1 FROM sessions WHERE name = ?");
  exists.Bind(1, session.name);
  KILN_ASSIGN_OR_RETURN(bool found, exists.Step());
  if (found) return AlreadyExists("a chat session named '" + session.name + "' exists");
  Stmt s(db_,
         "INSERT INTO sessions(name, model, tools_file, template, created_ms, updated_ms) "
         "VALUES(?, ?, ?, ?, ?, ?)");
  int64_t now = NowMs();
  s.Bind(1, session.name).Bind(2, session.model).Bind(3, session.tools_file).Bind(4, session.template_name);
  s.Bind(5, now).Bind(6, now);
  return s.Run();
}

Result<Session> SessionStore::Load(const std::string& name) const {
  std::lock_guard lock(mu_);
  std::string sql = std::string("SELECT ") + kSessionColumns + ", files FROM sessions WHERE name = ?";
  Stmt s(db_, sql.c_str());
  s.Bind(1, name);
  KILN_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return NoSuchSession(name);
  Session out = SessionFromRow(s);
  out.files_tgz = s.Text(14);
  Stmt m(db_,
         "SELECT seq, role, text, tool_calls, tool_call_id, tool_name, tool_error FROM messages "
         "WHERE session = ? ORDER BY seq");
  m.Bind(1, name);
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, m.Step());
    if (!row) break;
    ++out.messages_total;
    if (m.Int(0) <= out.summary_upto) continue;
    std::optional<llm::Role> role = RoleFromName(m.Text(1));
    if (!role) return Internal("chat sessions: a stored message has the unknown role '" + m.Text(1) + "'");
    StoredMessage stored;
    stored.seq = m.Int(0);
    stored.message.role = *role;
    stored.message.text = m.Text(2);
    KILN_ASSIGN_OR_RETURN(stored.message.tool_calls, ToolCallsFrom(m.Text(3)));
    stored.message.tool_call_id = m.Text(4);
    stored.message.tool_name = m.Text(5);
    stored.message.tool_error = m.Int(6) != 0;
    out.messages.push_back(std::move(stored));
  }
  return out;
}

Result<std::vector<Session>> SessionStore::List() const {
  std::lock_guard lock(mu_);
  std::string sql = std::string("SELECT ") + kSessionColumns +
                    ", (SELECT count(*) FROM messages WHERE session = name) FROM sessions "
                    "ORDER BY updated_ms DESC, name";
  Stmt s(db_, sql.c_str());
  std::vector<Session> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(SessionFromRow(s));
    out.back().messages_total = s.Int(14);
  }
  return out;
}

Status SessionStore::Remove(const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM sessions WHERE name = ?");
  s.Bind(1, name);
  KILN_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) return NoSuchSession(name);
  Stmt m(db_, "DELETE FROM messages WHERE session = ?");
  m.Bind(1, name);
  return m.Run();
}

Result<int64_t> SessionStore::Append(const std::string& name, const llm::Message& message) {
  std::lock_guard lock(mu_);
  Stmt next(db_, "SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE session = ?");
  next.Bind(1, name);
  KILN_ASSIGN_OR_RETURN(bool row, next.Step());
  int64_t seq = row ? next.Int(0) : 1;
  Stmt s(db_,
         "INSERT INTO messages(session, seq, role, text, tool_calls, tool_call_id, tool_name, tool_error, "
         "created_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  int64_t now = NowMs();
  s.Bind(1, name).Bind(2, seq).Bind(3, std::string(RoleName(message.role))).Bind(4, message.text);
  s.Bind(5, ToolCallsJson(message.tool_calls)).Bind(6, message.tool_call_id).Bind(7, message.tool_name);
  s.Bind(8, int64_t{message.tool_error ? 1 : 0}).Bind(9, now);
  KILN_RETURN_IF_ERROR(s.Run());
  Stmt touch(db_, "UPDATE sessions SET updated_ms = ? WHERE name = ?");
  touch.Bind(1, now).Bind(2, name);
  KILN_RETURN_IF_ERROR(touch.Run());
  return seq;
}

Status SessionStore::AddUsage(const std::string& name, const llm::Usage& usage, const llm::Cost& cost) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "UPDATE sessions SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, "
         "cache_read_tokens = cache_read_tokens + ?, calls = calls + 1, cost_usd = cost_usd + ?, "
         "cost_known = cost_known AND ? WHERE name = ?");
  s.Bind(1, usage.input_tokens).Bind(2, usage.output_tokens).Bind(3, usage.cache_read_input_tokens);
  s.BindDouble(4, cost.usd).Bind(5, int64_t{cost.known ? 1 : 0}).Bind(6, name);
  return s.Run();
}

Status SessionStore::SaveFiles(const std::string& name, const std::string& files_tgz) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "UPDATE sessions SET files = ?, files_ms = ? WHERE name = ?");
  s.BindBlob(1, files_tgz).Bind(2, NowMs()).Bind(3, name);
  return s.Run();
}

Status SessionStore::SaveSummary(const std::string& name, const std::string& summary, int64_t upto) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "UPDATE sessions SET summary = ?, summary_upto = ? WHERE name = ?");
  s.Bind(1, summary).Bind(2, upto).Bind(3, name);
  return s.Run();
}

Status SessionStore::SetModel(const std::string& name, const std::string& model) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "UPDATE sessions SET model = ? WHERE name = ?");
  s.Bind(1, model).Bind(2, name);
  return s.Run();
}

}  // namespace kiln::chat
