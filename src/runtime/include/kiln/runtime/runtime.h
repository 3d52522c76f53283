// Runtime: the lifecycle of many long-lived sandboxes, each running kiln-envd as PID 1 and reachable on a
// unix socket on the host.
//
// Create() returns once init has been exec'd; the socket already listens, so requests made right away wait
// in its backlog until envd accepts them. A sandbox dies when Kill() is called, when its lifetime
// (spec.limits.timeout_ms, 0 = none) ends, or when the Runtime is destroyed. A killed sandbox leaves no
// process, mount, cgroup, socket or directory behind.
//
// Thread-safe: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::runtime {

struct CreateOptions {
  sandbox::SandboxSpec spec;
  // Global environment variables of every process started through envd (E2B's envVars).
  std::map<std::string, std::string> env_vars;
  // Required as X-Access-Token by envd for everything but /health and /files; empty: no token.
  std::string access_token;
  std::string id;  // a random one when empty
  // Start the default Python code context with envd instead of on its first execute (warm pools).
  bool preload_python = false;
  // The sandbox is killed by the kernel when the thread that creates it exits (PR_SET_PDEATHSIG): for
  // commands whose sandbox must not outlive them even on SIGKILL (kiln repl, notebook run). Not for
  // sandboxes created on threads that end before the sandbox should (a pool's refill threads).
  bool die_with_owner = false;
};

struct SandboxInfo {
  std::string id;
  std::string socket_path;  // envd's HTTP endpoint on the host
  std::string access_token;
  int64_t started_at_ms = 0;  // wall clock
  int64_t end_at_ms = 0;      // wall clock when it will be killed; 0 = never
};

// Where sandbox sockets go by default: /run/kiln/sockets as root, else $XDG_RUNTIME_DIR/kiln/sockets or
// /tmp/kiln-<uid>/sockets.
std::string DefaultSocketDir();

class Runtime {
 public:
  // `socket_dir` empty: DefaultSocketDir().
  static Result<std::unique_ptr<Runtime>> Create(std::string socket_dir = "");
  ~Runtime();  // kills every sandbox it still owns

  Result<SandboxInfo> CreateSandbox(const CreateOptions& options);
  // NotFound for an unknown or already killed id.
  Status Kill(const std::string& id);
  Result<SandboxInfo> Get(const std::string& id) const;
  std::vector<SandboxInfo> List() const;
  // Sets the sandbox to die `ttl_ms` from now (0: never).
  Status SetTimeout(const std::string& id, int64_t ttl_ms);
  const sandbox::Capabilities& capabilities() const { return backend_->capabilities(); }

 private:
  struct Entry {
    SandboxInfo info;
    std::unique_ptr<sandbox::Sandbox> sandbox;
  };
  Runtime(sandbox::Backend* backend, std::string socket_dir);
  void ReapLoop();
  static Status Destroy(Entry& entry);

  sandbox::Backend* backend_;
  std::string socket_dir_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, std::unique_ptr<Entry>> sandboxes_;
  std::thread reaper_;
};

}  // namespace kiln::runtime
