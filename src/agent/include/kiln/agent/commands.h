// Bodies of the `kiln agent` and `kiln bench humaneval` commands. The CLI parses flags into these option
// structs (see cli_commands.h) and calls the functions; they print and return the process exit code.
//
// Exit codes: 0 success; 1 the task was not solved within the attempts (agent only); 3 the thread waits for
// a review answer; 4 the reviewer rejected the code; 5 a budget stopped the thread; 125 Kiln's own error
// (bad flags, missing API key, model or sandbox failure, a conflicting resume), with the reason on stderr.
// Output: progress goes to `err` as the run advances; results go to `out`. With a scripted model every
// output says "(scripted model, offline demo)". Not thread-safe with respect to the streams passed in.
#pragma once

#include <cstdint>
#include <cstdio>
#include <iosfwd>
#include <optional>
#include <string>

#include "kiln/agent/coding_workflow.h"
#include "kiln/agent/executor.h"
#include "kiln/llm/provider.h"

namespace kiln::agent {

struct AgentCommandOptions {
  std::string task;             // the request (positional argument)
  std::string model;            // --model; empty: $KILN_MODEL
  int max_attempts = 3;         // --max-attempts
  std::string tests_file;       // --tests FILE: Python tests run after the code
  bool json = false;            // --json: print the AgentResult JSON on stdout instead of text
  std::string out_dir;          // --out DIR: write the project there and DIR.tar.gz next to it
  int64_t timeout_ms = 30'000;  // --timeout (seconds on the command line)
  bool trace = false;           // --trace: print the span tree on stderr at the end (see tracing.h)
  // --review never|before-run|after-run. Anything but never (or a budget) runs the coding workflow as a
  // thread in $KILN_HOME/threads.db (coding_workflow.h): asked in the terminal when stdin is one, else
  // the command stops at the question and prints the thread id and how to answer.
  std::string review = "never";
  bool detach = false;         // --detach: never ask in the terminal
  Budget budget;               // --max-tokens, --max-cost, --max-time
  std::istream* in = nullptr;  // default: std::cin (interactive when it is a terminal)
  // For tests and embedders; null/empty means the defaults below.
  Executor* executor = nullptr;  // default: MakeSandboxExecutor()
  llm::EnvLookup env;            // default: getenv (KILN_MODEL, API keys)
  std::ostream* out = nullptr;   // default: std::cout
  std::ostream* err = nullptr;   // default: std::cerr
  FILE* trace_out = nullptr;     // where --trace / OTEL_TRACES_EXPORTER=console print; default: stderr
};

// Tracing (OTEL_* variables read through `env`, see src/trace/README.md) is installed for the command's
// duration and flushed, at most 5 s, before it returns.
int RunAgentCommand(const AgentCommandOptions& options);

// `kiln threads list | show ID | history ID | resume ID ... | fork ID --checkpoint C | rm ID`: the
// coding-workflow threads in $KILN_HOME/threads.db. Text for people, or JSON with --json.
struct ThreadsCommandOptions {
  std::string action;  // list, show, history, resume, fork, rm
  std::string thread_id;
  bool json = false;
  // resume: at most one answer (an interrupted thread needs one unless stdin is a terminal)
  bool approve = false;
  std::string edit_file;      // --edit FILE: the code to run instead
  std::string reject_reason;  // --reject REASON
  std::string feedback;       // --feedback TEXT
  // --max-tokens / --max-cost / --max-time: new limits (a negative field keeps the thread's own)
  std::optional<Budget> budget;
  bool detach = false;
  int64_t checkpoint = 0;  // fork --checkpoint C
  Executor* executor = nullptr;
  llm::EnvLookup env;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::istream* in = nullptr;
};

// Exit codes as RunAgentCommand for resume; 0 / 125 for the others.
int RunThreadsCommand(const ThreadsCommandOptions& options);

struct BenchCommandOptions {
  std::string model;             // --model; "canonical" answers with the reference solutions
  int attempts = 3;              // --attempts
  int limit = 0;                 // --limit N (0 = all)
  int jobs = 1;                  // --jobs J
  std::string out_file;          // --out FILE.jsonl: one JSON object per problem, then nothing else
  std::string data_file;         // --data FILE; default $KILN_HUMANEVAL, else DefaultHumanEvalPath()
  int64_t timeout_ms = 10'000;   // --timeout (seconds on the command line)
  Executor* executor = nullptr;  // default: MakeSandboxExecutor()
  llm::EnvLookup env;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
};

// Prints one progress line per finished problem on `err`, then the summary on `out`: pass rate within 1, 2,
// ... attempts, tokens, cost, wall time. Returns 0 when every problem ran (whatever it scored), 125 on a
// Kiln error (also when some problems were stopped by one: the report is still printed and written).
int RunBenchHumanEvalCommand(const BenchCommandOptions& options);

}  // namespace kiln::agent
