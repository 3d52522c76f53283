// Registers the agent module's commands on the `kiln` CLI11 app:
//   kiln agent "TASK" [--model M] [--max-attempts N] [--tests FILE] [--json] [--out DIR] [--timeout SEC]
//              [--review never|before-run|after-run] [--detach] [--max-tokens N] [--max-cost USD] [--max-time
//              S]
//   kiln threads list | show ID | history ID | rm ID | fork ID --checkpoint C  [--json]
//   kiln threads resume ID [--approve | --edit FILE | --reject REASON | --feedback TEXT] [--max-tokens N]
//                          [--max-cost USD] [--max-time S] [--detach] [--json]
//   kiln bench humaneval [--model M] [--attempts N] [--limit N] [--jobs J] [--out FILE.jsonl] [--data FILE]
//                        [--timeout SEC]
// The command bodies are RunAgentCommand / RunThreadsCommand / RunBenchHumanEvalCommand (commands.h). A
// `bench` subcommand that already exists on `app` is reused, so other modules can add their own benchmarks
// beside `humaneval`. Call before app.parse(); not thread-safe (CLI11 apps are not).
#pragma once

#include <CLI/CLI.hpp>

namespace kiln::agent {

// The command's exit code (0, 1, 125; see commands.h) is stored in `exit_code` when it runs.
void AddAgentCommands(CLI::App& app, int& exit_code);

// Same, but a non-zero exit code is thrown as CLI::RuntimeError(code) from app.parse(), which
// `return app.exit(e);` turns into the process exit code without printing anything.
void AddAgentCommands(CLI::App& app);

}  // namespace kiln::agent
