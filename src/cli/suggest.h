// Plain answers to command-line mistakes: an unknown command or option is named, with the closest known one.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kiln::cli {

// The candidate closest to `word` (edit distance at most a third of its length, at least 1, or a prefix
// match), or nullopt.
std::optional<std::string> Closest(const std::string& word, const std::vector<std::string>& candidates);

// Checks the command words of `args` (argv without the program name) against `app`'s subcommands, before
// CLI11 parses them: "unknown command 'frobnicate' (did you mean ...?)". nullopt when they are all known.
std::optional<std::string> CheckCommandWords(CLI::App& app, const std::vector<std::string>& args);

// For a CLI11 error about arguments it did not expect: names each unknown option of the command that was
// being parsed, with the closest option it does have. nullopt when the error is of another kind.
std::optional<std::string> ExplainUnexpected(CLI::App& app, const CLI::ParseError& error);

}  // namespace kiln::cli
