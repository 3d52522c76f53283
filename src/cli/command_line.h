// What both kiln binaries do with a command line: the `kiln` front (run only, linked small so that a
// one-shot run starts fast) and `kiln-commands` (every command), which the front becomes for the rest.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace kiln::cli {

// Registers the commands on `app`. `program_args` is what followed the first `--` (the sandboxed program's
// arguments); each command's callback sets `exit_code`.
using AddCommands =
    std::function<void(CLI::App& app, const std::vector<std::string>& program_args, int& exit_code)>;

// Parses argv against the commands `add` registers and runs the one named; returns the process's exit
// code. Unknown commands and options get a suggestion; Kiln's own failures exit with kKilnError (125).
int RunCommandLine(int argc, char** argv, const AddCommands& add);

}  // namespace kiln::cli
