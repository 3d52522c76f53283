// The coding agent: ask a model for a Python program, run it, judge it, feed failures back, retry.
//
//   messages = [user: task]
//   for attempt in 1..max_attempts:
//     reply   = model(system prompt, messages)            -> Observer::OnModelCall{Start,End}
//     code    = ExtractCode(reply)  (no code: failed attempt "no_code")
//     program = AssembleProgram(CompleteFromStub(code), task.tests)
//     result  = executor.Execute(program)  (a fresh sandbox) -> Observer::OnExecution{Start,End}
//     verdict = Judge(result);  passed -> done
//     messages += [assistant: reply, user: BuildFeedback(verdict, result)]
//
// The loop knows nothing of where code runs (agent::Executor) or which model answers (llm::Provider).
// Thread-safety: RunAgent is reentrant. Concurrent runs may share a provider (providers are thread-safe)
// and an executor (Executor implementations must be); the observer is called on the calling thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/agent/code.h"
#include "kiln/agent/executor.h"
#include "kiln/agent/judge.h"
#include "kiln/base/status.h"
#include "kiln/llm/pricing.h"
#include "kiln/llm/provider.h"

namespace kiln::agent {

struct Task {
  std::string prompt;       // the request, sent to the model as the first user message
  std::string tests;        // optional Python run after the code in the same process; failing = attempt fails
  bool show_tests = true;   // include `tests` in the first user message
  std::string stub;         // optional code the answer completes (a function signature and docstring) ...
  std::string entry_point;  // ... when the answer does not define this function (see CompleteFromStub)
  std::string id;           // optional label for logs and reports ("HumanEval/0")
};

struct AgentOptions {
  int max_attempts = 3;         // >= 1
  int64_t timeout_ms = 30'000;  // per execution
  int64_t memory_mb = 512;      // per execution
  std::string system_prompt;    // empty: DefaultSystemPrompt()
  FeedbackLimits feedback;      // bounds of each section of the feedback
  int max_output_tokens = 0;    // 0: the provider's default
  std::optional<double> temperature;
  const llm::PriceTable* prices = nullptr;  // null: llm::PriceTable::Builtin(); not owned
};

// The system prompt asking for one fenced Python block with a complete, non-interactive program.
std::string_view DefaultSystemPrompt();

struct Attempt {
  int number = 0;     // 1-based
  std::string reply;  // the model's whole reply
  std::string code;   // the code that ran (after stub completion, before tests); may be empty
  ExtractedCode::Source code_source = ExtractedCode::Source::kNone;
  std::optional<Execution> execution;  // absent when nothing ran (no code)
  Verdict verdict;
  std::string feedback;  // what the model was told after this attempt ("" if none was sent)
  llm::Usage usage;      // of this attempt's model call
  int64_t model_ms = 0;
  int64_t execution_ms = 0;
};

struct AgentResult {
  Task task;
  std::string model;         // the provider's model string ("openai:gpt-4o", "script:demo.script")
  std::string final_code;    // the passing code on success; else the last code that ran ("" if none did)
  std::string final_stdout;  // stdout of the execution of final_code
  bool success = false;
  int attempts = 0;  // attempts made
  int max_attempts = 0;
  std::vector<Attempt> history;
  llm::Usage usage;  // summed over all model calls
  double cost_usd = 0;
  bool cost_known = false;    // false when the model has no price (cost_usd is then 0)
  int64_t started_at_ns = 0;  // wall clock
  int64_t duration_ms = 0;
  // Review decisions of a reviewed run (coding_workflow.h): [{"at","attempt","action","text"}]; else empty.
  nlohmann::json reviews = nlohmann::json::array();
  const Attempt* last() const { return history.empty() ? nullptr : &history.back(); }
};

// Version 1 of the agent result format: {"version":1,"task":{...},"model","success","attempts",
// "max_attempts","final_code","final_stdout","history":[{"attempt","reply","code","code_source",
// "execution"|null,"verdict":{...},"feedback","usage","model_ms","execution_ms"}],"usage":{...},
// "cost_usd","cost_known","started_at","duration_ms"}.
// "reviews" is present only when non-empty.
nlohmann::json ToJson(const AgentResult& r);
nlohmann::json ToJson(const llm::Usage& u);
nlohmann::json ToJson(const Attempt& a);  // one element of "history"

// Hooks around each step, for progress display and tracing (invoke_agent / chat / execute_tool spans).
// Every ...Start is followed by its ...End, also on error. Default implementations do nothing.
class AgentObserver {
 public:
  virtual ~AgentObserver() = default;
  virtual void OnRunStart(const Task& /*task*/, const AgentOptions& /*options*/, std::string_view /*model*/) {
  }
  virtual void OnAttemptStart(int /*attempt*/, int /*max_attempts*/) {}
  virtual void OnModelCallStart(int /*attempt*/, const llm::ChatRequest& /*request*/) {}
  // `info` holds the call facts (duration, HTTP status, error type) on success and failure.
  virtual void OnModelCallEnd(int /*attempt*/, const Result<llm::ChatResponse>& /*response*/,
                              const llm::CallInfo& /*info*/) {}
  virtual void OnExecutionStart(int /*attempt*/, const ExecRequest& /*request*/) {}
  virtual void OnExecutionEnd(int /*attempt*/, const Result<Execution>& /*execution*/) {}
  virtual void OnAttemptEnd(const Attempt& /*attempt*/) {}
  virtual void OnRunEnd(const Result<AgentResult>& /*result*/) {}
};

// Runs the loop for `task`. Success: the result, whether or not the task was solved (check `success`).
// Failure: Kiln's own errors only: InvalidArgument (empty prompt, max_attempts < 1), the provider's error
// (missing key, network, script exhausted, ...) or the executor's (no sandbox), with the attempt number in
// the message.
Result<AgentResult> RunAgent(llm::Provider& provider, Executor& executor, const Task& task,
                             const AgentOptions& options = {}, AgentObserver* observer = nullptr);

}  // namespace kiln::agent
