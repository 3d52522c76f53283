#include "thread_runner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "command_util.h"
#include "kiln/agent/tracing.h"
#include "kiln/base/clock.h"
#include "kiln/base/strings.h"
#include "kiln/llm/script.h"

namespace kiln::agent {
namespace {

using nlohmann::json;
using workflow::RunOutcome;
using workflow::ThreadStatus;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines = Split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

bool IsKeyword(std::string_view w) {
  static constexpr std::string_view kWords[] = {
      "and",  "as",     "assert", "async",  "await",  "break",   "class",    "continue", "def",
      "del",  "elif",   "else",   "except", "False",  "finally", "for",      "from",     "global",
      "if",   "import", "in",     "is",     "lambda", "None",    "nonlocal", "not",      "or",
      "pass", "raise",  "return", "True",   "try",    "while",   "with",     "yield"};
  for (std::string_view k : kWords) {
    if (k == w) return true;
  }
  return false;
}

// Python keywords bold blue, strings green, comments grey (a line at a time: good enough for review).
std::string Highlight(const std::string& line) {
  std::string out;
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '#') {
      out += "\033[90m" + line.substr(i) + "\033[0m";
      break;
    }
    if (c == '"' || c == '\'') {
      size_t end = i + 1;
      while (end < line.size() && line[end] != c) end += line[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, line.size());
      out += "\033[32m" + line.substr(i, end - i) + "\033[0m";
      i = end;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = i;
      while (end < line.size() && (std::isalnum(static_cast<unsigned char>(line[end])) || line[end] == '_'))
        ++end;
      const std::string word = line.substr(i, end - i);
      out += IsKeyword(word) ? "\033[1;34m" + word + "\033[0m" : word;
      i = end;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

void PrintCode(const std::string& code, ThreadIo& io) {
  int n = 0;
  for (const std::string& line : SplitLines(code)) {
    char num[16];
    std::snprintf(num, sizeof num, "%4d | ", ++n);
    io.out << num << (io.color ? Highlight(line) : line) << "\n";
  }
}

void PrintBlock(const std::string& title, const std::string& text, ThreadIo& io) {
  io.out << "--- " << title << " ---\n" << text << (text.empty() || text.back() == '\n' ? "" : "\n");
}

void PrintHowToAnswer(const std::string& id, ThreadIo& io) {
  io.out << "The thread waits for your review. Answer with one of:\n"
         << "  kiln threads resume " << id << " --approve\n"
         << "  kiln threads resume " << id << " --edit FILE        (your code, then run)\n"
         << "  kiln threads resume " << id << " --reject REASON\n"
         << "  kiln threads resume " << id << " --feedback TEXT    (to the model, for another attempt)\n";
}

Result<std::string> EditInEditor(const std::string& code, ThreadIo& io) {
  char path[] = "/tmp/kiln-review-XXXXXX.py";
  const int fd = mkstemps(path, 3);
  if (fd < 0) return ErrnoStatus("mkstemps", errno);
  close(fd);
  {
    std::ofstream f(path, std::ios::trunc);
    f << code;
  }
  const std::string editor = Env(io.env, "VISUAL").value_or(Env(io.env, "EDITOR").value_or("vi"));
  const int rc = std::system((editor + " '" + path + "'").c_str());
  Result<std::string> edited = ReadTextFile(path);
  unlink(path);
  if (rc != 0)
    return FailedPrecondition("the editor '" + editor + "' exited with status " + std::to_string(rc));
  return edited;
}

std::optional<std::string> ReadLine(ThreadIo& io, const std::string& prompt) {
  io.out << prompt << std::flush;
  std::string line;
  if (!std::getline(io.in, line)) return std::nullopt;
  return std::string(Trim(line));
}

// Asks until a valid answer comes; nullopt when the user quits or input ends (the thread keeps waiting).
std::optional<json> AskInTerminal(const json& question, ThreadIo& io) {
  while (true) {
    std::optional<std::string> choice = ReadLine(
        io, "Answer: [a]pprove, [e]dit in $EDITOR, [r]eject, [f]eedback, [q]uit (the thread waits): ");
    if (!choice || *choice == "q") return std::nullopt;
    ReviewAnswer answer;
    if (*choice == "a") {
      answer.action = ReviewAnswer::Action::kApprove;
    } else if (*choice == "e") {
      Result<std::string> code = EditInEditor(Str(question, "code"), io);
      if (!code.ok()) {
        io.err << "kiln: " << code.status().message() << "\n";
        continue;
      }
      answer = {ReviewAnswer::Action::kEdit, *code};
    } else if (*choice == "r" || *choice == "f") {
      std::optional<std::string> text =
          ReadLine(io, *choice == "r" ? "Reason: " : "Feedback for the model: ");
      if (!text) return std::nullopt;
      answer = {*choice == "r" ? ReviewAnswer::Action::kReject : ReviewAnswer::Action::kFeedback, *text};
    } else {
      continue;
    }
    if (Status valid = ParseReviewAnswer(ToJson(answer)).status(); !valid.ok()) {
      io.err << "kiln: " << valid.message() << "\n";
      continue;
    }
    return ToJson(answer);
  }
}

// The end of a run: the result, or why it stopped, with what to do next.
int Report(const std::string& id, const RunOutcome& outcome, bool scripted, ThreadIo& io) {
  if (outcome.status == ThreadStatus::kStopped || outcome.status == ThreadStatus::kFailed) {
    const bool stopped = outcome.status == ThreadStatus::kStopped;
    if (io.json) {
      io.out << json{{"thread_id", id},
                     {"status", ThreadStatusName(outcome.status)},
                     {"reason", outcome.reason}}
                    .dump(2)
             << "\n";
    }
    io.err << "kiln: thread " << id << " " << (stopped ? "stopped" : "failed") << ": " << outcome.reason
           << "\nResume it with: kiln threads resume " << id
           << (stopped ? " [--max-tokens N] [--max-cost USD] [--max-time S]" : "") << "\n";
    return stopped ? kExitStopped : kExitKilnError;
  }
  const AgentResult result = ResultFromState(outcome.state);
  const std::string verdict = Str(outcome.state, "outcome");
  if (io.json) {
    json j = ToJson(result);
    j["thread_id"] = id;
    j["outcome"] = verdict;
    if (verdict == "rejected") j["reason"] = Str(outcome.state, "reason");
    j["scripted"] = scripted;
    io.out << j.dump(2) << "\n";
  } else if (verdict == "rejected") {
    io.out << "=== rejected by the reviewer: " << Str(outcome.state, "reason") << " (thread " << id
           << ") ===\n";
  } else {
    PrintAgentText(result, scripted, io.out);
  }
  if (!Str(outcome.state["package"], "dir").empty()) {
    io.err << "kiln agent: wrote " << Str(outcome.state["package"], "dir")
           << "/ (main.py, README.md, requirements.txt, metadata.json) and "
           << Str(outcome.state["package"], "archive") << "\n";
  }
  if (verdict == "rejected") return kExitRejected;
  return result.success ? kExitOk : kExitUnsolved;
}

// Observers and graph for one process's part of a thread's run.
struct Session {
  ProgressPrinter progress;
  std::optional<TracingObserver> tracing;
  std::unique_ptr<ObserverList> observers;
  workflow::Graph graph;
  int64_t started_ms = MonotonicMillis();

  Session(ThreadRunner& runner, bool scripted) : progress(runner.io.err, scripted) {
    if (trace::Tracer tracer = trace::GlobalTracer(); tracer.enabled() && runner.provider)
      tracing.emplace(std::move(tracer), TracingInfoFor(*runner.provider));
    observers =
        std::make_unique<ObserverList>(std::vector<AgentObserver*>{&progress, tracing ? &*tracing : nullptr});
  }

  Status Build(ThreadRunner& runner) {
    WorkflowDeps deps;
    deps.provider = runner.provider;
    deps.executor = runner.executor;
    deps.observer = observers.get();
    KILN_ASSIGN_OR_RETURN(graph, BuildCodingGraph(deps));
    return Status::Ok();
  }

  workflow::EngineOptions Options() const {
    workflow::EngineOptions options;
    const int64_t start = started_ms;
    options.stop_before_step = [start](const json& state) {
      return BudgetExceeded(state, MonotonicMillis() - start);
    };
    return options;
  }

  void RunStart(const json& state) {
    const AgentResult r = ResultFromState(state);
    AgentOptions options;
    options.max_attempts = r.max_attempts;
    observers->OnRunStart(r.task, options, r.model);
  }
};

// Asks in the terminal while the thread waits and the session is interactive, then reports.
int Drive(ThreadRunner& runner, workflow::Engine& engine, Session& session, const std::string& id,
          Result<RunOutcome> outcome) {
  ThreadIo& io = runner.io;
  bool scripted = runner.provider && IsScripted(*runner.provider);
  while (outcome.ok() && outcome->status == ThreadStatus::kInterrupted) {
    if (io.json && !io.interactive) {
      io.out << json{{"thread_id", id}, {"status", "interrupted"}, {"question", outcome->question}}.dump(2)
             << "\n";
      return kExitWaiting;
    }
    PrintQuestion(id, outcome->question, io);
    std::optional<json> answer = io.interactive ? AskInTerminal(outcome->question, io) : std::nullopt;
    if (!answer) {
      PrintHowToAnswer(id, io);
      return kExitWaiting;
    }
    outcome = engine.Resume(id, *answer);
  }
  Result<AgentResult> result = outcome.ok() ? Result<AgentResult>(ResultFromState(outcome->state))
                                            : Result<AgentResult>(outcome.status());
  session.observers->OnRunEnd(result);
  if (!outcome.ok()) return Fail(io.err, "threads", outcome.status());
  return Report(id, *outcome, scripted, io);
}

}  // namespace

Result<std::unique_ptr<workflow::CheckpointStore>> OpenThreadStore(const llm::EnvLookup& env) {
  std::string home = Env(env, "KILN_HOME").value_or(Env(env, "HOME").value_or("/root") + "/.kiln");
  if (mkdir(home.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir(" + home + ")", errno);
  return workflow::OpenSqliteCheckpointStore(home + "/threads.db");
}

Result<std::unique_ptr<llm::Provider>> ProviderForThread(const WorkflowConfig& config,
                                                         workflow::CheckpointStore& store,
                                                         const std::string& thread_id,
                                                         const llm::EnvLookup& env) {
  if (!StartsWith(config.model, "script:")) return MakeModel(config.model, env);
  KILN_ASSIGN_OR_RETURN(std::vector<workflow::StepRecord> steps, store.Steps(thread_id));
  size_t answered = 0;
  for (const workflow::StepRecord& step : steps) answered += step.node == "generate" && step.done ? 1 : 0;
  return llm::MakeScriptProvider(config.model.substr(7), answered);
}

std::string LineDiff(const std::string& before, const std::string& after) {
  if (before == after) return "";
  const std::vector<std::string> a = SplitLines(before), b = SplitLines(after);
  // Longest common subsequence table, from the ends (review-sized code: a few hundred lines).
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "  " + a[i++] + "\n";
      ++j;
    } else if (j < b.size() && (i == a.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out += "+ " + b[j++] + "\n";
    } else {
      out += "- " + a[i++] + "\n";
    }
  }
  return out;
}

void PrintQuestion(const std::string& id, const json& question, ThreadIo& io) {
  const std::string at = Str(question, "at");
  io.out << "=== review " << at << ": thread " << id << ", attempt " << question.value("attempt", 0) << "/"
         << question.value("max_attempts", 0) << " ===\n";
  io.out << "--- code (by the " << Str(question, "author") << ") ---\n";
  PrintCode(Str(question, "code"), io);
  const std::string previous = Str(question, "previous_code");
  if (!previous.empty()) {
    const std::string diff = LineDiff(previous, Str(question, "code"));
    if (!diff.empty()) PrintBlock("changes from the previous code", diff, io);
  }
  if (at == "after-run") {
    const json verdict = question.value("verdict", json::object());
    PrintBlock("output (verdict: " + Str(verdict, "verdict") +
                   (verdict.value("passed", false) ? "" : ", " + Str(verdict, "summary")) + ")",
               Str(question, "stdout"), io);
    if (!Str(question, "stderr").empty()) PrintBlock("stderr", Str(question, "stderr"), io);
  }
}

int StartThread(ThreadRunner& runner, const std::string& thread_id, const json& input) {
  const bool scripted = runner.provider && IsScripted(*runner.provider);
  Session session(runner, scripted);
  if (Status built = session.Build(runner); !built.ok()) return Fail(runner.io.err, "agent", built);
  workflow::Engine engine(session.graph, runner.store, session.Options());
  runner.io.err << "kiln agent: thread " << thread_id << " (see it with: kiln threads show " << thread_id
                << ")\n";
  json state = session.graph.InitialState();
  (void)session.graph.Apply(state, input);
  session.RunStart(state);
  return Drive(runner, engine, session, thread_id, engine.Start(thread_id, input));
}

int ResumeThread(ThreadRunner& runner, const std::string& thread_id, const std::optional<json>& answer,
                 const std::optional<Budget>& budget) {
  const bool scripted = runner.provider && IsScripted(*runner.provider);
  Session session(runner, scripted);
  if (Status built = session.Build(runner); !built.ok()) return Fail(runner.io.err, "threads", built);
  workflow::Engine engine(session.graph, runner.store, session.Options());
  auto info = runner.store.GetThread(thread_id);
  if (!info.ok()) return Fail(runner.io.err, "threads", info.status());
  auto head = runner.store.GetCheckpoint(thread_id, info->head);
  if (!head.ok()) return Fail(runner.io.err, "threads", head.status());
  if (budget) {
    // A new budget is a fork of the head with the limits replaced: the old limits stay in history.
    auto forked = engine.Fork(thread_id, head->id, WithBudget(head->state, *budget));
    if (!forked.ok()) return Fail(runner.io.err, "threads", forked.status());
  }
  std::optional<json> given = answer;
  if (head->status == ThreadStatus::kInterrupted && !given) {
    if (!runner.io.interactive) {
      return Fail(runner.io.err, "threads",
                  InvalidArgument("thread " + thread_id +
                                  " waits for a review: pass --approve, --edit FILE, --reject REASON or "
                                  "--feedback TEXT"));
    }
    PrintQuestion(thread_id, head->interrupt, runner.io);
    given = AskInTerminal(head->interrupt, runner.io);
    if (!given) {
      PrintHowToAnswer(thread_id, runner.io);
      return kExitWaiting;
    }
  }
  session.RunStart(head->state);
  return Drive(runner, engine, session, thread_id, engine.Resume(thread_id, given));
}

}  // namespace kiln::agent
