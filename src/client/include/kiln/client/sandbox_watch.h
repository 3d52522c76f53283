// SandboxWatch: the host-side watch a command keeps on the sandbox it owns (`kiln repl`, `kiln notebook
// run`), so that the sandbox's death is reported the moment it happens, with its cause when that can be
// known, instead of surfacing later as a bare connection error (or not at all while the command waits for
// its user).
//
// Thread-safe. The callback runs on the watch's own thread, once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace kiln::client {

struct WatchedSandbox {
  std::function<bool()> alive;  // false once the sandbox is gone (e.g. its runtime no longer lists it)
  // The sandbox cgroup's memory.events (cgroup v2); its oom_kill count tells an out-of-memory death. Empty
  // when unknown.
  std::string memory_events_path;
  int64_t end_at_ms = 0;           // wall clock at which its lifetime ends; 0 = none
  int64_t memory_limit_bytes = 0;  // for the message; 0 = unknown
};

// The watch target for sandbox `id` of a runtime::Runtime (a template, so that kiln_client does not depend on
// the runtime): alive while the runtime lists it; on cgroup v2, its memory.events for the OOM cause.
template <typename Runtime>
WatchedSandbox WatchedRuntimeSandbox(Runtime* runtime, const std::string& id, int64_t end_at_ms,
                                     int64_t memory_limit_bytes) {
  WatchedSandbox w;
  w.alive = [runtime, id] { return runtime->Get(id).ok(); };
  const auto& caps = runtime->capabilities();
  if (caps.cgroup_mode == "v2" && caps.memory_limit) {
    w.memory_events_path = caps.cgroup_root + "/" + id + "/memory.events";
    w.memory_limit_bytes = memory_limit_bytes;
  }
  w.end_at_ms = end_at_ms;
  return w;
}

// Why a sandbox died, in words, from what was observed: the cgroup's oom_kill count while it lived, and
// whether its lifetime had run out (`now_ms`, wall clock).
std::string SandboxDeathCause(const WatchedSandbox& sandbox, int64_t oom_kills, int64_t now_ms);
// The oom_kill count in a memory.events file's text; 0 when absent.
int64_t OomKillsIn(const std::string& memory_events);

class SandboxWatch {
 public:
  SandboxWatch(WatchedSandbox sandbox, std::function<void(const std::string& cause)> on_death,
               int interval_ms = 100);
  ~SandboxWatch();  // stops watching (the callback does not run after this returns)
  SandboxWatch(const SandboxWatch&) = delete;
  SandboxWatch& operator=(const SandboxWatch&) = delete;

  // Waits up to `timeout_ms` for the sandbox to be seen dead; its cause, or nullopt while it lives.
  std::optional<std::string> WaitForDeath(int64_t timeout_ms);

 private:
  void Loop(int interval_ms);

  WatchedSandbox sandbox_;
  std::function<void(const std::string&)> on_death_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::optional<std::string> cause_;
  std::thread thread_;
};

}  // namespace kiln::client
