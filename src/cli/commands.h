// The `kiln` subcommands. Each Add* registers one command on the CLI11 app; its callback sets the process
// exit code through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace kiln::cli {

// Exit status for failures that are Kiln's, not the program's (as `docker run` and `bwrap` use it).
inline constexpr int kKilnError = 125;

// `program_args`: what followed `--` on the command line (arguments of the sandboxed program).
void AddRunCommand(CLI::App& app, const std::vector<std::string>& program_args, int& exit_code);

}  // namespace kiln::cli
