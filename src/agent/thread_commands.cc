// `kiln agent --review ...` as a thread, and `kiln threads ...`.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "command_util.h"
#include "kiln/agent/commands.h"
#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/base/strings.h"
#include "thread_runner.h"

namespace kiln::agent {
namespace {

using nlohmann::json;
using workflow::Checkpoint;
using workflow::CheckpointStore;
using workflow::ThreadInfo;
using workflow::ThreadStatus;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Time(int64_t ms) {
  return Rfc3339(ms * 1'000'000);
}

std::string Shorten(std::string text, size_t max) {
  text = text.substr(0, text.find('\n'));
  return text.size() > max ? text.substr(0, max - 3) + "..." : text;
}

bool ColorTerminal(const llm::EnvLookup& env, const std::ostream* out) {
  return out == nullptr && isatty(STDOUT_FILENO) && !Env(env, "NO_COLOR") &&
         Env(env, "TERM").value_or("") != "dumb";
}

// One thread's summary: from its row and its head checkpoint's state.
json Summary(const ThreadInfo& info, const Checkpoint& head) {
  const json& s = head.state;
  const json config = s.value("config", json::object());
  json j = {{"id", info.id},
            {"status", ThreadStatusName(info.status)},
            {"outcome", Str(s, "outcome")},
            {"attempt", s.value("attempt", 0)},
            {"max_attempts", config.value("max_attempts", 0)},
            {"review", Str(config, "review")},
            {"model", Str(config, "model")},
            {"task", Str(s.value("task", json::object()), "prompt")},
            {"head", info.head},
            {"next", head.next},
            {"owner_pid", info.owner_pid},
            {"created", Time(info.created_ms)},
            {"updated", Time(info.updated_ms)}};
  if (!head.reason.empty()) j["reason"] = head.reason;
  if (Str(s, "outcome") == "rejected") j["reason"] = Str(s, "reason");
  return j;
}

Result<json> LoadSummary(CheckpointStore& store, const ThreadInfo& info) {
  KILN_ASSIGN_OR_RETURN(Checkpoint head, store.GetCheckpoint(info.id, info.head));
  return Summary(info, head);
}

int List(CheckpointStore& store, const ThreadsCommandOptions& o, std::ostream& out, std::ostream& err) {
  auto threads = store.ListThreads();
  if (!threads.ok()) return Fail(err, "threads", threads.status());
  json all = json::array();
  for (const ThreadInfo& info : *threads) {
    auto summary = LoadSummary(store, info);
    if (!summary.ok()) return Fail(err, "threads", summary.status());
    all.push_back(std::move(summary).value());
  }
  if (o.json) {
    out << all.dump(2) << "\n";
    return kExitOk;
  }
  if (all.empty()) {
    out << "no threads (start one with: kiln agent \"TASK\" --review after-run)\n";
    return kExitOk;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-14s %-12s %-9s %-8s %-11s %-20s %s\n", "ID", "STATUS", "OUTCOME",
                "ATTEMPT", "REVIEW", "UPDATED", "TASK");
  out << line;
  for (const json& t : all) {
    const std::string attempt =
        std::to_string(t["attempt"].get<int>()) + "/" + std::to_string(t["max_attempts"].get<int>());
    std::snprintf(line, sizeof line, "%-14s %-12s %-9s %-8s %-11s %-20s %s\n", Str(t, "id").c_str(),
                  Str(t, "status").c_str(), Str(t, "outcome").empty() ? "-" : Str(t, "outcome").c_str(),
                  attempt.c_str(), Str(t, "review").c_str(), Str(t, "updated").substr(0, 19).c_str(),
                  Shorten(Str(t, "task"), 50).c_str());
    out << line;
  }
  return kExitOk;
}

json StepsJson(const std::vector<workflow::StepRecord>& steps) {
  json out = json::array();
  for (const auto& step : steps) {
    out.push_back({{"from_checkpoint", step.from_checkpoint},
                   {"node", step.node},
                   {"done", step.done},
                   {"runs", step.attempts}});
  }
  return out;
}

int Show(CheckpointStore& store, const ThreadsCommandOptions& o, ThreadIo& io) {
  auto info = store.GetThread(o.thread_id);
  if (!info.ok()) return Fail(io.err, "threads", info.status());
  auto head = store.GetCheckpoint(o.thread_id, info->head);
  if (!head.ok()) return Fail(io.err, "threads", head.status());
  auto steps = store.Steps(o.thread_id);
  if (!steps.ok()) return Fail(io.err, "threads", steps.status());
  json summary = Summary(*info, *head);
  if (o.json) {
    summary["state"] = head->state;
    if (head->status == ThreadStatus::kInterrupted) summary["question"] = head->interrupt;
    summary["steps"] = StepsJson(*steps);
    io.out << summary.dump(2) << "\n";
    return kExitOk;
  }
  const json& s = head->state;
  io.out << "thread " << o.thread_id << "\n"
         << "  status:  " << Str(summary, "status")
         << (Str(summary, "outcome").empty() ? "" : " (" + Str(summary, "outcome") + ")")
         << (summary.contains("reason") ? ": " + Str(summary, "reason") : "") << "\n"
         << "  task:    " << Shorten(Str(summary, "task"), 100) << "\n"
         << "  model:   " << Str(summary, "model") << "\n"
         << "  attempt: " << summary["attempt"] << " of " << summary["max_attempts"] << ", review "
         << Str(summary, "review") << "\n"
         << "  head:    checkpoint " << info->head << " (step " << head->step << ", next: " << head->next
         << ")\n"
         << "  updated: " << Str(summary, "updated") << "\n";
  for (const json& r : s.value("reviews", json::array())) {
    io.out << "  review:  " << Str(r, "at") << " attempt " << r.value("attempt", 0) << ": "
           << Str(r, "action")
           << (Str(r, "text").empty() || Str(r, "action") == "edit"
                   ? ""
                   : " \"" + Shorten(Str(r, "text"), 60) + "\"")
           << "\n";
  }
  for (const auto& step : *steps) {
    io.out << "  step:    " << step.node << " from checkpoint " << step.from_checkpoint << ": "
           << (step.done ? "done" : "cut off") << ", " << step.attempts << " run(s)\n";
  }
  if (head->status == ThreadStatus::kInterrupted) PrintQuestion(o.thread_id, head->interrupt, io);
  return kExitOk;
}

// A line for people about what a checkpoint holds.
std::string Note(const Checkpoint& cp) {
  const json& s = cp.state;
  std::string note = "attempt " + std::to_string(s.value("attempt", 0));
  if (!Str(s.value("verdict", json::object()), "verdict").empty())
    note += ", verdict " + Str(s["verdict"], "verdict");
  if (!Str(s, "outcome").empty()) note += ", " + Str(s, "outcome");
  if (!cp.reason.empty()) note += " (" + cp.reason + ")";
  return note;
}

int History(CheckpointStore& store, const ThreadsCommandOptions& o, std::ostream& out, std::ostream& err) {
  auto history = store.History(o.thread_id);
  if (!history.ok()) return Fail(err, "threads", history.status());
  if (o.json) {
    json all = json::array();
    for (const Checkpoint& cp : *history) {
      json j = {{"checkpoint", cp.id},
                {"parent", cp.parent_id},
                {"step", cp.step},
                {"next", cp.next},
                {"status", ThreadStatusName(cp.status)},
                {"reason", cp.reason},
                {"created", Time(cp.created_ms)},
                {"state", cp.state}};
      if (cp.status == ThreadStatus::kInterrupted) j["question"] = cp.interrupt;
      all.push_back(std::move(j));
    }
    out << all.dump(2) << "\n";
    return kExitOk;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-10s %-6s %-4s %-12s %-9s %-20s %s\n", "CHECKPOINT", "PARENT", "STEP",
                "STATUS", "NEXT", "CREATED", "NOTE");
  out << line;
  for (const Checkpoint& cp : *history) {
    std::snprintf(line, sizeof line, "%-10lld %-6lld %-4lld %-12s %-9s %-20s %s\n",
                  static_cast<long long>(cp.id), static_cast<long long>(cp.parent_id),
                  static_cast<long long>(cp.step), std::string(ThreadStatusName(cp.status)).c_str(),
                  cp.next.c_str(), Time(cp.created_ms).substr(0, 19).c_str(), Note(cp).c_str());
    out << line;
  }
  return kExitOk;
}

Result<std::optional<json>> AnswerFromFlags(const ThreadsCommandOptions& o) {
  const int given = (o.approve ? 1 : 0) + (!o.edit_file.empty() ? 1 : 0) +
                    (!o.reject_reason.empty() ? 1 : 0) + (!o.feedback.empty() ? 1 : 0);
  if (given > 1)
    return InvalidArgument("give one answer: --approve, --edit FILE, --reject REASON or --feedback TEXT");
  if (given == 0) return std::optional<json>();
  ReviewAnswer answer;
  if (!o.edit_file.empty()) {
    KILN_ASSIGN_OR_RETURN(std::string code, ReadTextFile(o.edit_file));
    answer = {ReviewAnswer::Action::kEdit, code};
  } else if (!o.reject_reason.empty()) {
    answer = {ReviewAnswer::Action::kReject, o.reject_reason};
  } else if (!o.feedback.empty()) {
    answer = {ReviewAnswer::Action::kFeedback, o.feedback};
  }
  KILN_RETURN_IF_ERROR(
      ParseReviewAnswer(ToJson(answer)).status().WithContext(o.edit_file.empty() ? "" : "--edit"));
  return std::optional<json>(ToJson(answer));
}

int Resume(CheckpointStore& store, const ThreadsCommandOptions& o, ThreadIo& io) {
  auto answer = AnswerFromFlags(o);
  if (!answer.ok()) return Fail(io.err, "threads", answer.status());
  auto info = store.GetThread(o.thread_id);
  if (!info.ok()) return Fail(io.err, "threads", info.status());
  auto head = store.GetCheckpoint(o.thread_id, info->head);
  if (!head.ok()) return Fail(io.err, "threads", head.status());
  auto config = ConfigFromState(head->state);
  if (!config.ok()) return Fail(io.err, "threads", config.status());
  auto provider = ProviderForThread(*config, store, o.thread_id, o.env);
  if (!provider.ok()) return Fail(io.err, "threads", provider.status());
  std::unique_ptr<Executor> own_executor;
  Executor* executor = o.executor;
  if (executor == nullptr) {
    if (!HaveSandboxRuntime())
      return Fail(io.err, "threads", Unavailable("this kiln build has no sandbox runtime"));
    own_executor = MakeSandboxExecutor();
    executor = own_executor.get();
  }
  std::optional<Budget> budget;
  if (o.budget) {  // limits not given (negative) keep their stored value
    budget = config->budget;
    if (o.budget->max_tokens >= 0) budget->max_tokens = o.budget->max_tokens;
    if (o.budget->max_cost_usd >= 0) budget->max_cost_usd = o.budget->max_cost_usd;
    if (o.budget->max_time_ms >= 0) budget->max_time_ms = o.budget->max_time_ms;
  }
  ThreadRunner runner{store, provider->get(), executor, io};
  return ResumeThread(runner, o.thread_id, *answer, budget);
}

int Fork(CheckpointStore& store, const ThreadsCommandOptions& o, std::ostream& out, std::ostream& err) {
  auto graph = BuildCodingGraph({});
  if (!graph.ok()) return Fail(err, "threads", graph.status());
  workflow::Engine engine(*graph, store);
  auto id = engine.Fork(o.thread_id, o.checkpoint);
  if (!id.ok()) return Fail(err, "threads", id.status());
  if (o.json) {
    out << json{{"thread_id", o.thread_id}, {"checkpoint", *id}, {"forked_from", o.checkpoint}}.dump(2)
        << "\n";
  } else {
    out << "thread " << o.thread_id << ": checkpoint " << *id << " copies checkpoint " << o.checkpoint
        << " and is the head now (the old branch stays in history)\nContinue with: kiln threads resume "
        << o.thread_id << "\n";
  }
  return kExitOk;
}

int Remove(CheckpointStore& store, const ThreadsCommandOptions& o, std::ostream& out, std::ostream& err) {
  auto info = store.GetThread(o.thread_id);
  if (!info.ok()) return Fail(err, "threads", info.status());
  if (info->owner_pid != 0 && workflow::ProcessAlive(info->owner_pid)) {
    return Fail(err, "threads",
                FailedPrecondition("conflict: thread " + o.thread_id + " is being run by process " +
                                   std::to_string(info->owner_pid)));
  }
  if (Status st = store.DeleteThread(o.thread_id); !st.ok()) return Fail(err, "threads", st);
  out << "removed thread " << o.thread_id << "\n";
  return kExitOk;
}

}  // namespace

int RunAgentThread(const AgentCommandOptions& o, const Task& task, const std::string& model,
                   llm::Provider& provider, Executor& executor, std::ostream& out, std::ostream& err) {
  WorkflowConfig config;
  config.model = model;
  config.max_attempts = o.max_attempts;
  config.review = ParseReviewPoint(o.review).value();
  config.timeout_ms = o.timeout_ms;
  config.out_dir = o.out_dir;
  config.scripted = IsScripted(provider);
  config.budget = o.budget;
  auto input = CodingInput(task, config);
  if (!input.ok()) return Fail(err, "agent", input.status());
  auto store = OpenThreadStore(o.env);
  if (!store.ok()) return Fail(err, "agent", store.status());
  ThreadIo io{out, err, o.in ? *o.in : std::cin};
  io.interactive = !o.detach && o.in == nullptr && isatty(STDIN_FILENO);
  io.json = o.json;
  io.color = ColorTerminal(o.env, o.out);
  io.env = o.env;
  ThreadRunner runner{**store, &provider, &executor, io};
  return StartThread(runner, "th" + RandomId(12), *input);
}

int RunThreadsCommand(const ThreadsCommandOptions& o) {
  std::ostream& out = o.out ? *o.out : std::cout;
  std::ostream& err = o.err ? *o.err : std::cerr;
  auto store = OpenThreadStore(o.env);
  if (!store.ok()) return Fail(err, "threads", store.status());
  ThreadIo io{out, err, o.in ? *o.in : std::cin};
  io.interactive = !o.detach && o.in == nullptr && isatty(STDIN_FILENO);
  io.json = o.json;
  io.color = ColorTerminal(o.env, o.out);
  io.env = o.env;
  if (o.action == "list") return List(**store, o, out, err);
  if (o.action == "show") return Show(**store, o, io);
  if (o.action == "history") return History(**store, o, out, err);
  if (o.action == "resume") return Resume(**store, o, io);
  if (o.action == "fork") return Fork(**store, o, out, err);
  if (o.action == "rm") return Remove(**store, o, out, err);
  return Fail(err, "threads", InvalidArgument("unknown action '" + o.action + "'"));
}

}  // namespace kiln::agent
