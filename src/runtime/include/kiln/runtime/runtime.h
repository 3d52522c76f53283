// Runtime: the lifecycle of many long-lived sandboxes, each running kiln-envd as PID 1 and reachable on a
// unix socket on the host.
//
// Create() returns once init has been exec'd; the socket already listens, so requests made right away wait
// in its backlog until envd accepts them. A sandbox dies when Kill() is called, when its lifetime
// (spec.limits.timeout_ms, 0 = none) ends, or when the Runtime is destroyed. A killed sandbox leaves no
// process, mount, cgroup, socket or directory behind.
//
// A process that dies without destroying its Runtime (SIGKILL) leaves its sandboxes running: envd keeps
// serving its socket, reparented to the host's init (or the nearest subreaper, which reaps it when it ends).
// A later Runtime takes them over with Adopt(), or removes them with Reclaim().
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
  // Who envd's processes and file calls act as when a request names no user ("user" or "root"): a
  // template's USER.
  std::string default_user = sandbox::kSandboxUser;
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
  bool paused = false;        // frozen by SetPaused
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
  // Freezes (true) or thaws every process of the sandbox; they keep their memory. NotFound for an unknown
  // id; Unimplemented on a host without a cgroup freezer. The lifetime keeps counting while paused.
  Status SetPaused(const std::string& id, bool paused);
  // Takes charge of a sandbox a previous process launched and left running (`info` as it reported it:
  // id, socket_path, access_token, started_at_ms, end_at_ms); the lifetime is enforced from now on, and
  // the pause state is the kernel's. NotFound when the sandbox is no longer running (what was left of it
  // is removed) or its socket is gone; AlreadyExists when this runtime already has the id.
  Result<SandboxInfo> Adopt(const SandboxInfo& info);
  // Kills and removes whatever is left of sandbox `id` that this runtime does not own (processes, cgroup,
  // and the socket: `socket_path`, or this runtime's path for the id when empty). OK when nothing was.
  Status Reclaim(const std::string& id, const std::string& socket_path = "");
  // The sandbox's resource use now, and its CPU time since the previous Sample (since it started, or was
  // adopted, for the first) as a share of one CPU (1.0 = one CPU busy). NotFound for an unknown id.
  struct UsageSample {
    sandbox::Usage usage;
    int64_t at_ms = 0;  // wall clock
    double cpu_share = 0;
  };
  Result<UsageSample> Sample(const std::string& id);
  const sandbox::Capabilities& capabilities() const { return backend_->capabilities(); }

 private:
  struct Entry {
    SandboxInfo info;
    std::unique_ptr<sandbox::Sandbox> sandbox;
    int64_t sampled_at_ms = 0, sampled_cpu_ns = 0;  // the previous Sample, for the CPU share since then
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
