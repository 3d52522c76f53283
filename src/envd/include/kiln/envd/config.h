// envd's configuration (from the command line) and the identity a request acts as.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/envd/users.h"

namespace kiln::envd {

class RootFs;

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// The sandbox-wide env vars set after start (POST /init, so a pooled sandbox takes its create's envVars).
// Shared by every copy of the config; readers take a snapshot under the lock.
class InitEnv {
 public:
  // At most kMaxVars keys and kMaxBytes of keys and values together, counting what was set before.
  static constexpr size_t kMaxVars = 512;
  static constexpr size_t kMaxBytes = 256 * 1024;
  // Sets each key like a later --env does (a key already set takes the new value). Over the bounds:
  // InvalidArgument naming the bound, and nothing is set.
  Status Merge(const EnvVars& vars);
  EnvVars Get() const;

 private:
  mutable std::mutex mu_;
  EnvVars vars_;
};

struct EnvdConfig {
  std::string root_dir = "/";                            // every file path is confined here (host path)
  std::string default_user = "user";                     // the identity of requests that name none
  std::optional<std::string> workdir;                    // default cwd of processes; unset: the user's home
  std::vector<std::pair<std::string, std::string>> env;  // global env vars, in command-line order
  std::shared_ptr<InitEnv> init_env = std::make_shared<InitEnv>();  // set after start, on top of `env`
  std::string access_token;                                         // empty: no X-Access-Token check
  bool preload_python = false;  // start the default python context at start-up (warm pools), not on first use
  // kiln-kernel-bridge inside the root: contexts for any language with a Jupyter kernelspec. Empty: only
  // python, javascript/typescript and bash contexts.
  std::string kernel_bridge;
  int default_keepalive_seconds = 50;           // when a stream has no Keepalive-Ping-Interval header
  size_t max_buffered_output_bytes = 4u << 20;  // per stream; see ProcessTable
  // Every request body envd holds in memory (Connect JSON, code to execute) is capped well below a
  // sandbox's memory limit; larger ones get 413 / resource_exhausted. File uploads are streamed instead.
  size_t max_request_body_bytes = 4u << 20;
  // Connection threads (a sandbox's pids limit counts them); past this, 503 (and /health) from one thread.
  size_t max_connections = 64;
  // Directory watches (streams and polling watchers together) a sandbox may hold at once: each is an inotify
  // instance, of which the kernel grants a user 128 by default. Past it: resource_exhausted.
  size_t max_watchers = 32;
  // A polling watcher (CreateWatcher) nobody asked for events this long is removed.
  size_t watcher_idle_timeout_ms = 60'000;
  // What one `Content-Encoding: gzip` upload may inflate to; past it the upload fails with 413 (a gzip
  // bomb of 1000:1 stops here instead of filling the sandbox's disk).
  size_t max_gzip_upload_bytes = size_t{1} << 30;
};

// The global env vars of a process or context started now: `env` then `init_env`, later keys winning.
EnvVars DefaultEnv(const EnvdConfig& config);

// The user a request acts as, resolved from /etc/passwd inside the root.
struct Caller {
  UserInfo user;
  // envd runs as root: it switches to `user` for processes and chowns what it creates to them. Otherwise
  // (tests on the host, unprivileged sandboxes) everything runs and is created as envd's own identity.
  bool switch_identity = false;
};

// Resolves `username` (or config.default_user when empty/absent) through <root>/etc/passwd.
// Unknown user -> InvalidArgument ("invalid username: 'x'"). When envd is not root, a user whose uid is not
// envd's own -> PermissionDenied.
Result<Caller> ResolveCaller(const RootFs& root, const EnvdConfig& config,
                             const std::optional<std::string>& username);

}  // namespace kiln::envd
