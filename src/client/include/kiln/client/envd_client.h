// EnvdClient: the host side of kiln-envd's API (E2B envd: Connect-RPC JSON process and filesystem services
// plus REST /files), over the unix socket the sandbox engine exposes.
//
// Thread-safety: one EnvdClient may be used from many threads at once; each call takes a connection of its
// own, reusing an idle keep-alive one when the client (or a copy of it) kept one from an earlier call.
// Errors: a Status with envd's Connect code (NotFound for an unknown pid or a missing file, ...);
// Unavailable when the socket cannot be reached; DeadlineExceeded when a client-side timeout expires.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::client {

class ConnectionPool;

struct ProcessConfig {
  std::string cmd;  // program path or name (searched in PATH)
  std::vector<std::string> args;
  std::map<std::string, std::string> envs;
  std::optional<std::string> cwd;  // unset: the user's home (or envd's --workdir)
};

struct StartOptions {
  bool stdin = false;               // a stdin pipe (SendInput/CloseStdin) instead of /dev/null
  int64_t timeout_ms = 0;           // Connect-Timeout-Ms: envd kills the process then; 0 = none
  std::optional<std::string> tag;   // for Connect/List
  std::optional<std::string> user;  // run as this user (Authorization: Basic); unset: envd's default
  int keepalive_seconds = 0;        // Keepalive-Ping-Interval; 0 = envd's default (50 s)
  // Asked while the process runs (at least every 100 ms once it started): when it says true the process
  // group is killed (SIGKILL) and Start returns FailedPrecondition "cancelled" (callbacks have seen the
  // output so far). Empty: never.
  std::function<bool()> cancelled;
};

// Stream callbacks, called on the calling thread in stream order. Any may be empty.
struct ProcessCallbacks {
  std::function<void(uint32_t pid)> on_start;
  std::function<void(std::string_view bytes)> on_stdout;
  std::function<void(std::string_view bytes)> on_stderr;
  std::function<void()> on_keepalive;
};

struct ProcessExit {
  int exit_code = 0;  // -1 when killed by a signal
  bool exited = true;
  std::string status;  // "exit status 0", "signal: killed"
  std::optional<std::string> error;
};

struct ProcessInfo {
  uint32_t pid = 0;
  ProcessConfig config;
  std::optional<std::string> tag;
};

struct EntryInfo {
  std::string name;
  std::string type;  // "FILE_TYPE_FILE", "FILE_TYPE_DIRECTORY", "FILE_TYPE_SYMLINK", ...
  std::string path;
  int64_t size = 0;
  uint32_t mode = 0;  // permission bits
  std::string permissions;
  std::string owner;
  std::string group;
  std::string modified_time;  // RFC 3339
  std::optional<std::string> symlink_target;
};

class EnvdClient {
 public:
  // `socket_path`: envd's unix socket. `access_token`: sent as X-Access-Token when not empty.
  explicit EnvdClient(std::string socket_path, std::string access_token = "");

  // Per-call timeout for unary and file calls (default 30 s).
  void set_timeout_ms(int timeout_ms) { timeout_ms_ = timeout_ms; }
  // Acts as this user in filesystem and file calls (default: envd's default user).
  void set_user(std::string user) { user_ = std::move(user); }

  // GET /health: OK on 204.
  Status Health() const;

  // Starts a process and blocks until its end event, streaming output to `callbacks`. A deadline kill
  // returns DeadlineExceeded (callbacks have seen the output); spawn failures return envd's error.
  Result<ProcessExit> Start(const ProcessConfig& config, const StartOptions& options,
                            const ProcessCallbacks& callbacks) const;
  // Attaches to a running process (new output only) until it ends. Unknown pid -> NotFound.
  Result<ProcessExit> Connect(uint32_t pid, const ProcessCallbacks& callbacks, int64_t timeout_ms = 0) const;
  Result<std::vector<ProcessInfo>> List() const;
  Status SendInput(uint32_t pid, std::string_view bytes) const;
  Status CloseStdin(uint32_t pid) const;
  // Signals the process group (9 and 15 are sent by name). Unknown pid -> NotFound.
  Status SendSignal(uint32_t pid, int signal) const;

  // Files. Relative paths resolve against the user's home inside the sandbox.
  Status Write(const std::string& path, std::string_view bytes) const;
  Result<std::string> Read(const std::string& path) const;
  Result<EntryInfo> Stat(const std::string& path) const;
  Result<std::vector<EntryInfo>> ListDir(const std::string& path, int depth = 1) const;
  // True if created, false if it already existed as a directory.
  Result<bool> MakeDir(const std::string& path) const;
  Status Move(const std::string& source, const std::string& destination) const;
  Status Remove(const std::string& path) const;

 private:
  Result<std::string> Unary(const std::string& method, const std::string& request_json,
                            const std::optional<std::string>& user) const;
  Result<ProcessExit> Stream(const std::string& method, const std::string& request_json, int64_t timeout_ms,
                             int keepalive_seconds, const std::optional<std::string>& user,
                             const ProcessCallbacks& callbacks,
                             const std::function<bool()>& cancelled = {}) const;

  std::shared_ptr<ConnectionPool> pool_;  // idle keep-alive connections, shared by copies
  std::string access_token_;
  std::optional<std::string> user_;
  int timeout_ms_ = 30'000;
};

}  // namespace kiln::client
