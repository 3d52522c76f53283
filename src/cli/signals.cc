#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <mutex>
#include <thread>

namespace kiln::cli {
namespace {

std::mutex cleanup_mu;
std::function<void()>* cleanup_fn = new std::function<void()>();  // never destroyed: exit-time safe

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

std::mutex interrupt_mu;
std::function<bool()>* interrupt_fn = new std::function<bool()>();  // never destroyed: exit-time safe

bool Interrupted() {
  std::lock_guard<std::mutex> lock(interrupt_mu);
  return *interrupt_fn && (*interrupt_fn)();
}

void WaitAndExit(sigset_t set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0 || (sig == SIGINT && Interrupted())) {
  }
  std::lock_guard<std::mutex> lock(cleanup_mu);  // held to the end: a second signal waits here
  if (*cleanup_fn) (*cleanup_fn)();
  _exit(128 + sig);
}

}  // namespace

void AwaitStopInProgress() {
  std::lock_guard<std::mutex> lock(cleanup_mu);
}

bool OwnsOneShotSandboxes(std::string_view command) {
  return command == "run" || command == "agent" || command == "bench" || command == "threads" ||
         command == "test";
}

void ExitCleanlyOnSignals(std::function<void()> cleanup) {
  static std::once_flag started;
  std::call_once(started, [] {
    sigset_t set = StopSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(WaitAndExit, set).detach();
  });
  std::lock_guard<std::mutex> lock(cleanup_mu);
  *cleanup_fn = std::move(cleanup);
}

void SetInterruptHandler(std::function<bool()> handler) {
  std::lock_guard<std::mutex> lock(interrupt_mu);
  *interrupt_fn = std::move(handler);
}

}  // namespace kiln::cli
