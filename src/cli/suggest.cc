#include "suggest.h"

#include <algorithm>

namespace kiln::cli {
namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<CLI::App*> Subcommands(CLI::App& app) {
  return app.get_subcommands([](CLI::App*) { return true; });
}

std::vector<std::string> SubcommandNames(CLI::App& app) {
  std::vector<std::string> names;
  for (CLI::App* sub : Subcommands(app)) names.push_back(sub->get_name());
  return names;
}

CLI::App* FindSubcommand(CLI::App& app, const std::string& word) {
  for (CLI::App* sub : Subcommands(app))
    if (sub->check_name(word)) return sub;
  return nullptr;
}

std::string CommandPath(CLI::App& app) {
  std::string path;
  for (CLI::App* a = &app; a != nullptr; a = a->get_parent()) {
    std::string name = a->get_parent() == nullptr ? "kiln" : a->get_name();  // the root's name is argv[0]
    path = name + (path.empty() ? "" : " ") + path;
  }
  return path;
}

std::string UnknownCommand(CLI::App& app, const std::string& word) {
  std::vector<std::string> names = SubcommandNames(app);
  std::string message = CommandPath(app) + ": unknown command '" + word + "'";
  if (std::optional<std::string> near = Closest(word, names)) message += " (did you mean '" + *near + "'?)";
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  return message + ". Commands: " + list + ". Run '" + CommandPath(app) + " --help' for more.";
}

std::vector<std::string> OptionNames(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : app.get_options()) {
    for (const std::string& n : opt->get_lnames()) names.push_back("--" + n);
    for (const std::string& n : opt->get_snames()) names.push_back("-" + n);
  }
  return names;
}

// The deepest subcommand that was selected while parsing.
CLI::App& ParsedCommand(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands())
    if (sub->parsed()) return ParsedCommand(*sub);
  return app;
}

}  // namespace

std::optional<std::string> Closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(1, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (word.size() >= 2 && c.rfind(word, 0) == 0) d = std::min<size_t>(d, 1);
    if (d < best_distance) best_distance = d, best = c;
  }
  return best;
}

std::optional<std::string> CheckCommandWords(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* current = &app;
  for (const std::string& word : args) {
    if (word.empty() || word[0] == '-' || Subcommands(*current).empty()) return std::nullopt;
    CLI::App* next = FindSubcommand(*current, word);
    if (next == nullptr) {
      // A command that takes positional arguments of its own (kiln agent "TASK") accepts any word.
      if (current != &app &&
          !current->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty())
        return std::nullopt;
      return UnknownCommand(*current, word);
    }
    current = next;
  }
  return std::nullopt;
}

std::optional<std::string> ExplainUnexpected(CLI::App& app, const CLI::ParseError& error) {
  if (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr) return std::nullopt;
  CLI::App& command = ParsedCommand(app);
  std::vector<std::string> unknown = command.remaining();
  if (unknown.empty()) unknown = app.remaining();
  std::string message;
  bool after_unknown_option = false;  // a value the unknown option would have taken is not news
  for (const std::string& arg : unknown) {
    if (arg.size() < 2 || arg[0] != '-') {
      if (after_unknown_option) continue;
      message += (message.empty() ? "" : "\n") + CommandPath(command) + ": unexpected argument '" + arg + "'";
      continue;
    }
    after_unknown_option = true;
    if (!message.empty()) message += "\n";
    std::string name = arg.substr(0, arg.find('='));
    message += CommandPath(command) + ": unknown option '" + name + "'";
    if (std::optional<std::string> near = Closest(name, OptionNames(command)))
      message += " (did you mean '" + *near + "'?)";
  }
  if (message.empty()) return std::nullopt;
  return message + "\nRun '" + CommandPath(command) + " --help' for its options.";
}

}  // namespace kiln::cli
