// kiln-commands: every `kiln` command. The `kiln` front (front_main.cc) runs `kiln run` itself and becomes
// this program for everything else.
#include "command_line.h"
#include "commands.h"
#ifdef KILN_HAVE_AGENT
#include "kiln/agent/cli_commands.h"
#endif

int main(int argc, char** argv) {
  return kiln::cli::RunCommandLine(
      argc, argv, [](CLI::App& app, const std::vector<std::string>& program_args, int& exit_code) {
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
      });
}
