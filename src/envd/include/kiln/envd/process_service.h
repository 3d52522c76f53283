// The process service (E2B `process.Process`), transport-independent: unary methods take the parsed JSON
// request and return the JSON response; streaming methods push messages into an EventSink and return the
// Status that ends the stream (OK or a Connect error). Thread-safe.
//
// Stream semantics (Start, Connect): the first message is {"event":{"start":{"pid":N}}}, then
// {"event":{"data":{"stdout"|"stderr":"<base64>"}}} in order, {"event":{"keepalive":{}}} after
// `keepalive_seconds` of silence, and exactly one {"event":{"end":{exitCode,exited,status,error?}}}.
// A client that goes away only detaches: the process keeps running. A Start deadline kills the process
// group (SIGKILL), forwards its end event and ends the stream with DeadlineExceeded; a Connect deadline
// only ends that stream.
//
// PTYs: Start with `pty:{size:{cols,rows}}` runs the command on a new terminal (its controlling terminal,
// stdin, stdout and stderr); its output comes as {"event":{"data":{"pty":"<base64>"}}}, input goes through
// SendInput's `pty` field and resizes through Update. A size outside 1..kMaxPtyDimension is InvalidArgument.
//
// Not implemented yet (Unimplemented): StreamInput.
#pragma once

#include <cstdint>
#include <optional>

#include "kiln/base/status.h"
#include "kiln/envd/config.h"
#include "kiln/envd/json_util.h"
#include "kiln/envd/paths.h"
#include "kiln/envd/process.h"

namespace kiln::envd {

// Where a streaming method writes its messages.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Sends one message now. A non-OK status means the client is gone.
  virtual Status Send(const Json& message) = 0;
  // Non-blocking: true once the client has disconnected (checked while the stream is idle).
  virtual bool ClientGone() = 0;
};

struct StreamOptions {
  std::optional<int64_t> timeout_ms;  // Connect-Timeout-Ms
  int keepalive_seconds = 50;         // Keepalive-Ping-Interval
};

class ProcessService {
 public:
  // `root`, `config` and `table` must outlive the service.
  ProcessService(const RootFs* root, const EnvdConfig* config, ProcessTable* table)
      : root_(root), config_(config), table_(table) {}

  // {process:{cmd,args,envs,cwd?}, tag?, stdin?, pty?}. Nonexistent cwd -> InvalidArgument; a program that
  // cannot be executed -> the spawn error (NotFound, PermissionDenied), before any message is sent.
  Status Start(const Json& request, const Caller& caller, const StreamOptions& options, EventSink& sink);
  // {process:{pid}|{tag}}: start event, then output from now on, then end. Unknown -> NotFound.
  Status Connect(const Json& request, const StreamOptions& options, EventSink& sink);

  Result<Json> List(const Json& request);
  // {process:{pid|tag}, input:{stdin:"<b64>"}|{pty:"<b64>"}}; empty input is accepted. Input of the other
  // kind than the process has (pty to a piped process, stdin to a terminal) -> FailedPrecondition.
  Result<Json> SendInput(const Json& request);
  Result<Json> CloseStdin(const Json& request);
  // {process:{pid|tag}, signal:"SIGNAL_SIGKILL"|"SIGNAL_SIGTERM"|number}. Unknown process -> NotFound.
  Result<Json> SendSignal(const Json& request);
  // {process, pty?:{size:{cols,rows}}}: resizes a PTY process's terminal. NotFound for an unknown process,
  // FailedPrecondition for one without a terminal, InvalidArgument for a bad size; no `pty` changes nothing.
  Result<Json> Update(const Json& request);

 private:
  Result<std::shared_ptr<Process>> Select(const Json& request) const;
  Status Pump(Process& process, const std::shared_ptr<Subscription>& sub, bool kill_on_deadline,
              const StreamOptions& options, EventSink& sink);
  const RootFs* root_;
  const EnvdConfig* config_;
  ProcessTable* table_;
};

// The JSON message for one stream event.
Json ProcessEventJson(const ProcessEvent& event);

}  // namespace kiln::envd
