// Reaping children: as PID 1 (or a child subreaper) envd inherits every orphan in the sandbox and must
// wait for all of them. ReapChildren is the only caller of waitpid(-1) in envd: serve mode runs it on the
// Reaper thread, exec mode from its signalfd loop.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace kiln::envd {

// Called with each reaped pid and its wait status (see waitpid(2)).
using ExitHandler = std::function<void(pid_t pid, int wait_status)>;

// Reaps exited children, calling `on_exit` for each. With `block`, waits for at least one child to exit.
// Returns false when envd has no children at all (ECHILD), true otherwise.
bool ReapChildren(bool block, const ExitHandler& on_exit);

// A background thread that reaps forever. When envd has no children it sleeps until ChildAdded() (or a
// short timeout, as a safety net) instead of spinning. Thread-safe. Create one per process and keep it
// until the process exits (envd leaks it on purpose): the thread cannot be stopped.
class Reaper {
 public:
  explicit Reaper(ExitHandler on_exit);
  // Detaches the thread; only valid at process exit (waitpid cannot be interrupted cleanly).
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Tells an idle reaper that a child may now exist.
  void ChildAdded();

 private:
  void Run();
  ExitHandler on_exit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool child_added_ = false;
  std::thread thread_;
};

}  // namespace kiln::envd
