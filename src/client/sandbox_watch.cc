#include "kiln/client/sandbox_watch.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "kiln/base/clock.h"

namespace kiln::client {
namespace {

// The runtime reaps a dead sandbox within about a second of its lifetime's end: a death that close to the
// end is the lifetime's doing.
constexpr int64_t kLifetimeSlackMs = 1500;

int64_t ReadOomKills(const std::string& path) {
  if (path.empty()) return 0;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return OomKillsIn(text.str());
}

}  // namespace

int64_t OomKillsIn(const std::string& memory_events) {
  std::istringstream in(memory_events);
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

std::string SandboxDeathCause(const WatchedSandbox& sandbox, int64_t oom_kills, int64_t now_ms) {
  if (oom_kills > 0) {
    std::string limit = sandbox.memory_limit_bytes > 0
                            ? " of " + std::to_string(sandbox.memory_limit_bytes >> 20) + " MB"
                            : "";
    return "out of memory (the sandbox's limit" + limit + " was reached and the kernel killed its processes)";
  }
  if (sandbox.end_at_ms > 0 && now_ms + kLifetimeSlackMs >= sandbox.end_at_ms) return "its lifetime ended";
  return "its first process (kiln-envd) exited or was killed";
}

SandboxWatch::SandboxWatch(WatchedSandbox sandbox, std::function<void(const std::string&)> on_death,
                           int interval_ms)
    : sandbox_(std::move(sandbox)), on_death_(std::move(on_death)) {
  thread_ = std::thread([this, interval_ms] { Loop(interval_ms); });
}

SandboxWatch::~SandboxWatch() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<std::string> SandboxWatch::WaitForDeath(int64_t timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return cause_.has_value(); });
  return cause_;
}

void SandboxWatch::Loop(int interval_ms) {
  int64_t oom_kills = 0;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // Read while the cgroup still exists: it is removed as soon as the sandbox is reaped.
    oom_kills = std::max(oom_kills, ReadOomKills(sandbox_.memory_events_path));
    const bool alive = sandbox_.alive();
    lock.lock();
    if (!alive) {
      cause_ = SandboxDeathCause(sandbox_, oom_kills, WallNanos() / 1'000'000);
      cv_.notify_all();
      const std::string cause = *cause_;
      lock.unlock();
      if (on_death_) on_death_(cause);
      return;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [&] { return stopping_; });
  }
}

}  // namespace kiln::client
