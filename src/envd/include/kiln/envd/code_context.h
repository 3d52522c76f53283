// A code-interpreter context: one persistent language process (python, javascript, bash, or
// kiln-kernel-bridge driving a Jupyter kernel, which speaks this same channel) inside the
// sandbox, started through ProcessTable (so envd's one spawn function and reaper) as the sandbox user, and
// driven over a PRIVATE channel of two pipes placed at fds 3 (requests, envd -> runner) and 4 (events,
// runner -> envd). Frames are a 4-byte big-endian length + UTF-8 JSON (bash gets "<token> <len>\n<code>"
// requests instead, since bash cannot parse JSON). Events are the NDJSON items of /execute (stdout,
// stderr, result, error) plus {"type":"done"} closing a cell; an event frame may instead be raw output,
// a byte 0x01 (stdout) or 0x02 (stderr) followed by the text, which spares both sides a JSON round trip.
// Consecutive output frames that envd reads together become one item. fds 1/2 of the runner are
// ProcessTable's output pipes: output written there directly (subprocesses, bash) is forwarded as
// stdout/stderr items; at the end of a cell the runner writes "\x1eKILN:<token>\x1e" to both so envd knows it
// has it all.
//
// Thread-safety: Execute, Restart and Stop may be called from any thread; executions of one context are
// serialised (a second Execute waits for the running one).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/envd/json_util.h"
#include "kiln/envd/process.h"

namespace kiln::envd {

// Where /execute items go. Send returns an error once the client is gone.
class CodeItemSink {
 public:
  virtual ~CodeItemSink() = default;
  virtual Status Send(const Json& item) = 0;
  // Sends {"type": type, "text": text, "timestamp": timestamp}. `text` may hold any bytes: invalid UTF-8
  // is replaced. The default builds a Json for Send; a serialising sink overrides it to skip that copy.
  virtual Status SendOutput(std::string_view type, std::string_view text, std::string_view timestamp);
  virtual bool ClientGone() = 0;
};

// How to start a runner process: everything but the language-specific program.
struct RunnerLaunch {
  ProcessTable* table = nullptr;
  std::vector<std::string> env;  // KEY=VALUE (BuildEnv of the user, global vars)
  std::optional<SpawnIdentity> identity;
  std::function<Result<UniqueFd>(const std::string& cwd)> open_cwd;  // O_PATH dir fd inside the root
  // kiln-kernel-bridge (a path inside the root): the runner of every language but python, javascript,
  // typescript and bash, which drives that language's Jupyter kernel over this same channel.
  std::string kernel_bridge;
};

struct CodeLimits {
  size_t max_output_bytes = 10u << 20;  // stdout+stderr per execution; the rest is dropped with a notice
  int keepalive_ms = 5'000;             // a keepalive item after this long without any item
  int interrupt_grace_ms = 3'000;       // after SIGINT, SIGKILL (context restarts) if the cell goes on
};

struct CodeExecuteRequest {
  std::string code;
  std::vector<std::pair<std::string, std::string>> env_vars;
  int64_t timeout_ms = 0;  // 0: none
};

class CodeContext {
 public:
  CodeContext(std::string id, std::string language, std::string cwd, RunnerLaunch launch, CodeLimits limits);
  ~CodeContext();  // Stop()

  const std::string& id() const { return id_; }
  const std::string& language() const { return language_; }
  const std::string& cwd() const { return cwd_; }

  // Starts the process if it is not running. Errors: spawn failures (NotFound for a missing interpreter).
  Status EnsureStarted();
  // Runs one cell, sending number_of_executions, output, results and errors to `sink` (but not
  // end_of_execution: the caller does). A dead process yields an `error` item named ContextDied and is
  // restarted by the next Execute. Fails only if the process cannot be started.
  Status Execute(const CodeExecuteRequest& request, CodeItemSink& sink);
  // Kills the process and starts a fresh one (state and counter reset). Waits for a running cell.
  Status Restart();
  // Kills the process (SIGKILL to its group). Idempotent.
  void Stop();

 private:
  struct Runner;
  struct Cell;
  Status StartLocked();
  void StopLocked();
  Status RunCell(const CodeExecuteRequest& request, CodeItemSink& sink);
  void TakeRaw(Runner& r, Cell& cell, std::chrono::steady_clock::time_point deadline);
  void SuperviseCell(Runner& r, Cell& cell, const CodeExecuteRequest& request,
                     std::chrono::steady_clock::time_point start);
  std::string EncodeRequest(const CodeExecuteRequest& request, const std::string& token) const;

  const std::string id_, language_, cwd_;
  const RunnerLaunch launch_;
  const CodeLimits limits_;
  std::mutex mu_;  // held for a whole cell
  std::unique_ptr<Runner> runner_;
  int64_t executions_ = 0;
};

// The runner sources embedded at build time (src/envd/runner/*).
extern const char* const kPythonRunnerSource;
extern const char* const kPythonChartsSource;  // python_charts.py: the runner's argv[1], compiled on use
extern const char* const kJavascriptRunnerSource;
extern const char* const kBashRunnerSource;

}  // namespace kiln::envd
