// CodeClient: the host side of the code interpreter served by kiln-envd (E2B's port-49999 API:
// POST /execute streaming NDJSON, /contexts), over the sandbox's envd unix socket. See
// /work/shared/docs/e2b-protocol.md §5 for the wire format.
//
// Thread-safety: one CodeClient may be used from many threads at once. Each call takes a connection of
// its own, reusing an idle keep-alive one that this client (or a copy of it) kept from an earlier call.
// Executions in one context are serialised by envd (a second Execute on a busy context waits for the first);
// different contexts run in parallel.
// Errors: NotFound for an unknown context id; InvalidArgument for a rejected request (context_id together
// with language, an unsupported language); Unavailable when the socket cannot be reached or the stream
// broke before end_of_execution; DeadlineExceeded when the client-side timeout expired (the connection is
// then closed, which makes envd interrupt the cell).
// A cell that raised is NOT a call failure: Execute succeeds and Execution::error is set.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::client {

class ConnectionPool;

// One `result` item: the formats a value was rendered to. Binary formats (png, jpeg, pdf) are base64 text.
// JSON-valued formats (json, data, chart) are kept as serialised JSON text.
struct ExecutionResult {
  bool is_main_result = false;  // the value of the cell's last expression (vs display()/plt.show())
  std::map<std::string, std::string> formats;  // "text", "html", "png", "json", "chart", ...
  // Convenience: the format or "" when absent.
  std::string Get(const std::string& format) const {
    auto it = formats.find(format);
    return it == formats.end() ? std::string() : it->second;
  }
};

struct ExecutionError {
  std::string name;       // "NameError", "TimeoutError", "ContextDied", ...
  std::string value;      // "name 'x' is not defined"
  std::string traceback;  // one string, may be empty
};

struct Execution {
  std::vector<ExecutionResult> results;    // in stream order
  std::vector<std::string> stdout_chunks;  // one entry per `stdout` item
  std::vector<std::string> stderr_chunks;
  std::optional<ExecutionError> error;
  int64_t execution_count = 0;  // the context's cell counter (1, 2, ...); 0 if envd sent none
  bool completed = false;       // end_of_execution was received

  // The text of the main result, or "" (like E2B's execution.text).
  std::string Text() const;
  std::string Stdout() const;  // the chunks concatenated
  std::string Stderr() const;
};

struct ExecuteOptions {
  std::optional<std::string> context_id;  // exclusive with `language`; neither: the default python context
  std::optional<std::string> language;    // "python", "javascript"/"js", "typescript"/"ts", "bash"
  std::map<std::string, std::string> env_vars;  // set for this execution only
  // Server-side cell timeout ("timeout" in the request body): envd interrupts the cell after it and answers
  // an error item named TimeoutError; the context stays usable. 0 = none.
  int64_t timeout_ms = 0;
  // Client-side deadline for the whole call (headers and body); on expiry the connection is closed and
  // Execute returns DeadlineExceeded. 0 = none.
  int64_t request_timeout_ms = 0;
  // Asked while the cell runs (at least every 100 ms): when it says true the connection is closed, which
  // makes envd interrupt the cell (SIGINT, then SIGKILL and a restarted context if it goes on), and Execute
  // returns FailedPrecondition "cancelled". Empty: never.
  std::function<bool()> cancelled;
};

// Called on the calling thread, in stream order, as items arrive. Any may be empty.
struct ExecuteCallbacks {
  std::function<void(const std::string& text)> on_stdout;
  std::function<void(const std::string& text)> on_stderr;
  std::function<void(const ExecutionResult& result)> on_result;
  std::function<void(const ExecutionError& error)> on_error;
  std::function<void(int64_t execution_count)> on_execution_count;
};

struct CodeContext {
  std::string id;
  std::string language;  // normalised: "python", "javascript", "bash", ...
  std::string cwd;
};

class CodeClient {
 public:
  // `socket_path`: the sandbox's envd unix socket (runtime::SandboxInfo::socket_path). `access_token`: sent
  // as X-Access-Token on /execute when not empty (/contexts needs none).
  explicit CodeClient(std::string socket_path, std::string access_token = "");

  // Runs `code` and returns everything the stream carried. Succeeds once the stream ended with
  // end_of_execution, whether or not the cell raised (see Execution::error).
  Result<Execution> Execute(const std::string& code, const ExecuteOptions& options = {},
                            const ExecuteCallbacks& callbacks = {}) const;

  // POST /contexts. `language` empty: python; `cwd` empty: /home/user.
  Result<CodeContext> CreateContext(const std::string& language = "", const std::string& cwd = "") const;
  // GET /contexts: the default python and javascript contexts first, then created ones in creation order.
  Result<std::vector<CodeContext>> ListContexts() const;
  // DELETE /contexts/{id}: stops its process. NotFound for an unknown id.
  Status DeleteContext(const std::string& id) const;
  // POST /contexts/{id}/restart: a fresh process (variables and the execution counter are reset).
  Status RestartContext(const std::string& id) const;

 private:
  std::string access_token_;
  std::shared_ptr<ConnectionPool> pool_;  // idle keep-alive connections, shared by copies
};

}  // namespace kiln::client
