#include "kiln/agent/commands.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "command_util.h"
#include "kiln/agent/agent.h"
#include "kiln/agent/humaneval.h"
#include "kiln/agent/tracing.h"
#include "kiln/base/strings.h"
#include "project.h"
#include "thread_runner.h"

namespace kiln::agent {
namespace {

// Runs the agent with the progress printer and, when tracing is on, the tracing observer.
Result<AgentResult> RunObserved(llm::Provider& provider, Executor& executor, const Task& task,
                                const AgentOptions& options, std::ostream& err, bool scripted) {
  ProgressPrinter progress(err, scripted);
  std::optional<TracingObserver> tracing;
  if (trace::Tracer tracer = trace::GlobalTracer(); tracer.enabled())
    tracing.emplace(std::move(tracer), TracingInfoFor(provider));
  ObserverList observers({&progress, tracing ? &*tracing : nullptr});
  return RunAgent(provider, executor, task, options, &observers);
}

}  // namespace

int RunAgentCommand(const AgentCommandOptions& o) {
  std::ostream& out = o.out ? *o.out : std::cout;
  std::ostream& err = o.err ? *o.err : std::cerr;
  if (Trim(o.task).empty()) return Fail(err, "agent", InvalidArgument("the task is empty"));
  if (o.max_attempts < 1) return Fail(err, "agent", InvalidArgument("--max-attempts must be >= 1"));
  auto review = ParseReviewPoint(o.review);
  if (!review.ok()) return Fail(err, "agent", review.status());
  const bool as_thread = *review != ReviewPoint::kNever || o.budget.max_tokens > 0 ||
                         o.budget.max_cost_usd > 0 || o.budget.max_time_ms > 0;
  TraceSession tracing(o.env, o.trace, o.trace_out, err);  // flushes (bounded) when the command returns
  std::unique_ptr<Executor> own_executor;
  Executor* executor = o.executor;
  if (executor == nullptr) {
    if (!HaveSandboxRuntime())
      return Fail(err, "agent", Unavailable("this kiln build has no sandbox runtime"));
    own_executor = MakeSandboxExecutor();
    executor = own_executor.get();
  }
  Task task;
  task.prompt = o.task;
  if (!o.tests_file.empty()) {
    auto tests = ReadTextFile(o.tests_file);
    if (!tests.ok()) return Fail(err, "agent", tests.status().WithContext("--tests"));
    task.tests = *tests;
  }
  auto model = ResolveModel(o.model, o.env, err);
  if (!model.ok()) return Fail(err, "agent", model.status());
  auto provider = MakeModel(*model, o.env);
  if (!provider.ok()) return Fail(err, "agent", provider.status());
  const bool scripted = IsScripted(**provider);
  if (as_thread) return RunAgentThread(o, task, *model, **provider, *executor, out, err);

  AgentOptions options;
  options.max_attempts = o.max_attempts;
  options.timeout_ms = o.timeout_ms;
  auto result = RunObserved(**provider, *executor, task, options, err, scripted);
  if (!result.ok()) return Fail(err, "agent", result.status());

  if (!o.out_dir.empty()) {
    auto archive = WriteAgentProject(*result, o.out_dir, scripted);
    if (!archive.ok()) return Fail(err, "agent", archive.status().WithContext("--out"));
    err << "kiln agent: wrote " << o.out_dir << "/ (main.py, README.md, requirements.txt, metadata.json) and "
        << *archive << "\n";
  }
  if (o.json) {
    nlohmann::json j = ToJson(*result);
    j["scripted"] = scripted;
    if (scripted) j["note"] = "scripted model, offline demo";
    out << j.dump(2) << "\n";
  } else {
    PrintAgentText(*result, scripted, out);
  }
  return result->success ? kExitOk : kExitUnsolved;
}

namespace {

void PrintBenchSummary(const HumanEvalReport& r, bool scripted, std::ostream& out) {
  const std::string note = scripted ? " " + std::string(kScriptedNote) : "";
  out << "HumanEval: " << r.problems << " problems, model " << r.model << note << ", up to " << r.attempts
      << " attempt(s)\n";
  for (int k = 1; k <= r.attempts; ++k) {
    out << "  pass rate within " << k << " attempt" << (k == 1 ? " " : "s") << ": " << r.solved_within[k - 1]
        << "/" << r.problems << " (" << Fixed(100.0 * r.PassRate(k), 1) << "%)\n";
  }
  out << "  tokens: " << r.usage.input_tokens << " in / " << r.usage.output_tokens << " out\n"
      << "  cost: " << (scripted || r.model == "canonical" ? "$0" : CostText(r.cost_usd, r.cost_known))
      << "\n"
      << "  wall time: " << Seconds(r.wall_ms) << "\n";
  if (r.errors > 0) out << "  errors (Kiln, not the model): " << r.errors << " problem(s); see the JSONL\n";
}

Status WriteJsonl(const std::string& path, const HumanEvalReport& r) {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return ErrnoStatus("open " + path, errno);
  for (const HumanEvalResult& res : r.results) f << ToJson(res).dump() << "\n";
  f.flush();
  if (!f) return ErrnoStatus("write " + path, errno);
  return Status::Ok();
}

}  // namespace

int RunBenchHumanEvalCommand(const BenchCommandOptions& o) {
  std::ostream& out = o.out ? *o.out : std::cout;
  std::ostream& err = o.err ? *o.err : std::cerr;
  TraceSession tracing(o.env, false, nullptr, err);  // one invoke_agent trace per problem when configured
  std::unique_ptr<Executor> own_executor;
  Executor* executor = o.executor;
  if (executor == nullptr) {
    if (!HaveSandboxRuntime())
      return Fail(err, "bench", Unavailable("this kiln build has no sandbox runtime"));
    own_executor = MakeSandboxExecutor();
    executor = own_executor.get();
  }
  std::string data = o.data_file;
  if (data.empty()) data = Env(o.env, "KILN_HUMANEVAL").value_or(DefaultHumanEvalPath());
  auto problems = LoadHumanEval(data);
  if (!problems.ok()) return Fail(err, "bench", problems.status());

  std::unique_ptr<llm::Provider> provider;
  if (o.model == "canonical") {
    provider = MakeCanonicalProvider(&*problems);
  } else {
    auto model = ResolveModel(o.model, o.env, err);
    if (!model.ok()) return Fail(err, "bench", model.status());
    auto made = MakeModel(*model, o.env);
    if (!made.ok()) return Fail(err, "bench", made.status());
    provider = std::move(made).value();
  }
  const bool scripted = IsScripted(*provider);
  HumanEvalOptions options;
  options.attempts = o.attempts;
  options.limit = o.limit;
  options.jobs = o.jobs;
  options.timeout_ms = o.timeout_ms;
  auto progress = [&err](const HumanEvalResult& r, int done, int total) {
    err << "[" << done << "/" << total << "] " << r.task_id << " "
        << (r.passed           ? "passed at attempt " + std::to_string(r.solved_at)
            : !r.error.empty() ? "error: " + r.error
                               : "failed")
        << " (" << Seconds(r.run.duration_ms) << ")\n";
  };
  auto report = RunHumanEval(*problems, *provider, *executor, options, progress);
  if (!report.ok()) return Fail(err, "bench", report.status());
  PrintBenchSummary(*report, scripted, out);
  if (!o.out_file.empty()) {
    if (Status st = WriteJsonl(o.out_file, *report); !st.ok()) return Fail(err, "bench", st);
    err << "kiln bench: wrote " << report->results.size() << " results to " << o.out_file << "\n";
  }
  return report->errors > 0 ? kExitKilnError : kExitOk;
}

}  // namespace kiln::agent
