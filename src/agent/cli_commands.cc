#include "kiln/agent/cli_commands.h"

#include <functional>
#include <memory>

#include "kiln/agent/commands.h"

namespace kiln::agent {
namespace {

using Sink = std::function<void(int)>;

int64_t ToMillis(double seconds) {
  return static_cast<int64_t>(seconds * 1000.0);
}

// --max-tokens, --max-cost, --max-time, parsed as given or not.
struct BudgetFlags {
  int64_t max_tokens = -1;
  double max_cost = -1;
  double max_time_s = -1;
  bool Given() const { return max_tokens >= 0 || max_cost >= 0 || max_time_s >= 0; }
  // `unset`: the value of a limit not given.
  Budget Get(int64_t unset) const {
    Budget b;
    b.max_tokens = max_tokens >= 0 ? max_tokens : unset;
    b.max_cost_usd = max_cost >= 0 ? max_cost : static_cast<double>(unset);
    b.max_time_ms = max_time_s >= 0 ? ToMillis(max_time_s) : unset;
    return b;
  }
};

std::shared_ptr<BudgetFlags> AddBudgetOptions(CLI::App* cmd) {
  auto flags = std::make_shared<BudgetFlags>();
  cmd->add_option("--max-tokens", flags->max_tokens, "Stop the thread once its model calls used N tokens")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-cost", flags->max_cost, "Stop the thread once its model calls cost USD")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-time", flags->max_time_s,
                  "Stop the run after S seconds (waiting for a review excluded)")
      ->check(CLI::NonNegativeNumber);
  return flags;
}

void AddAgent(CLI::App& app, const Sink& sink) {
  auto opts = std::make_shared<AgentCommandOptions>();
  auto timeout_s = std::make_shared<double>(opts->timeout_ms / 1000.0);
  CLI::App* cmd = app.add_subcommand("agent",
                                     "Ask a model for a Python program, run it in a sandbox, fix it "
                                     "from the errors, retry");
  cmd->add_option("task", opts->task, "What the program should do")->required();
  cmd->add_option("--model,-m", opts->model,
                  "Model, e.g. openai:gpt-4o or script:FILE (default: $KILN_MODEL)");
  cmd->add_option("--max-attempts", opts->max_attempts, "Attempts before giving up")->capture_default_str();
  cmd->add_option("--tests", opts->tests_file, "Python tests run after the code (a failing assert fails)");
  cmd->add_flag("--json", opts->json, "Print the full result as JSON");
  cmd->add_option("--out", opts->out_dir,
                  "Write main.py, README.md, requirements.txt, metadata.json to DIR "
                  "and DIR.tar.gz");
  cmd->add_option("--timeout", *timeout_s, "Seconds each run may take")->capture_default_str();
  cmd->add_flag("--trace", opts->trace,
                "Print the run's trace (invoke_agent / chat / execute_tool spans) as a tree on stderr at "
                "the end, besides any OTEL_* exporter");
  cmd->add_option("--review", opts->review,
                  "Ask a human: before-run (see the code before it runs), after-run (see the code and its "
                  "output), never")
      ->check(CLI::IsMember({"never", "before-run", "after-run"}))
      ->capture_default_str();
  cmd->add_flag("--detach", opts->detach,
                "Do not ask in the terminal: stop at the first question and print the thread id");
  auto budget = AddBudgetOptions(cmd);
  cmd->callback([opts, timeout_s, budget, sink] {
    opts->timeout_ms = ToMillis(*timeout_s);
    opts->budget = budget->Get(0);
    sink(RunAgentCommand(*opts));
  });
}

void AddThreads(CLI::App& app, const Sink& sink) {
  CLI::App* threads =
      app.add_subcommand("threads", "Coding-agent threads: list, show, history, resume, fork, rm");
  threads->require_subcommand(1);
  auto add = [&](const char* name, const char* help, bool takes_id) {
    auto opts = std::make_shared<ThreadsCommandOptions>();
    opts->action = name;
    CLI::App* cmd = threads->add_subcommand(name, help);
    if (takes_id) cmd->add_option("id", opts->thread_id, "Thread id")->required();
    cmd->add_flag("--json", opts->json, "Print JSON");
    cmd->callback([opts, sink] { sink(RunThreadsCommand(*opts)); });
    return std::make_pair(cmd, opts);
  };
  add("list", "List the threads", false);
  add("show", "A thread's status, reviews, journal and waiting question", true);
  add("history", "Every checkpoint of a thread, newest first, with its parent", true);
  add("rm", "Delete a thread", true);
  auto [fork, fork_opts] =
      add("fork", "Make an older checkpoint the head (time travel); resume goes on from it", true);
  fork->add_option("--checkpoint,--at", fork_opts->checkpoint, "Checkpoint to continue from")->required();
  auto [resume, resume_opts] = add("resume", "Continue a thread, answering its review", true);
  resume->add_flag("--approve", resume_opts->approve, "Approve the code");
  resume->add_option("--edit", resume_opts->edit_file, "Run the code in FILE instead");
  resume->add_option("--reject", resume_opts->reject_reason, "Reject the code: the thread ends rejected");
  resume->add_option("--feedback", resume_opts->feedback, "Text for the model, for another attempt");
  resume->add_flag("--detach", resume_opts->detach, "Do not ask in the terminal at the next question");
  auto budget = AddBudgetOptions(resume);
  auto opts = resume_opts;
  resume->callback([opts, budget, sink] {
    if (budget->Given()) opts->budget = budget->Get(-1);
    sink(RunThreadsCommand(*opts));
  });
}

CLI::App* FindOrAddBench(CLI::App& app) {
  auto found = app.get_subcommands([](CLI::App* a) { return a->get_name() == "bench"; });
  if (!found.empty()) return found.front();
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  return bench;
}

void AddBenchHumanEval(CLI::App& app, const Sink& sink) {
  auto opts = std::make_shared<BenchCommandOptions>();
  auto timeout_s = std::make_shared<double>(opts->timeout_ms / 1000.0);
  CLI::App* cmd = FindOrAddBench(app)->add_subcommand("humaneval",
                                                      "Score the coding agent on HumanEval (164 "
                                                      "problems)");
  cmd->add_option("--model,-m", opts->model, "Model, or 'canonical' for the reference solutions");
  cmd->add_option("--attempts", opts->attempts, "Attempts per problem")->capture_default_str();
  cmd->add_option("--limit", opts->limit, "Only the first N problems (0: all)");
  cmd->add_option("--jobs,-j", opts->jobs, "Problems run in parallel")->capture_default_str();
  cmd->add_option("--out", opts->out_file, "Per-problem results as JSON Lines");
  cmd->add_option("--data", opts->data_file,
                  "HumanEval.jsonl[.gz] (default: $KILN_HUMANEVAL or the bundled copy)");
  cmd->add_option("--timeout", *timeout_s, "Seconds each run may take")->capture_default_str();
  cmd->callback([opts, timeout_s, sink] {
    opts->timeout_ms = ToMillis(*timeout_s);
    sink(RunBenchHumanEvalCommand(*opts));
  });
}

void AddAll(CLI::App& app, const Sink& sink) {
  AddAgent(app, sink);
  AddThreads(app, sink);
  AddBenchHumanEval(app, sink);
}

}  // namespace

void AddAgentCommands(CLI::App& app, int& exit_code) {
  AddAll(app, [&exit_code](int rc) { exit_code = rc; });
}

void AddAgentCommands(CLI::App& app) {
  AddAll(app, [](int rc) {
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kiln::agent
