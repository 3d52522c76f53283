#include "kiln/agent/humaneval.h"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>

#include "kiln/agent/tracing.h"
#include "kiln/base/clock.h"
#include "kiln/base/install_paths.h"
#include "kiln/base/strings.h"

namespace kiln::agent {

Result<std::string> ReadMaybeGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return ErrnoStatus("open " + path, errno ? errno : ENOENT);
  std::string data;
  char buf[64 * 1024];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
  int zerr = Z_OK;
  const std::string err = n < 0 ? gzerror(f, &zerr) : "";
  gzclose(f);
  if (n < 0) return InvalidArgument("read " + path + ": " + err);
  return data;
}

namespace {

Result<HumanEvalProblem> ParseProblem(const std::string& line, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument(where + ": not a JSON object");
  HumanEvalProblem p;
  const std::pair<const char*, std::string*> fields[] = {{"task_id", &p.task_id},
                                                         {"prompt", &p.prompt},
                                                         {"canonical_solution", &p.canonical_solution},
                                                         {"test", &p.test},
                                                         {"entry_point", &p.entry_point}};
  for (const auto& [name, dest] : fields) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string())
      return InvalidArgument(where + ": missing string field '" + name + "'");
    *dest = it->get<std::string>();
  }
  return p;
}

class CanonicalProvider : public llm::Provider {
 public:
  explicit CanonicalProvider(const std::vector<HumanEvalProblem>* problems)
      : Provider("canonical", "canonical", "canonical"), problems_(problems) {}

 protected:
  Result<llm::ChatResponse> ChatImpl(const llm::ChatRequest& request, llm::CallInfo& info) override {
    info.attempts = 1;
    if (request.messages.empty()) return InvalidArgument("canonical: no messages");
    const std::string& first = request.messages.front().text;
    for (const HumanEvalProblem& p : *problems_) {
      if (first.find(p.prompt) == std::string::npos) continue;
      llm::ChatResponse r;
      r.text = "```python\n" + CanonicalProgram(p) + "```\n";
      r.finish_reason = "stop";
      r.finish = llm::Finish::kStop;
      r.response_model = "canonical";
      return r;
    }
    return NotFound("canonical: the request matches no HumanEval problem's prompt");
  }

 private:
  const std::vector<HumanEvalProblem>* problems_;
};

HumanEvalResult RunOne(const HumanEvalProblem& problem, llm::Provider& provider, Executor& executor,
                       const AgentOptions& options) {
  HumanEvalResult out;
  out.task_id = problem.task_id;
  std::optional<TracingObserver> tracing;  // one invoke_agent trace per problem when tracing is on
  if (trace::Tracer tracer = trace::GlobalTracer(); tracer.enabled())
    tracing.emplace(std::move(tracer), TracingInfoFor(provider));
  Result<AgentResult> run =
      RunAgent(provider, executor, MakeHumanEvalTask(problem), options, tracing ? &*tracing : nullptr);
  if (!run.ok()) {
    out.error = run.status().ToString();
    return out;
  }
  out.run = std::move(run).value();
  out.passed = out.run.success;
  if (out.passed) out.solved_at = out.run.attempts;
  return out;
}

void Accumulate(const HumanEvalResult& r, HumanEvalReport* report) {
  if (!r.error.empty()) ++report->errors;
  for (int k = std::max(r.solved_at, 1) - 1; r.passed && k < report->attempts; ++k)
    ++report->solved_within[k];
  report->usage += r.run.usage;
  report->cost_usd += r.run.cost_usd;
  if (r.error.empty() && !r.run.cost_known) report->cost_known = false;
}

}  // namespace

Result<std::vector<HumanEvalProblem>> LoadHumanEval(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string data, ReadMaybeGzip(path));
  std::vector<HumanEvalProblem> problems;
  int number = 0;
  for (const std::string& line : Split(data, '\n')) {
    ++number;
    if (Trim(line).empty()) continue;
    KILN_ASSIGN_OR_RETURN(HumanEvalProblem p, ParseProblem(line, path + ":" + std::to_string(number)));
    problems.push_back(std::move(p));
  }
  if (problems.empty()) return InvalidArgument(path + ": no problems");
  return problems;
}

std::string DefaultHumanEvalPath() {
  return DataDir() + "/humaneval/HumanEval.jsonl.gz";
}

Task MakeHumanEvalTask(const HumanEvalProblem& problem) {
  Task t;
  t.id = problem.task_id;
  t.prompt =
      "Complete the following Python function. Reply with the complete function (its signature, body and "
      "any imports it needs) in a single ```python block.\n\n```python\n" +
      problem.prompt + "```";
  t.tests = problem.test + "\n\ncheck(" + problem.entry_point + ")\n";
  t.show_tests = false;
  t.stub = problem.prompt;
  t.entry_point = problem.entry_point;
  return t;
}

std::string CanonicalProgram(const HumanEvalProblem& problem) {
  return problem.prompt + problem.canonical_solution;
}

std::unique_ptr<llm::Provider> MakeCanonicalProvider(const std::vector<HumanEvalProblem>* problems) {
  return std::make_unique<CanonicalProvider>(problems);
}

double HumanEvalReport::PassRate(int k) const {
  if (problems == 0 || k < 1 || solved_within.empty()) return 0;
  const int idx = std::min<int>(k, static_cast<int>(solved_within.size())) - 1;
  return static_cast<double>(solved_within[idx]) / problems;
}

Result<HumanEvalReport> RunHumanEval(const std::vector<HumanEvalProblem>& problems, llm::Provider& provider,
                                     Executor& executor, const HumanEvalOptions& options,
                                     const HumanEvalProgress& progress) {
  if (options.attempts < 1) return InvalidArgument("humaneval: attempts must be >= 1");
  if (options.jobs < 1) return InvalidArgument("humaneval: jobs must be >= 1");
  const size_t count = options.limit > 0 ? std::min<size_t>(options.limit, problems.size()) : problems.size();
  AgentOptions agent = options.agent;
  agent.max_attempts = options.attempts;
  agent.timeout_ms = options.timeout_ms;

  HumanEvalReport report;
  report.model = provider.model();
  report.problems = static_cast<int>(count);
  report.attempts = options.attempts;
  report.solved_within.assign(options.attempts, 0);
  report.results.resize(count);
  const int64_t start = MonotonicMillis();
  std::atomic<size_t> next{0};
  std::mutex mu;
  int done = 0;
  auto worker = [&] {
    for (size_t i = next++; i < count; i = next++) {
      HumanEvalResult r = RunOne(problems[i], provider, executor, agent);
      std::lock_guard<std::mutex> lock(mu);
      Accumulate(r, &report);
      report.results[i] = std::move(r);
      if (progress) progress(report.results[i], ++done, static_cast<int>(count));
    }
  };
  std::vector<std::thread> threads;
  const int jobs = std::min<int>(options.jobs, std::max<int>(1, static_cast<int>(count)));
  for (int j = 0; j < jobs; ++j) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  report.wall_ms = MonotonicMillis() - start;
  return report;
}

nlohmann::json ToJson(const HumanEvalResult& r) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const Attempt& a : r.run.history) {
    attempts.push_back({{"attempt", a.number},
                        {"verdict", VerdictName(a.verdict.kind)},
                        {"summary", a.verdict.summary},
                        {"code", a.code}});
  }
  nlohmann::json j = {{"task_id", r.task_id},
                      {"passed", r.passed},
                      {"solved_at", r.solved_at},
                      {"attempts", r.run.attempts},
                      {"completion", r.run.final_code},
                      {"history", std::move(attempts)},
                      {"usage", ToJson(r.run.usage)},
                      {"cost_usd", r.run.cost_usd},
                      {"duration_ms", r.run.duration_ms}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

nlohmann::json SummaryJson(const HumanEvalReport& r) {
  nlohmann::json pass = nlohmann::json::array();
  for (int k = 1; k <= r.attempts; ++k) pass.push_back(r.PassRate(k));
  return {{"model", r.model},           {"problems", r.problems},
          {"attempts", r.attempts},     {"solved_within", r.solved_within},
          {"pass_rate_within", pass},   {"errors", r.errors},
          {"usage", ToJson(r.usage)},   {"cost_usd", r.cost_usd},
          {"cost_known", r.cost_known}, {"wall_ms", r.wall_ms}};
}

}  // namespace kiln::agent
