// kiln: the command-line entry point.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string_view>

#include "commands.h"
#include "kiln/base/install_paths.h"
#include "kiln/runtime/run.h"
#include "signals.h"
#include "suggest.h"
#ifdef KILN_HAVE_AGENT
#include "kiln/agent/cli_commands.h"
#endif

int main(int argc, char** argv) {
  CLI::App app{"Kiln: run untrusted, AI-written code in fast, isolated Linux sandboxes"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kiln " + kiln::VersionString(),
                       "Print the version and the commit, then exit");
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
  kiln::cli::AddDoctorCommand(app, exit_code);
  kiln::cli::AddCheckDocsCommand(app, exit_code);
  kiln::cli::AddTestCommand(app, exit_code);
  kiln::cli::AddToolsCommands(app, exit_code);
  kiln::cli::AddChatCommand(app, exit_code);
  kiln::cli::AddTemplateCommand(app, exit_code);
  kiln::cli::AddServeCommands(app, exit_code);
#ifdef KILN_HAVE_AGENT
  kiln::agent::AddAgentCommands(app, exit_code);
#endif
  // CLI11 would report an unknown command as "A subcommand is required", or let --help after it print the
  // top-level help and succeed.
  if (std::optional<std::string> unknown =
          kiln::cli::CheckCommandWords(app, std::vector<std::string>(argv + 1, argv + own_argc))) {
    std::cerr << *unknown << "\n";
    return kiln::cli::kKilnError;
  }
  // Commands whose sandboxes are one-shot runs take them down, cgroups included, when told to stop (repl and
  // notebook run own long-lived sandboxes and install their own cleanup).
  if (own_argc > 1 && kiln::cli::OwnsOneShotSandboxes(argv[1]))
    kiln::cli::ExitCleanlyOnSignals([] { (void)kiln::runtime::StopAllRuns(3000); });
  try {
    app.parse(own_argc, argv);
  } catch (const CLI::ParseError& e) {
    if (std::optional<std::string> explained = kiln::cli::ExplainUnexpected(app, e)) {
      std::cerr << *explained << "\n";
      return kiln::cli::kKilnError;
    }
    if (own_argc == 1 && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
      std::cerr << app.help() << "\nkiln: a command is required (see the list above).\n";
      return kiln::cli::kKilnError;
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : kiln::cli::kKilnError;
  }
  kiln::cli::AwaitStopInProgress();
  return exit_code;
}
