// kiln: the command-line entry point.
#include <CLI/CLI.hpp>

#include <string_view>

#include "commands.h"
#ifdef KILN_HAVE_AGENT
#include "kiln/agent/cli_commands.h"
#endif

int main(int argc, char** argv) {
  CLI::App app{"Kiln: run untrusted, AI-written code in fast, isolated Linux sandboxes"};
  app.require_subcommand(1);
  // Everything after the first `--` belongs to the sandboxed program, not to us.
  std::vector<std::string> program_args;
  int own_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      program_args.assign(argv + i + 1, argv + argc);
      own_argc = i;
      break;
    }
  }
  int exit_code = 0;
  kiln::cli::AddRunCommand(app, program_args, exit_code);
  kiln::cli::AddReplCommand(app, exit_code);
  kiln::cli::AddNotebookCommand(app, exit_code);
  kiln::cli::AddServeCommands(app, exit_code);
#ifdef KILN_HAVE_AGENT
  kiln::agent::AddAgentCommands(app, exit_code);
#endif
  try {
    app.parse(own_argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kiln::cli::kKilnError;
  }
  return exit_code;
}
