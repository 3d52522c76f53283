#include "kiln/agent/coding_workflow.h"

#include <utility>

#include "kiln/base/clock.h"
#include "kiln/base/strings.h"
#include "project.h"

namespace kiln::agent {
namespace {

using nlohmann::json;
using workflow::NodeContext;
using workflow::NodeOutput;
using workflow::Reducer;

constexpr std::string_view kReviewPoints[] = {"never", "before-run", "after-run"};
constexpr std::string_view kActions[] = {"approve", "edit", "reject", "feedback"};

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t Int(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

json ExecutionJson(const Execution& e) {
  return ToJson(e);
}

Execution ExecutionFromJson(const json& j) {
  Execution e;
  e.exit_code = static_cast<int>(Int(j, "exit_code"));
  e.signal = static_cast<int>(Int(j, "signal"));
  e.stdout_data = Str(j, "stdout");
  e.stderr_data = Str(j, "stderr");
  e.timed_out = j.value("timed_out", false);
  e.oom_killed = j.value("oom_killed", false);
  e.truncated = j.value("truncated", false);
  e.duration_ms = Int(j, "duration_ms");
  e.sandbox_id = Str(j, "sandbox_id");
  return e;
}

Verdict VerdictFromJson(const json& j) {
  Verdict v;
  const std::string kind = Str(j, "verdict");
  for (auto k : {VerdictKind::kPassed, VerdictKind::kNoCode, VerdictKind::kError, VerdictKind::kNonZeroExit,
                 VerdictKind::kTimeout, VerdictKind::kOutOfMemory, VerdictKind::kTestsFailed}) {
    if (VerdictName(k) == kind) v.kind = k;
  }
  v.summary = Str(j, "summary");
  v.error_name = Str(j, "error_name");
  v.error_value = Str(j, "error_value");
  return v;
}

Attempt AttemptFromJson(const json& j) {
  Attempt a;
  a.number = static_cast<int>(Int(j, "attempt"));
  a.reply = Str(j, "reply");
  a.code = Str(j, "code");
  const std::string source = Str(j, "code_source");
  for (auto s : {ExtractedCode::Source::kPythonBlock, ExtractedCode::Source::kOtherBlock,
                 ExtractedCode::Source::kWholeReply, ExtractedCode::Source::kNone}) {
    if (SourceName(s) == source) a.code_source = s;
  }
  if (j.contains("execution") && j["execution"].is_object()) a.execution = ExecutionFromJson(j["execution"]);
  a.verdict = VerdictFromJson(j.value("verdict", json::object()));
  a.feedback = Str(j, "feedback");
  const json usage = j.value("usage", json::object());
  a.usage.input_tokens = Int(usage, "input_tokens");
  a.usage.output_tokens = Int(usage, "output_tokens");
  a.model_ms = Int(j, "model_ms");
  a.execution_ms = Int(j, "execution_ms");
  return a;
}

llm::Message Msg(llm::Role role, std::string text) {
  llm::Message m;
  m.role = role;
  m.text = std::move(text);
  return m;
}

std::string FirstUserMessage(const Task& task) {
  std::string msg = task.prompt;
  if (task.show_tests && !Trim(task.tests).empty()) {
    msg += "\n\nYour program is checked by these tests, run after your code in the same file:\n```python\n" +
           task.tests + (task.tests.back() == '\n' ? "" : "\n") + "```";
  }
  return msg;
}

ExecRequest Limits(const WorkflowConfig& config, std::string code) {
  ExecRequest r;
  r.code = std::move(code);
  r.timeout_ms = config.timeout_ms;
  r.memory_mb = config.memory_mb;
  return r;
}

// The nodes; each reads the state and returns its update. Exceptions from JSON access stop at Guard.
class Nodes {
 public:
  explicit Nodes(const WorkflowDeps& deps) : deps_(deps) {}

  Result<NodeOutput> Generate(const NodeContext& ctx) const {
    const json& s = ctx.state;
    KILN_ASSIGN_OR_RETURN(WorkflowConfig config, ConfigFromState(s));
    const int number = static_cast<int>(Int(s, "attempt")) + 1;
    if (!deps_.provider) return FailedPrecondition("this process has no model to call");
    if (deps_.observer) deps_.observer->OnAttemptStart(number, config.max_attempts);
    llm::ChatRequest request;
    request.system = std::string(DefaultSystemPrompt());
    for (const json& m : s["messages"]) {
      request.messages.push_back(
          Msg(Str(m, "role") == "assistant" ? llm::Role::kAssistant : llm::Role::kUser, Str(m, "text")));
    }
    const std::string next = Str(s, "next_message");
    request.messages.push_back(Msg(llm::Role::kUser, next));
    if (deps_.observer) deps_.observer->OnModelCallStart(number, request);
    llm::CallInfo info;
    const int64_t start = MonotonicMillis();
    Result<llm::ChatResponse> response = deps_.provider->Chat(request, &info);
    const int64_t model_ms = MonotonicMillis() - start;
    if (deps_.observer) deps_.observer->OnModelCallEnd(number, response, info);
    if (!response.ok()) return response.status().WithContext("attempt " + std::to_string(number) + ": model");

    llm::UsageTotals totals;
    const llm::PriceTable& prices = deps_.prices ? *deps_.prices : llm::PriceTable::Builtin();
    const llm::Cost cost = totals.Add(prices, deps_.provider->request_model(), *response);
    const json task = s["task"];
    const ExtractedCode extracted = ExtractCode(response->text);
    std::string code = extracted.code;
    if (extracted.source != ExtractedCode::Source::kNone && !Str(task, "stub").empty()) {
      code = CompleteFromStub(code, Str(task, "stub"), Str(task, "entry_point"));
    }
    json update = {
        {"attempt", 1},
        {"messages", json::array({{{"role", "user"}, {"text", next}},
                                  {{"role", "assistant"}, {"text", response->text}}})},
        {"next_message", ""},
        {"previous_code", Str(s["candidate"], "code").empty() ? s["previous_code"] : s["candidate"]["code"]},
        {"candidate",
         {{"attempt", number},
          {"reply", response->text},
          {"code", code},
          {"code_source", SourceName(extracted.source)},
          {"author", "model"},
          {"usage", ToJson(response->usage)},
          {"model_ms", model_ms}}},
        {"input_tokens", response->usage.input_tokens},
        {"output_tokens", response->usage.output_tokens},
        {"cost_usd", cost.usd}};
    if (!cost.known) update["cost_known"] = false;
    return NodeOutput::Update(std::move(update));
  }

  // A reply without code: nothing runs; the model hears so; the attempt counts.
  Result<NodeOutput> NoCode(const NodeContext& ctx) const {
    const json& s = ctx.state;
    KILN_ASSIGN_OR_RETURN(WorkflowConfig config, ConfigFromState(s));
    Attempt attempt = AttemptFromJson(s["candidate"]);
    attempt.verdict = NoCodeVerdict();
    const bool last = Int(s, "attempt") >= config.max_attempts;
    json update = {{"verdict", ToJson(attempt.verdict)}};
    if (!last) {
      attempt.feedback =
          "Your reply contained no code, so nothing was run. Reply with the complete program in a single "
          "```python block.";
      update["next_message"] = attempt.feedback;
    } else {
      update["outcome"] = "unsolved";
    }
    if (deps_.observer) deps_.observer->OnAttemptEnd(attempt);
    update["attempts"] = json::array({ToJson(attempt)});
    return NodeOutput::Update(std::move(update));
  }

  Result<NodeOutput> Execute(const NodeContext& ctx) const {
    const json& s = ctx.state;
    KILN_ASSIGN_OR_RETURN(WorkflowConfig config, ConfigFromState(s));
    const int number = static_cast<int>(Int(s, "attempt"));
    if (!deps_.executor) return FailedPrecondition("this process has no executor to run code");
    const Program program = AssembleProgram(Str(s["candidate"], "code"), Str(s["task"], "tests"));
    const ExecRequest request = Limits(config, program.source);
    if (deps_.observer) deps_.observer->OnExecutionStart(number, request);
    const int64_t start = MonotonicMillis();
    Result<Execution> execution = deps_.executor->Execute(request);
    if (deps_.observer) deps_.observer->OnExecutionEnd(number, execution);
    if (!execution.ok())
      return execution.status().WithContext("attempt " + std::to_string(number) + ": executor");
    const bool sentinel = StripSentinel(&execution->stdout_data);
    return NodeOutput::Update({{"run",
                                {{"execution", ExecutionJson(*execution)},
                                 {"sentinel", sentinel},
                                 {"code_lines", program.code_lines},
                                 {"has_tests", program.has_tests},
                                 {"execution_ms", MonotonicMillis() - start}}}});
  }

  Result<NodeOutput> JudgeRun(const NodeContext& ctx) const {
    const json& s = ctx.state;
    KILN_ASSIGN_OR_RETURN(WorkflowConfig config, ConfigFromState(s));
    const json& run = s["run"];
    Program program;
    program.code_lines = static_cast<int>(Int(run, "code_lines"));
    program.has_tests = run.value("has_tests", false);
    const Execution execution = ExecutionFromJson(run["execution"]);
    Attempt attempt = AttemptFromJson(s["candidate"]);
    attempt.execution = execution;
    attempt.execution_ms = Int(run, "execution_ms");
    attempt.verdict = Judge(execution, program, run.value("sentinel", false));
    json update = {{"verdict", ToJson(attempt.verdict)}, {"next_message", ""}};
    if (!attempt.verdict.passed()) {
      attempt.feedback = BuildFeedback(attempt.verdict, &execution, Limits(config, ""));
      update["next_message"] = attempt.feedback;
    }
    if (deps_.observer) deps_.observer->OnAttemptEnd(attempt);
    update["attempts"] = json::array({ToJson(attempt)});
    return NodeOutput::Update(std::move(update));
  }

  // Asks; with the answer, records the decision (the route reads it).
  Result<NodeOutput> Review(const NodeContext& ctx) const {
    const json& s = ctx.state;
    KILN_ASSIGN_OR_RETURN(WorkflowConfig config, ConfigFromState(s));
    const std::string at(ReviewPointName(config.review));
    const json& candidate = s["candidate"];
    if (!ctx.answer) {
      json question = {{"kind", "review"},
                       {"at", at},
                       {"attempt", Int(s, "attempt")},
                       {"max_attempts", config.max_attempts},
                       {"code", Str(candidate, "code")},
                       {"author", Str(candidate, "author")},
                       {"previous_code", s["previous_code"]},
                       {"answers", json::array({"approve", "edit", "reject", "feedback"})}};
      if (at == "after-run") {
        question["verdict"] = s["verdict"];
        question["stdout"] = Str(s["run"]["execution"], "stdout");
        question["stderr"] = Str(s["run"]["execution"], "stderr");
      }
      return NodeOutput::Ask(std::move(question));
    }
    KILN_ASSIGN_OR_RETURN(ReviewAnswer answer, ParseReviewAnswer(*ctx.answer));
    json update = {{"decision", ActionName(answer.action)},
                   {"reviews", json::array({{{"at", at},
                                             {"attempt", Int(s, "attempt")},
                                             {"action", ActionName(answer.action)},
                                             {"text", answer.text}}})}};
    switch (answer.action) {
      case ReviewAnswer::Action::kApprove:
        break;
      case ReviewAnswer::Action::kEdit: {
        json edited = candidate;
        edited["code"] = answer.text;
        edited["author"] = "reviewer";
        update["previous_code"] = candidate["code"];
        update["candidate"] = std::move(edited);
        break;
      }
      case ReviewAnswer::Action::kReject:
        update["outcome"] = "rejected";
        update["reason"] = answer.text;
        break;
      case ReviewAnswer::Action::kFeedback: {
        std::string text = Str(s, "next_message");
        if (at == "before-run") text = "A reviewer read your program before it ran; it was not run.";
        text += (text.empty() ? "" : "\n\n") + std::string("The reviewer's feedback: ") + answer.text +
                "\n\nReply with the complete revised program in a single ```python block.";
        update["next_message"] = text;
        break;
      }
    }
    return NodeOutput::Update(std::move(update));
  }

  Result<NodeOutput> Package(const NodeContext& ctx) const {
    const json& s = ctx.state;
    KILN_ASSIGN_OR_RETURN(WorkflowConfig config, ConfigFromState(s));
    const bool solved = s["verdict"].value("passed", false);
    json update = {{"outcome", solved ? "solved" : "unsolved"}};
    if (!config.out_dir.empty()) {
      json final_state = s;
      final_state["outcome"] = update["outcome"];
      KILN_ASSIGN_OR_RETURN(std::string archive,
                            WriteAgentProject(ResultFromState(final_state), config.out_dir, config.scripted));
      update["package"] = {{"dir", config.out_dir}, {"archive", archive}};
    }
    return NodeOutput::Update(std::move(update));
  }

 private:
  WorkflowDeps deps_;
};

// JSON access on a malformed (hand-edited, corrupted) state throws; a node reports it as its error.
workflow::NodeFn Guard(std::function<Result<NodeOutput>(const NodeContext&)> fn) {
  return [fn = std::move(fn)](const NodeContext& ctx) -> Result<NodeOutput> {
    try {
      return fn(ctx);
    } catch (const json::exception& e) {
      return Internal(std::string("malformed thread state: ") + e.what());
    }
  };
}

std::string AfterGenerate(const json& s) {
  const std::string review = Str(s["config"], "review");
  if (Str(s["candidate"], "code").empty()) return "no_code";
  return review == "before-run" ? "review" : "execute";
}

std::string AfterJudge(const json& s) {
  const bool passed = s["verdict"].value("passed", false);
  const bool attempts_left = Int(s, "attempt") < Int(s["config"], "max_attempts");
  if (!passed && attempts_left) return "generate";
  return Str(s["config"], "review") == "after-run" ? "review" : "package";
}

std::string AfterReview(const json& s) {
  const std::string decision = Str(s, "decision");
  if (decision == "reject") return workflow::kEnd;
  if (decision == "feedback") return "generate";
  if (decision == "edit") return "execute";
  return Str(s["config"], "review") == "before-run" ? "execute" : "package";
}

}  // namespace

std::string_view ReviewPointName(ReviewPoint point) {
  return kReviewPoints[static_cast<int>(point)];
}

Result<ReviewPoint> ParseReviewPoint(std::string_view name) {
  for (int i = 0; i < 3; ++i) {
    if (kReviewPoints[i] == name) return static_cast<ReviewPoint>(i);
  }
  return InvalidArgument("--review: '" + std::string(name) + "' is not one of never, before-run, after-run");
}

std::string_view ActionName(ReviewAnswer::Action action) {
  return kActions[static_cast<int>(action)];
}

json ToJson(const ReviewAnswer& answer) {
  json j = {{"action", ActionName(answer.action)}};
  static constexpr const char* kTextField[] = {nullptr, "code", "reason", "text"};
  if (const char* field = kTextField[static_cast<int>(answer.action)]) j[field] = answer.text;
  return j;
}

Result<ReviewAnswer> ParseReviewAnswer(const json& j) {
  if (!j.is_object()) return InvalidArgument("review answer: expected a JSON object, got " + j.dump());
  const std::string action = Str(j, "action");
  static constexpr const char* kTextField[] = {nullptr, "code", "reason", "text"};
  for (int i = 0; i < 4; ++i) {
    if (kActions[i] != action) continue;
    ReviewAnswer answer{static_cast<ReviewAnswer::Action>(i), ""};
    if (const char* field = kTextField[i]) {
      answer.text = Str(j, field);
      if (Trim(answer.text).empty())
        return InvalidArgument("review answer '" + action + "' needs a non-empty \"" + field + "\"");
    }
    return answer;
  }
  return InvalidArgument("review answer: unknown action '" + action +
                         "' (expected approve, edit, reject or feedback)");
}

Result<workflow::Graph> BuildCodingGraph(const WorkflowDeps& deps) {
  auto nodes = std::make_shared<Nodes>(deps);
  auto bind = [nodes](Result<NodeOutput> (Nodes::*method)(const NodeContext&) const) {
    return Guard([nodes, method](const NodeContext& ctx) { return ((*nodes).*method)(ctx); });
  };
  using workflow::CutOffPolicy;
  using workflow::StepKind;
  workflow::Graph g;
  g.AddChannel("task", Reducer::kReplace, json::object())
      .AddChannel("config", Reducer::kReplace, json::object())
      .AddChannel("messages", Reducer::kAppend)
      .AddChannel("next_message", Reducer::kReplace, "")
      .AddChannel("attempt", Reducer::kSum)
      .AddChannel("candidate", Reducer::kReplace, json::object())
      .AddChannel("previous_code", Reducer::kReplace, "")
      .AddChannel("run", Reducer::kReplace, json::object())
      .AddChannel("verdict", Reducer::kReplace, json::object())
      .AddChannel("attempts", Reducer::kAppend)
      .AddChannel("input_tokens", Reducer::kSum)
      .AddChannel("output_tokens", Reducer::kSum)
      .AddChannel("cost_usd", Reducer::kSum, 0.0)
      .AddChannel("cost_known", Reducer::kReplace, true)
      .AddChannel("reviews", Reducer::kAppend)
      .AddChannel("decision", Reducer::kReplace, "")
      .AddChannel("outcome", Reducer::kReplace, "")
      .AddChannel("reason", Reducer::kReplace, "")
      .AddChannel("package", Reducer::kReplace, json::object())
      .AddChannel("started_at_ns", Reducer::kReplace, 0)
      .AddNode("generate", bind(&Nodes::Generate), StepKind::kSideEffect, CutOffPolicy::kRerun)
      .AddNode("no_code", bind(&Nodes::NoCode))
      .AddNode("execute", bind(&Nodes::Execute), StepKind::kSideEffect, CutOffPolicy::kRerun)
      .AddNode("judge", bind(&Nodes::JudgeRun))
      .AddNode("review", bind(&Nodes::Review))
      .AddNode("package", bind(&Nodes::Package), StepKind::kSideEffect, CutOffPolicy::kRerun)
      .AddRoute("generate", AfterGenerate)
      .AddRoute("no_code",
                [](const json& s) { return Str(s, "outcome").empty() ? "generate" : workflow::kEnd; })
      .AddEdge("execute", "judge")
      .AddRoute("judge", AfterJudge)
      .AddRoute("review", AfterReview)
      .AddEdge("package", workflow::kEnd)
      .SetEntry("generate");
  KILN_RETURN_IF_ERROR(g.Validate());
  return g;
}

Result<json> CodingInput(const Task& task, const WorkflowConfig& config) {
  if (Trim(task.prompt).empty()) return InvalidArgument("agent: the task is empty");
  if (config.max_attempts < 1)
    return InvalidArgument("agent: max attempts must be >= 1, got " + std::to_string(config.max_attempts));
  if (!task.stub.empty() && task.entry_point.empty())
    return InvalidArgument("agent: a stub needs an entry point");
  json t = {{"prompt", task.prompt},           {"tests", task.tests},
            {"show_tests", task.show_tests},   {"stub", task.stub},
            {"entry_point", task.entry_point}, {"id", task.id}};
  json c = {{"model", config.model},
            {"max_attempts", config.max_attempts},
            {"review", ReviewPointName(config.review)},
            {"timeout_ms", config.timeout_ms},
            {"memory_mb", config.memory_mb},
            {"out_dir", config.out_dir},
            {"scripted", config.scripted},
            {"budget",
             {{"max_tokens", config.budget.max_tokens},
              {"max_cost_usd", config.budget.max_cost_usd},
              {"max_time_ms", config.budget.max_time_ms}}}};
  return json{{"task", std::move(t)},
              {"config", std::move(c)},
              {"next_message", FirstUserMessage(task)},
              {"started_at_ns", WallNanos()}};
}

Result<WorkflowConfig> ConfigFromState(const json& state) {
  auto it = state.find("config");
  if (it == state.end() || !it->is_object()) return InvalidArgument("thread state has no config");
  const json& c = *it;
  WorkflowConfig config;
  config.model = Str(c, "model");
  config.max_attempts = static_cast<int>(Int(c, "max_attempts"));
  KILN_ASSIGN_OR_RETURN(config.review, ParseReviewPoint(Str(c, "review")));
  config.timeout_ms = Int(c, "timeout_ms");
  config.memory_mb = Int(c, "memory_mb");
  config.out_dir = Str(c, "out_dir");
  config.scripted = c.value("scripted", false);
  const json b = c.value("budget", json::object());
  config.budget.max_tokens = Int(b, "max_tokens");
  config.budget.max_cost_usd = b.value("max_cost_usd", 0.0);
  config.budget.max_time_ms = Int(b, "max_time_ms");
  return config;
}

json WithBudget(const json& state, const Budget& budget) {
  json config = state.value("config", json::object());
  config["budget"] = {{"max_tokens", budget.max_tokens},
                      {"max_cost_usd", budget.max_cost_usd},
                      {"max_time_ms", budget.max_time_ms}};
  return {{"config", std::move(config)}};
}

std::optional<std::string> BudgetExceeded(const json& state, int64_t elapsed_ms) {
  if (!Str(state, "outcome").empty()) return std::nullopt;  // finishing costs nothing
  const json b = state.value("config", json::object()).value("budget", json::object());
  const int64_t tokens = Int(state, "input_tokens") + Int(state, "output_tokens");
  const double cost = state.value("cost_usd", 0.0);
  if (Int(b, "max_tokens") > 0 && tokens >= Int(b, "max_tokens")) {
    return "budget: " + std::to_string(tokens) + " tokens used, the limit is " +
           std::to_string(Int(b, "max_tokens"));
  }
  const double max_cost = b.value("max_cost_usd", 0.0);
  if (max_cost > 0 && cost >= max_cost) {
    return "budget: $" + std::to_string(cost) + " spent, the limit is $" + std::to_string(max_cost);
  }
  if (Int(b, "max_time_ms") > 0 && elapsed_ms >= Int(b, "max_time_ms")) {
    return "budget: this run took " + std::to_string(elapsed_ms / 1000) + " s, the limit is " +
           std::to_string(Int(b, "max_time_ms") / 1000) + " s";
  }
  return std::nullopt;
}

AgentResult ResultFromState(const json& state) {
  AgentResult r;
  const json task = state.value("task", json::object());
  r.task.prompt = Str(task, "prompt");
  r.task.tests = Str(task, "tests");
  r.task.stub = Str(task, "stub");
  r.task.entry_point = Str(task, "entry_point");
  r.task.id = Str(task, "id");
  const json config = state.value("config", json::object());
  r.model = Str(config, "model");
  r.max_attempts = static_cast<int>(Int(config, "max_attempts"));
  for (const json& a : state.value("attempts", json::array())) {
    r.history.push_back(AttemptFromJson(a));
    if (r.history.back().execution) {
      r.final_code = r.history.back().code;
      r.final_stdout = r.history.back().execution->stdout_data;
    }
  }
  r.success =
      state.value("verdict", json::object()).value("passed", false) && Str(state, "outcome") != "rejected";
  r.attempts = static_cast<int>(Int(state, "attempt"));
  r.usage.input_tokens = Int(state, "input_tokens");
  r.usage.output_tokens = Int(state, "output_tokens");
  r.cost_usd = state.value("cost_usd", 0.0);
  r.cost_known = state.value("cost_known", true);
  r.started_at_ns = Int(state, "started_at_ns");
  r.duration_ms = r.started_at_ns > 0 ? (WallNanos() - r.started_at_ns) / 1'000'000 : 0;
  r.reviews = state.value("reviews", json::array());
  return r;
}

}  // namespace kiln::agent
