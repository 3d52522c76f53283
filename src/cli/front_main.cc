// kiln: the command people and scripts call. `kiln run` is handled here, by a binary that links only what
// a one-shot run needs: on a machine where every page fault is a trap to the hypervisor, starting the
// full CLI (10 MB of code, every command's options built, 480 page faults) cost more than the sandbox
// itself. For every other command this process becomes kiln-commands (execv: same pid, same signals).
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string_view>

#include "command_line.h"
#include "commands.h"
#include "kiln/base/install_paths.h"

namespace {

int BecomeFullCommandLine(char** argv) {
  std::vector<std::string> tried = kiln::HelperCandidates("kiln-commands", "KILN_COMMANDS");
  for (const std::string& path : tried) execv(path.c_str(), argv);
  int err = errno;
  std::cerr << "kiln: cannot start kiln-commands, which runs every command but `run` (" << std::strerror(err)
            << "; looked at";
  for (const std::string& path : tried) std::cerr << " " << path;
  std::cerr << "; set KILN_COMMANDS to its path)\n";
  return kiln::cli::kKilnError;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) != "run") return BecomeFullCommandLine(argv);
  return kiln::cli::RunCommandLine(
      argc, argv, [](CLI::App& app, const std::vector<std::string>& program_args, int& exit_code) {
        kiln::cli::AddRunCommand(app, program_args, exit_code);
      });
}
