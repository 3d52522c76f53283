// HumanEval benchmark harness: load the problems, run the coding agent on each (in parallel), and score.
//
// Each problem's prompt (a Python function signature and docstring) goes to the model; the answer may be the
// whole function or only its body (if it does not define the entry point, the prompt is prepended, as
// common harnesses do). The program runs with the problem's `test` code and `check(<entry_point>)` in the
// same process, in a fresh sandbox with a timeout; failing tests are fed back for the next attempt.
// Dataset: testdata/humaneval/HumanEval.jsonl.gz (OpenAI, MIT licence, 164 problems).
//
// Thread-safety: RunHumanEval uses `jobs` threads; the provider and executor must be thread-safe (both
// interfaces require it). The progress callback is called with an internal mutex held, one call at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/agent/agent.h"

namespace kiln::agent {

struct HumanEvalProblem {
  std::string task_id;  // "HumanEval/0"
  std::string prompt;
  std::string canonical_solution;
  std::string test;  // defines check(candidate)
  std::string entry_point;
};

// A whole file, gunzipped when it is gzip-compressed (zlib passes other input through unchanged).
Result<std::string> ReadMaybeGzip(const std::string& path);

// Reads a HumanEval JSON Lines file, gzip-compressed or not. NotFound if unreadable; InvalidArgument naming
// the line for a malformed line or a missing field.
Result<std::vector<HumanEvalProblem>> LoadHumanEval(const std::string& path);

// Kiln's bundled copy: DataDir()/humaneval/HumanEval.jsonl.gz (base/install_paths.h).
std::string DefaultHumanEvalPath();

// The agent task for a problem: the model-facing prompt, tests = test + "check(entry_point)" (not shown to
// the model), stub = prompt, entry_point.
Task MakeHumanEvalTask(const HumanEvalProblem& problem);

// The canonical program: prompt + canonical_solution.
std::string CanonicalProgram(const HumanEvalProblem& problem);

// The pseudo-model "canonical": answers each problem (found by its prompt in the first user message) with its
// canonical program in a ```python block; usage 0. Provider name "canonical". Thread-safe. `problems` must
// outlive the provider.
std::unique_ptr<llm::Provider> MakeCanonicalProvider(const std::vector<HumanEvalProblem>* problems);

struct HumanEvalOptions {
  int attempts = 3;             // attempts per problem (the agent's max_attempts)
  int limit = 0;                // only the first N problems; 0 = all
  int jobs = 1;                 // problems run in parallel
  int64_t timeout_ms = 10'000;  // per execution
  AgentOptions agent;           // other agent options (max_attempts and timeout_ms are overridden)
};

struct HumanEvalResult {
  std::string task_id;
  bool passed = false;
  int solved_at = 0;  // attempt that passed, 0 if none
  std::string error;  // Kiln's own error that stopped this problem, "" if none
  AgentResult run;    // empty when `error` is set
};

// One JSON object per problem (a line of the per-problem JSONL): task_id, passed, solved_at, attempts, error,
// completion (final code), per-attempt verdicts {attempt, verdict, summary, code}, usage, cost_usd,
// duration_ms.
nlohmann::json ToJson(const HumanEvalResult& r);

struct HumanEvalReport {
  std::string model;
  int problems = 0;
  int attempts = 0;
  std::vector<int> solved_within;  // [k] = problems solved within k+1 attempts
  int errors = 0;                  // problems stopped by a Kiln error
  llm::Usage usage;
  double cost_usd = 0;
  bool cost_known = true;
  int64_t wall_ms = 0;
  std::vector<HumanEvalResult> results;  // in dataset order
  double PassRate(int k) const;          // fraction solved within k attempts (1-based); 0 with no problems
};

nlohmann::json SummaryJson(const HumanEvalReport& r);

using HumanEvalProgress = std::function<void(const HumanEvalResult& result, int done, int total)>;

// Runs the benchmark. Success: the report (problems may fail or error individually). Failure:
// InvalidArgument for bad options (attempts < 1, jobs < 1).
Result<HumanEvalReport> RunHumanEval(const std::vector<HumanEvalProblem>& problems, llm::Provider& provider,
                                     Executor& executor, const HumanEvalOptions& options,
                                     const HumanEvalProgress& progress = {});

}  // namespace kiln::agent
