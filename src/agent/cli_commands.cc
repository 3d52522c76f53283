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
  cmd->callback([opts, timeout_s, sink] {
    opts->timeout_ms = ToMillis(*timeout_s);
    sink(RunAgentCommand(*opts));
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
