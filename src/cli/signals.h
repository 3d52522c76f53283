// Commands that own sandboxes take them down when they are told to stop: SIGINT, SIGTERM and SIGHUP (a
// closed terminal) run the command's cleanup (kill its sandboxes, restore the terminal) and exit with
// 128+signal. SIGKILL cannot be caught: there the sandboxes die with their owner (die_with_owner).
#pragma once

#include <functional>
#include <string_view>

namespace kiln::cli {

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in every thread it starts afterwards,
// and starts (once per process) a thread that waits for them. Call from the main thread before the command
// creates threads of its own (the runtime's reaper, watches). `cleanup` replaces any earlier one; it runs
// on the signal thread, once, while the rest of the process may still run.
void ExitCleanlyOnSignals(std::function<void()> cleanup);

// While `handler` is set (non-empty), SIGINT calls it on the signal thread instead of stopping the process
// when it returns true (kiln chat: Ctrl-C stops the current answer, not the session); returning false stops
// as usual. SIGTERM and SIGHUP always stop. Requires ExitCleanlyOnSignals to have been called.
void SetInterruptHandler(std::function<bool()> handler);

// True for the commands whose sandboxes are one-shot runs (runtime::Run), which main() stops with
// runtime::StopAllRuns: run, agent, bench, test.
bool OwnsOneShotSandboxes(std::string_view command);

// Returns at once unless a stop signal's cleanup is running; then it waits for it, and the process ends with
// 128+signal. main() calls it last, so that a command its cleanup cut short cannot exit with its own code
// first.
void AwaitStopInProgress();

// While it lives, a stop signal runs `cleanup`; once it is gone, `after` (which may be empty). Declare it
// after the objects `cleanup` uses, so that it goes first and no signal reaches them half destroyed. If a
// cleanup is already running, the destructor waits for it (it ends the process).
class ScopedSignalCleanup {
 public:
  ScopedSignalCleanup(std::function<void()> cleanup, std::function<void()> after) : after_(std::move(after)) {
    ExitCleanlyOnSignals(std::move(cleanup));
  }
  ~ScopedSignalCleanup() { ExitCleanlyOnSignals(std::move(after_)); }
  ScopedSignalCleanup(const ScopedSignalCleanup&) = delete;
  ScopedSignalCleanup& operator=(const ScopedSignalCleanup&) = delete;

 private:
  std::function<void()> after_;
};

}  // namespace kiln::cli
