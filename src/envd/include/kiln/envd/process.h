// A process envd started for a user, its output fan-out, and the process table.
//
// Output buffering (the choice for slow consumers): each stream reading a process (a Start or Connect
// call) has its own Subscription queue bounded to EnvdConfig::max_buffered_output_bytes. The pipe reader
// never waits for a stream: when a queue is full the OLDEST output chunks in it are dropped (start and end
// events never are), so a stalled client loses old output but never blocks the process. Output produced
// while no stream is attached is discarded (E2B's Connect replays nothing either).
//
// Thread-safety: all classes here are thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/envd/pty.h"
#include "kiln/envd/spawn.h"

namespace kiln::envd {

class Reaper;

// Tag prefix of the code interpreter's context runners (code_context.h): hidden from process List.
inline constexpr char kCodeContextTagPrefix[] = "kiln-code-context:";

struct ProcessConfig {
  std::string cmd;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> envs;
  std::optional<std::string> cwd;
};

// How a process ended, shaped like E2B's end event (Go's ProcessState.String()).
struct ExitInfo {
  int exit_code = 0;                 // -1 when killed by a signal
  bool exited = true;                // false when killed by a signal
  std::string status;                // "exit status 1", "signal: killed"
  std::optional<std::string> error;  // = status unless the exit code is 0
};
ExitInfo ExitInfoFromWaitStatus(int wait_status);

struct ProcessEvent {
  enum class Kind { kStart, kStdout, kStderr, kPty, kEnd };
  Kind kind = Kind::kStart;
  uint32_t pid = 0;
  std::string data;  // kStdout/kStderr/kPty
  ExitInfo exit;     // kEnd
};

// One stream's queue of events from one process. Always starts with kStart; the last event is kEnd.
class Subscription {
 public:
  explicit Subscription(size_t max_buffered_bytes) : max_bytes_(max_buffered_bytes) {}
  // Removes and returns every queued event, waiting until there is one or `deadline` passes.
  std::vector<ProcessEvent> Take(std::chrono::steady_clock::time_point deadline);
  // Queues an event, dropping the oldest output chunks if the queue would exceed its bound.
  void Push(ProcessEvent event);
  uint64_t dropped_bytes() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ProcessEvent> queue_;
  size_t bytes_ = 0;
  const size_t max_bytes_;
  uint64_t dropped_ = 0;
};

class Process {
 public:
  Process(pid_t pid, ProcessConfig config, std::optional<std::string> tag, size_t max_buffered_bytes);

  pid_t pid() const { return pid_; }
  const ProcessConfig& config() const { return config_; }
  const std::optional<std::string>& tag() const { return tag_; }
  // True until the process has been reaped.
  bool running() const;
  // The raw wait(2) status once reaped (for callers that need the signal number, e.g. sudo).
  std::optional<int> wait_status() const;

  // A new subscription: kStart first, then output from now on; if the process already ended, kEnd at once.
  std::shared_ptr<Subscription> Subscribe();
  void Unsubscribe(const std::shared_ptr<Subscription>& sub);

  // Writes all of `data` to the stdin pipe. FailedPrecondition if stdin is not a pipe or was closed;
  // DeadlineExceeded if the process does not read it within 10 s.
  Status WriteStdin(std::string_view data);
  // Closes the stdin pipe (the process sees EOF). Idempotent.
  Status CloseStdin();
  // True for a process started on a terminal (ProcessTable::StartPty).
  bool is_pty() const;
  // Writes all of `data` to the terminal (what a user types). FailedPrecondition for a non-PTY process;
  // DeadlineExceeded if the terminal's input queue stays full for 10 s.
  Status WritePty(std::string_view data);
  // Sets the terminal's window size (SIGWINCH to its foreground group). FailedPrecondition for a non-PTY
  // process.
  Status ResizePty(PtySize size);
  // Signals the whole process group (the process leads it: spawn calls setsid). A process already
  // reaped is not signalled (its pid may have been reused); that is not an error.
  Status Signal(int signal);

 private:
  friend class ProcessTable;
  void Broadcast(const ProcessEvent& event);
  Status WriteAll(int fd, std::string_view data, const char* what);
  // The reader thread. `before_end` runs before the end event goes out, so that a client that saw the end
  // finds the process gone from the table (SendSignal, SendInput: NotFound).
  void PumpOutput(UniqueFd out, UniqueFd err, const std::function<void()>& before_end);
  void NoteExit(int wait_status);  // from the reaper

  const pid_t pid_;
  const ProcessConfig config_;
  const std::optional<std::string> tag_;
  const size_t max_buffered_bytes_;
  UniqueFd exit_event_;  // eventfd: the reaper tells the reader thread the process is gone

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subscribers_;
  std::optional<int> wait_status_;  // set when reaped
  std::optional<ExitInfo> end_;     // set once output is drained and kEnd was sent
  mutable std::mutex stdin_mu_;     // guards stdin_ and pty_
  UniqueFd stdin_;
  UniqueFd pty_;  // the terminal's master end (a dup of the one the reader thread reads), set before start
};

// Every process envd started and still tracks (until its end event was sent).
class ProcessTable {
 public:
  explicit ProcessTable(size_t max_buffered_bytes) : max_buffered_bytes_(max_buffered_bytes) {}
  // Tells `reaper` about new children; call before Start. May stay null in tests.
  void set_reaper(Reaper* reaper) { reaper_ = reaper; }

  struct Started {
    std::shared_ptr<Process> process;
    std::shared_ptr<Subscription> subscription;  // made before any output, for the starting stream
  };
  // Spawns `spec` with stdout/stderr pipes and stdin a pipe (`stdin_pipe`) or /dev/null. spec's stdio fds
  // are overwritten. Errors: spawn failures from AwaitExec (NotFound for a missing program, ...).
  Result<Started> Start(SpawnSpec spec, ProcessConfig config, std::optional<std::string> tag,
                        bool stdin_pipe);
  // Spawns `spec` on a new terminal of `size` (its stdin, stdout, stderr and controlling terminal); its
  // output comes as kPty events. `owner` becomes the terminal's owner. Errors: as Start, and the
  // terminal's allocation (no /dev/ptmx).
  Result<Started> StartPty(SpawnSpec spec, ProcessConfig config, std::optional<std::string> tag, PtySize size,
                           std::optional<uid_t> owner);
  // Spawns `spec` on the stdin/stdout/stderr it names (a caller's own, e.g. sudo's): envd reads none of its
  // output, so its subscription only ever carries the start and end events; SendInput, CloseStdin and
  // Update fail with FailedPrecondition. Errors: as Start.
  Result<Started> StartAttached(SpawnSpec spec, ProcessConfig config, std::optional<std::string> tag);

  std::shared_ptr<Process> Find(uint32_t pid) const;
  std::shared_ptr<Process> FindTag(const std::string& tag) const;
  // Processes not yet reaped, by pid.
  std::vector<std::shared_ptr<Process>> Running() const;

  // The reaper's handler: routes the status of a process started here, discards any other (orphans).
  void OnExit(pid_t pid, int wait_status);

 private:
  // What the new process is connected to: envd's ends, and the child's ends to close once it runs.
  struct Wiring {
    UniqueFd out, err, stdin_write, pty_master;
    std::vector<UniqueFd> child_ends;
  };
  Result<Started> Launch(SpawnSpec& spec, ProcessConfig config, std::optional<std::string> tag, Wiring io);
  void Remove(pid_t pid, const Process* expected);
  const size_t max_buffered_bytes_;
  Reaper* reaper_ = nullptr;
  mutable std::mutex mu_;
  std::map<pid_t, std::shared_ptr<Process>> processes_;
};

}  // namespace kiln::envd
