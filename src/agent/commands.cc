#include "kiln/agent/commands.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "kiln/agent/agent.h"
#include "kiln/agent/humaneval.h"
#include "kiln/agent/tracing.h"
#include "kiln/base/strings.h"
#include "project.h"

namespace kiln::agent {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUnsolved = 1;
constexpr int kExitKilnError = 125;
constexpr std::string_view kScriptedNote = "(scripted model, offline demo)";
constexpr std::string_view kDemoCommand =
    "kiln agent \"Print the first 10 prime numbers\" --model script:examples/agent/demo.script";

// With no model named, a key in the environment picks that provider's inexpensive default.
constexpr std::pair<std::string_view, std::string_view> kDefaultModelByKey[] = {
    {"OPENAI_API_KEY", "openai:gpt-4o-mini"},
    {"ANTHROPIC_API_KEY", "anthropic:claude-haiku-4-5"},
    {"GEMINI_API_KEY", "gemini:gemini-2.5-flash"},
};

std::optional<std::string> Env(const llm::EnvLookup& env, const std::string& name) {
  if (env) return env(name);
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string Seconds(int64_t ms) {
  return ms < 1000 ? std::to_string(ms) + " ms" : Fixed(static_cast<double>(ms) / 1000.0, 1) + " s";
}

std::string CostText(double usd, bool known) {
  return known ? "$" + Fixed(usd, 4) : "$" + Fixed(usd, 4) + " (model not in the price table)";
}

// Resolves the model string: the flag, else $KILN_MODEL, else a default for an available key.
Result<std::string> ResolveModel(const std::string& flag, const llm::EnvLookup& env, std::ostream& err) {
  if (!flag.empty()) return flag;
  if (auto m = Env(env, "KILN_MODEL")) return *m;
  for (const auto& [key, model] : kDefaultModelByKey) {
    if (Env(env, std::string(key))) {
      err << "kiln: no model named; using " << model << " because " << key
          << " is set (choose with --model or KILN_MODEL)\n";
      return std::string(model);
    }
  }
  return FailedPrecondition(
      "no model: pass --model M or set KILN_MODEL (e.g. openai:gpt-4o with OPENAI_API_KEY set).\n"
      "No API key is set either. To try Kiln offline with the scripted demo model, run:\n  " +
      std::string(kDemoCommand));
}

Result<std::unique_ptr<llm::Provider>> MakeModel(const std::string& model, const llm::EnvLookup& env) {
  llm::ProviderOptions po;
  po.env = env;
  auto provider = llm::MakeProvider(model, po);
  if (!provider.ok() && provider.status().code() == Code::kFailedPrecondition) {
    return Status(provider.status().code(),
                  provider.status().message() +
                      "\nTo try Kiln offline with the scripted demo model, run:\n  " +
                      std::string(kDemoCommand));
  }
  return provider;
}

bool IsScripted(const llm::Provider& p) {
  return p.provider_name() == "script";
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Progress on stderr: one line per step of each attempt.
class ProgressPrinter : public AgentObserver {
 public:
  ProgressPrinter(std::ostream& err, bool scripted) : err_(err), scripted_(scripted) {}

  void OnRunStart(const Task&, const AgentOptions& options, std::string_view model) override {
    err_ << "kiln agent: model " << model << (scripted_ ? " " + std::string(kScriptedNote) : "") << ", up to "
         << options.max_attempts << " attempt(s)\n";
  }
  void OnAttemptStart(int attempt, int max_attempts) override {
    prefix_ = "[attempt " + std::to_string(attempt) + "/" + std::to_string(max_attempts) + "] ";
  }
  void OnModelCallStart(int, const llm::ChatRequest&) override { err_ << prefix_ << "generating...\n"; }
  void OnExecutionStart(int, const ExecRequest&) override { err_ << prefix_ << "running the code...\n"; }
  void OnAttemptEnd(const Attempt& a) override {
    err_ << prefix_ << VerdictName(a.verdict.kind)
         << (a.verdict.passed() ? std::string() : ": " + a.verdict.summary) << " (model "
         << Seconds(a.model_ms) << ", run " << Seconds(a.execution_ms) << ")\n";
  }

 private:
  std::ostream& err_;
  bool scripted_;
  std::string prefix_;
};

void PrintAgentText(const AgentResult& r, bool scripted, std::ostream& out) {
  const std::string note = scripted ? " " + std::string(kScriptedNote) : "";
  if (!r.final_code.empty()) {
    out << "=== code (attempt " << r.attempts << "/" << r.max_attempts << ")" << note << " ===\n"
        << r.final_code << (r.final_code.back() == '\n' ? "" : "\n");
    out << "=== output ===\n"
        << r.final_stdout << (r.final_stdout.empty() || r.final_stdout.back() == '\n' ? "" : "\n");
  }
  if (r.success) {
    out << "=== solved at attempt " << r.attempts << " of " << r.max_attempts;
  } else {
    out << "=== NOT solved after " << r.attempts << " attempt(s)";
    if (const Attempt* last = r.last()) out << "; last verdict: " << last->verdict.summary;
  }
  out << " | tokens " << r.usage.input_tokens << " in / " << r.usage.output_tokens << " out | cost "
      << (scripted ? "$0" : CostText(r.cost_usd, r.cost_known)) << " | " << Seconds(r.duration_ms) << note
      << " ===\n";
}

int Fail(std::ostream& err, std::string_view command, const Status& st) {
  err << "kiln " << command << ": error: " << st.message() << "\n";
  return kExitKilnError;
}

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
