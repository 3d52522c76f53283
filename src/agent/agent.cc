#include "kiln/agent/agent.h"

#include <utility>

#include "kiln/base/clock.h"
#include "kiln/base/strings.h"

namespace kiln::agent {
namespace {

constexpr std::string_view kSystemPrompt =
    "You are an expert Python programmer. Write a complete, self-contained Python 3 program that does what "
    "the user asks.\n"
    "Reply with exactly one fenced code block labelled python (```python ... ```) holding the whole program; "
    "do not split it into several blocks. Keep explanations short and outside the block.\n"
    "The program runs non-interactively in an isolated sandbox: stdin is empty, there is no network, and "
    "only "
    "the Python standard library is sure to be installed. Print results to standard output.\n"
    "If your program fails you will be shown the error; then reply with the complete corrected program, "
    "again in one ```python block.";

std::string FirstUserMessage(const Task& task) {
  std::string msg = task.prompt;
  if (task.show_tests && !Trim(task.tests).empty()) {
    msg += "\n\nYour program is checked by these tests, run after your code in the same file:\n```python\n" +
           task.tests + (task.tests.back() == '\n' ? "" : "\n") + "```";
  }
  return msg;
}

llm::Message Msg(llm::Role role, std::string text) {
  llm::Message m;
  m.role = role;
  m.text = std::move(text);
  return m;
}

// One attempt: model call, extraction, execution, verdict. Fills `attempt`; errors are Kiln's own.
class AttemptRunner {
 public:
  AttemptRunner(llm::Provider& provider, Executor& executor, const Task& task, const AgentOptions& options,
                AgentObserver& observer)
      : provider_(provider), executor_(executor), task_(task), options_(options), observer_(observer) {}

  Result<llm::ChatResponse> CallModel(int number, const llm::ChatRequest& request) {
    observer_.OnModelCallStart(number, request);
    llm::CallInfo info;
    Result<llm::ChatResponse> response = provider_.Chat(request, &info);
    observer_.OnModelCallEnd(number, response, info);
    if (!response.ok()) return response.status().WithContext("attempt " + std::to_string(number) + ": model");
    return response;
  }

  Status RunCode(Attempt* attempt) {
    const ExtractedCode extracted = ExtractCode(attempt->reply);
    attempt->code_source = extracted.source;
    if (extracted.source == ExtractedCode::Source::kNone) {
      attempt->verdict = NoCodeVerdict();
      return Status::Ok();
    }
    attempt->code =
        task_.stub.empty() ? extracted.code : CompleteFromStub(extracted.code, task_.stub, task_.entry_point);
    const Program program = AssembleProgram(attempt->code, task_.tests);
    ExecRequest request = MakeRequest(program.source);
    const int64_t start = MonotonicMillis();
    observer_.OnExecutionStart(attempt->number, request);
    Result<Execution> execution = executor_.Execute(request);
    observer_.OnExecutionEnd(attempt->number, execution);
    attempt->execution_ms = MonotonicMillis() - start;
    if (!execution.ok()) {
      return execution.status().WithContext("attempt " + std::to_string(attempt->number) + ": executor");
    }
    const bool sentinel = StripSentinel(&execution->stdout_data);
    attempt->verdict = Judge(*execution, program, sentinel);
    attempt->execution = std::move(execution).value();
    return Status::Ok();
  }

  ExecRequest MakeRequest(std::string source) const {
    ExecRequest r;
    r.code = std::move(source);
    r.timeout_ms = options_.timeout_ms;
    r.memory_mb = options_.memory_mb;
    return r;
  }

 private:
  llm::Provider& provider_;
  Executor& executor_;
  const Task& task_;
  const AgentOptions& options_;
  AgentObserver& observer_;
};

Status Validate(const Task& task, const AgentOptions& options) {
  if (Trim(task.prompt).empty()) return InvalidArgument("agent: the task is empty");
  if (options.max_attempts < 1) {
    return InvalidArgument("agent: max attempts must be >= 1, got " + std::to_string(options.max_attempts));
  }
  if (!task.stub.empty() && task.entry_point.empty())
    return InvalidArgument("agent: a stub needs an entry point");
  return Status::Ok();
}

Result<AgentResult> RunLoop(llm::Provider& provider, Executor& executor, const Task& task,
                            const AgentOptions& options, AgentObserver& observer) {
  KILN_RETURN_IF_ERROR(Validate(task, options));
  AgentResult result;
  result.task = task;
  result.model = provider.model();
  result.max_attempts = options.max_attempts;
  result.started_at_ns = WallNanos();
  const int64_t start = MonotonicMillis();
  const llm::PriceTable& prices = options.prices ? *options.prices : llm::PriceTable::Builtin();
  llm::UsageTotals totals;
  AttemptRunner runner(provider, executor, task, options, observer);

  llm::ChatRequest request;
  request.system = options.system_prompt.empty() ? std::string(kSystemPrompt) : options.system_prompt;
  request.max_output_tokens = options.max_output_tokens;
  request.temperature = options.temperature;
  request.messages.push_back(Msg(llm::Role::kUser, FirstUserMessage(task)));

  for (int n = 1; n <= options.max_attempts && !result.success; ++n) {
    observer.OnAttemptStart(n, options.max_attempts);
    Attempt attempt;
    attempt.number = n;
    const int64_t model_start = MonotonicMillis();
    KILN_ASSIGN_OR_RETURN(llm::ChatResponse response, runner.CallModel(n, request));
    attempt.model_ms = MonotonicMillis() - model_start;
    attempt.reply = response.text;
    attempt.usage = response.usage;
    totals.Add(prices, provider.request_model(), response);
    KILN_RETURN_IF_ERROR(runner.RunCode(&attempt));
    if (attempt.execution) {
      result.final_code = attempt.code;
      result.final_stdout = attempt.execution->stdout_data;
    }
    result.success = attempt.verdict.passed();
    if (!result.success && n < options.max_attempts) {
      const ExecRequest limits = runner.MakeRequest("");
      attempt.feedback = BuildFeedback(attempt.verdict, attempt.execution ? &*attempt.execution : nullptr,
                                       limits, options.feedback);
      request.messages.push_back(Msg(llm::Role::kAssistant, attempt.reply));
      request.messages.push_back(Msg(llm::Role::kUser, attempt.feedback));
    }
    observer.OnAttemptEnd(attempt);
    result.history.push_back(std::move(attempt));
  }
  result.attempts = static_cast<int>(result.history.size());
  const llm::UsageTotals::Snapshot snap = totals.Get();
  result.usage = snap.usage;
  result.cost_usd = snap.cost_usd;
  result.cost_known = snap.all_priced;
  result.duration_ms = MonotonicMillis() - start;
  return result;
}

}  // namespace

std::string_view DefaultSystemPrompt() {
  return kSystemPrompt;
}

Result<AgentResult> RunAgent(llm::Provider& provider, Executor& executor, const Task& task,
                             const AgentOptions& options, AgentObserver* observer) {
  AgentObserver null_observer;
  AgentObserver& obs = observer ? *observer : null_observer;
  obs.OnRunStart(task, options, provider.model());
  Result<AgentResult> result = RunLoop(provider, executor, task, options, obs);
  obs.OnRunEnd(result);
  return result;
}

nlohmann::json ToJson(const llm::Usage& u) {
  return {{"input_tokens", u.input_tokens},
          {"output_tokens", u.output_tokens},
          {"cache_read_input_tokens", u.cache_read_input_tokens},
          {"reasoning_output_tokens", u.reasoning_output_tokens}};
}

nlohmann::json ToJson(const Execution& e) {
  return {{"exit_code", e.exit_code}, {"signal", e.signal},           {"stdout", e.stdout_data},
          {"stderr", e.stderr_data},  {"timed_out", e.timed_out},     {"oom_killed", e.oom_killed},
          {"truncated", e.truncated}, {"duration_ms", e.duration_ms}, {"sandbox_id", e.sandbox_id}};
}

nlohmann::json ToJson(const Attempt& a) {
  return {{"attempt", a.number},
          {"reply", a.reply},
          {"code", a.code},
          {"code_source", SourceName(a.code_source)},
          {"execution", a.execution ? ToJson(*a.execution) : nlohmann::json(nullptr)},
          {"verdict", ToJson(a.verdict)},
          {"feedback", a.feedback},
          {"usage", ToJson(a.usage)},
          {"model_ms", a.model_ms},
          {"execution_ms", a.execution_ms}};
}

nlohmann::json ToJson(const AgentResult& r) {
  nlohmann::json task = {{"prompt", r.task.prompt}};
  if (!r.task.id.empty()) task["id"] = r.task.id;
  if (!r.task.tests.empty()) task["tests"] = r.task.tests;
  if (!r.task.entry_point.empty()) task["entry_point"] = r.task.entry_point;
  nlohmann::json history = nlohmann::json::array();
  for (const Attempt& a : r.history) history.push_back(ToJson(a));
  nlohmann::json j = {{"version", 1},
                      {"task", std::move(task)},
                      {"model", r.model},
                      {"success", r.success},
                      {"attempts", r.attempts},
                      {"max_attempts", r.max_attempts},
                      {"final_code", r.final_code},
                      {"final_stdout", r.final_stdout},
                      {"history", std::move(history)},
                      {"usage", ToJson(r.usage)},
                      {"cost_usd", r.cost_usd},
                      {"cost_known", r.cost_known},
                      {"started_at", Rfc3339(r.started_at_ns)},
                      {"duration_ms", r.duration_ms}};
  if (!r.reviews.empty()) j["reviews"] = r.reviews;
  return j;
}

}  // namespace kiln::agent
