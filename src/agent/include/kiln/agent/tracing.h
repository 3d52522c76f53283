// Tracing for the coding agent: OpenTelemetry spans (GenAI semantic conventions, see src/trace/README.md)
// from the AgentObserver callbacks.
//
//   invoke_agent kiln-coder                 one per RunAgent (gen_ai.agent.name, model, success, totals);
//   │                                       one event "kiln.attempt" per attempt with its verdict
//   ├─ chat {model}                         one per model call (usage, finish reasons, cost, error.type)
//   ├─ execute_tool run_code                one per sandbox execution (sandbox id, exit code, timeout, OOM)
//   ├─ chat {model}
//   └─ ...
//
// Prompts, replies, code and program output are recorded only when the provider captures content
// (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true).
//
//   trace::Tracer tracer = trace::GlobalTracer();
//   if (tracer.enabled()) { TracingObserver t(tracer, TracingInfoFor(provider)); RunAgent(..., &t); }
//
// Threading: an observer belongs to one run on one thread (RunAgent calls it on the calling thread); use one
// per concurrent run. TraceSession is for a process's command body (it swaps the global provider).
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "kiln/agent/agent.h"
#include "kiln/llm/provider.h"
#include "kiln/trace/provider.h"
#include "kiln/trace/span.h"

namespace kiln::agent {

inline constexpr char kAgentName[] = "kiln-coder";
inline constexpr char kRunCodeTool[] = "run_code";

struct TracingInfo {
  std::string agent_name = kAgentName;  // gen_ai.agent.name; span "invoke_agent {agent_name}"
  std::string provider_name;            // gen_ai.provider.name (the llm::Provider's)
  std::string request_model;            // gen_ai.request.model; chat span name "chat {request_model}"
};
// The provider's names (provider_name, request_model) with the default agent name.
TracingInfo TracingInfoFor(const llm::Provider& provider);

// Turns one agent run's callbacks into spans on `tracer`. The invoke_agent span is a child of the thread's
// current span (if any) and is made current for the run, so spans started inside the loop nest under it.
// With a disabled tracer every callback is a no-op (but callers should not even create one then).
class TracingObserver : public AgentObserver {
 public:
  explicit TracingObserver(trace::Tracer tracer = trace::GlobalTracer(), TracingInfo info = {});
  ~TracingObserver() override;
  TracingObserver(const TracingObserver&) = delete;
  TracingObserver& operator=(const TracingObserver&) = delete;

  void OnRunStart(const Task& task, const AgentOptions& options, std::string_view model) override;
  void OnModelCallStart(int attempt, const llm::ChatRequest& request) override;
  void OnModelCallEnd(int attempt, const Result<llm::ChatResponse>& response,
                      const llm::CallInfo& info) override;
  void OnExecutionStart(int attempt, const ExecRequest& request) override;
  void OnExecutionEnd(int attempt, const Result<Execution>& execution) override;
  void OnAttemptEnd(const Attempt& attempt) override;
  void OnRunEnd(const Result<AgentResult>& result) override;

 private:
  trace::Tracer tracer_;
  TracingInfo info_;
  const llm::PriceTable* prices_ = nullptr;
  trace::Span run_;
  std::optional<trace::ScopedContext> current_;  // run_ is the thread's current context during the run
  trace::Span chat_;
  trace::Span exec_;
};

// Forwards every callback to each observer in order (nulls are skipped). Not owning.
class ObserverList : public AgentObserver {
 public:
  explicit ObserverList(std::vector<AgentObserver*> observers);
  void OnRunStart(const Task& task, const AgentOptions& options, std::string_view model) override;
  void OnAttemptStart(int attempt, int max_attempts) override;
  void OnModelCallStart(int attempt, const llm::ChatRequest& request) override;
  void OnModelCallEnd(int attempt, const Result<llm::ChatResponse>& response,
                      const llm::CallInfo& info) override;
  void OnExecutionStart(int attempt, const ExecRequest& request) override;
  void OnExecutionEnd(int attempt, const Result<Execution>& execution) override;
  void OnAttemptEnd(const Attempt& attempt) override;
  void OnRunEnd(const Result<AgentResult>& result) override;

 private:
  std::vector<AgentObserver*> observers_;
};

// Tracing for one CLI command: installs a global provider from the OTEL_* environment (through `env`; null:
// getenv), adding the console exporter (writing to `console`) when `force_console` (kiln agent --trace).
// If a provider is already installed and enabled (an embedder did it) and nothing is forced, that one is
// used and left alone. On destruction the installed provider is flushed and shut down within
// `shutdown_timeout` and the previous one restored. A malformed configuration is reported on `err` as a
// warning and tracing stays off (only the console exporter is installed when forced): tracing never fails a
// command.
class TraceSession {
 public:
  TraceSession(const llm::EnvLookup& env, bool force_console, FILE* console, std::ostream& err,
               std::chrono::milliseconds shutdown_timeout = std::chrono::milliseconds(5000));
  ~TraceSession();
  TraceSession(const TraceSession&) = delete;
  TraceSession& operator=(const TraceSession&) = delete;

  // True when spans are recorded (the global tracer is enabled).
  bool enabled() const { return trace::GlobalTracer().enabled(); }

 private:
  std::shared_ptr<trace::Provider> previous_;  // set when this session installed its own provider
  bool installed_ = false;
  std::chrono::milliseconds shutdown_timeout_;
};

}  // namespace kiln::agent
