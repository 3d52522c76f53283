// chat::SessionStore: `kiln chat` sessions in SQLite, so that a conversation can be continued later.
//
// Persisted format (a spec: columns are only ever added). meta(key, value) holds "schema_version" = "1".
// sessions(name, model, tools_file, template, created_ms, updated_ms, input_tokens, output_tokens,
// cache_read_tokens, calls, cost_usd, cost_known, files, files_ms, summary, summary_upto): one row per
// session; tokens, calls and cost_usd are the totals over every model call; cost_known is 0 once a call's
// model had no price; files is a gzipped tar of the sandbox's home directory taken after the last turn that
// ran tools (empty: none yet), files_ms when. summary (may be empty) stands for every message with seq <=
// summary_upto once the history was condensed. messages(session, seq, role, text, tool_calls,
// tool_call_id, tool_name, tool_error, created_ms): role is system, user, assistant or tool; tool_calls a
// JSON array of {id, name, arguments} (arguments as the model's text); seq counts from 1 per session.
//
// Thread-safety: one connection behind a mutex; other processes may use the same file (WAL, busy timeout
// 5 s), but one session should have one writer at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/llm/pricing.h"
#include "kiln/llm/provider.h"

struct sqlite3;

namespace kiln::chat {

struct SessionTotals {
  llm::Usage usage;
  int64_t calls = 0;
  double cost_usd = 0;
  bool cost_known = true;
};

struct StoredMessage {
  int64_t seq = 0;
  llm::Message message;
};

struct Session {
  std::string name;
  std::string model;
  std::string tools_file;  // empty: the built-in tools
  std::string template_name;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  SessionTotals totals;
  std::string summary;                  // condensed history (empty: none)
  int64_t summary_upto = 0;             // the last seq the summary stands for
  std::vector<StoredMessage> messages;  // seq > summary_upto, in order
  std::string files_tgz;                // the home directory's last snapshot
  int64_t messages_total = 0;           // every stored message, condensed ones included
};

class SessionStore {
 public:
  // Opens (creating, mode 0600, and its directory) the database at `path`.
  static Result<std::unique_ptr<SessionStore>> Open(const std::string& path);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // kAlreadyExists if the name is taken; kInvalidArgument for a name outside [A-Za-z0-9._-]{1,64}.
  Status Create(const Session& session);
  // kNotFound when there is no such session.
  Result<Session> Load(const std::string& name) const;
  // Every session without its messages and files, most recently used first.
  Result<std::vector<Session>> List() const;
  // kNotFound when there is no such session.
  Status Remove(const std::string& name);

  // Appends a message; returns its seq.
  Result<int64_t> Append(const std::string& name, const llm::Message& message);
  Status AddUsage(const std::string& name, const llm::Usage& usage, const llm::Cost& cost);
  Status SaveFiles(const std::string& name, const std::string& files_tgz);
  // Replaces every message up to and including `upto` with `summary` (they stay stored, but Load leaves
  // them out).
  Status SaveSummary(const std::string& name, const std::string& summary, int64_t upto);
  // A later --model for the session.
  Status SetModel(const std::string& name, const std::string& model);

 private:
  explicit SessionStore(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql) const;

  sqlite3* db_;
  mutable std::mutex mu_;
};

// Names a message role as stored ("user", ...), and back (nullopt for an unknown name).
std::string_view RoleName(llm::Role role);
std::optional<llm::Role> RoleFromName(std::string_view name);

}  // namespace kiln::chat
