// The `kiln` subcommands. Each Add* registers one command on the CLI11 app; its callback sets the process
// exit code through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/client/code_client.h"
#include "kiln/runtime/runtime.h"

namespace kiln::cli {

// Exit status for failures that are Kiln's, not the program's (as `docker run` and `bwrap` use it).
inline constexpr int kKilnError = 125;

// `program_args`: what followed `--` on the command line (arguments of the sandboxed program).
void AddRunCommand(CLI::App& app, const std::vector<std::string>& program_args, int& exit_code);
// `kiln repl`: an interactive code-interpreter session (cmd_repl.cc).
void AddReplCommand(CLI::App& app, int& exit_code);
// `kiln notebook run`: executes a Jupyter notebook in a sandbox (cmd_notebook.cc).
void AddNotebookCommand(CLI::App& app, int& exit_code);
// Kiln's home (keys, registry): `flag` (--home) when given, else $KILN_HOME, else ~/.kiln (cmd_serve.cc).
std::string HomeDir(const std::string& flag);

// `kiln check-docs`: snippets and doctests of documents run in sandboxes (cmd_check_docs.cc).
void AddCheckDocsCommand(CLI::App& app, int& exit_code);

// `kiln test DIR`: a project's tests in a fresh sandbox over a copy of DIR (cmd_test.cc).
void AddTestCommand(CLI::App& app, int& exit_code);

// `kiln tools schema|validate` and `kiln mcp`: the YAML tool registry and its MCP server (cmd_tools.cc).
void AddToolsCommands(CLI::App& app, int& exit_code);

// `kiln chat`: a conversation with a model that calls the registry's tools, stored in sessions (cmd_chat.cc).
void AddChatCommand(CLI::App& app, int& exit_code);

// `kiln doctor`: host checks and leftovers of a crashed Kiln (cmd_doctor.cc).
void AddDoctorCommand(CLI::App& app, int& exit_code);
// kiln template build|list|inspect|rm|prune (cmd_template.cc).
void AddTemplateCommand(CLI::App& app, int& exit_code);
// `kiln serve` and `kiln keys` (cmd_serve.cc).
void AddServeCommands(CLI::App& app, int& exit_code);

// One code context in a fresh sandbox, for `kiln repl` and `kiln notebook`. Destroying it kills the sandbox.
struct CodeSession {
  std::unique_ptr<runtime::Runtime> runtime;
  runtime::SandboxInfo sandbox;
  std::unique_ptr<client::CodeClient> client;
  client::ExecuteOptions options;  // names the context; callers add timeouts
};
// `language`: python (the default context), javascript, typescript or bash (a context created for it).
// `lifetime_ms`: the sandbox's lifetime, 0 = until the session is destroyed.
Result<std::unique_ptr<CodeSession>> StartCodeSession(const std::string& language, int64_t lifetime_ms);

}  // namespace kiln::cli
