#include "kiln/envd/reaper.h"

#include <sys/wait.h>

#include <cerrno>
#include <chrono>

namespace kiln::envd {

bool ReapChildren(bool block, const ExitHandler& on_exit) {
  int flags = block ? 0 : WNOHANG;
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, flags);
    if (pid > 0) {
      on_exit(pid, status);
      flags = WNOHANG;  // after the first (blocking) one, collect whatever else is ready
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    return !(pid < 0 && errno == ECHILD);
  }
}

Reaper::Reaper(ExitHandler on_exit) : on_exit_(std::move(on_exit)), thread_([this] { Run(); }) {}

Reaper::~Reaper() {
  thread_.detach();
}

void Reaper::ChildAdded() {
  std::lock_guard<std::mutex> lock(mu_);
  child_added_ = true;
  cv_.notify_all();
}

void Reaper::Run() {
  for (;;) {
    if (ReapChildren(/*block=*/true, on_exit_)) continue;
    // No children: wait for a spawn. The timeout covers children that appear without ChildAdded().
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return child_added_; });
    child_added_ = false;
  }
}

}  // namespace kiln::envd
