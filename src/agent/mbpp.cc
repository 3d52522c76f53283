#include "kiln/agent/mbpp.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "kiln/base/install_paths.h"
#include "kiln/base/strings.h"

namespace kiln::agent {
namespace {

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// The names of the functions `code` defines (`def NAME(`, at any indentation).
std::vector<std::string> DefinedFunctions(const std::string& code) {
  std::vector<std::string> names;
  for (const std::string& raw : Split(code, '\n')) {
    std::string_view line = Trim(raw);
    if (!StartsWith(line, "def ")) continue;
    line.remove_prefix(4);
    line = Trim(line);
    size_t end = 0;
    while (end < line.size() && IsIdentChar(line[end])) ++end;
    if (end > 0) names.emplace_back(line.substr(0, end));
  }
  return names;
}

// True when `text` calls `name`: the name, whole, then optional spaces and '('.
bool Calls(const std::string& text, const std::string& name) {
  for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
    if (at > 0 && IsIdentChar(text[at - 1])) continue;
    size_t after = at + name.size();
    while (after < text.size() && text[after] == ' ') ++after;
    if (after < text.size() && text[after] == '(') return true;
  }
  return false;
}

Result<std::string> StringField(const nlohmann::json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string())
    return InvalidArgument(where + ": missing string field '" + name + "'");
  return it->get<std::string>();
}

Result<std::vector<std::string>> StringList(const nlohmann::json& j, const char* name,
                                            const std::string& where) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return InvalidArgument(where + ": missing list field '" + name + "'");
  std::vector<std::string> out;
  for (const nlohmann::json& item : *it) {
    if (!item.is_string()) return InvalidArgument(where + ": '" + name + "' holds a non-string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string Commented(const std::string& text) {
  std::string out;
  for (const std::string& line : Split(text, '\n')) out += "# " + line + "\n";
  return out;
}

Result<HumanEvalProblem> ConvertProblem(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return InvalidArgument(where + ": not a JSON object");
  auto id = j.find("task_id");
  if (id == j.end() || !id->is_number_integer())
    return InvalidArgument(where + ": missing integer 'task_id'");
  HumanEvalProblem p;
  p.task_id = "Mbpp/" + std::to_string(id->get<int64_t>());
  const std::string named = where + " (" + p.task_id + ")";
  KILN_ASSIGN_OR_RETURN(std::string task, StringField(j, "prompt", named));
  KILN_ASSIGN_OR_RETURN(p.canonical_solution, StringField(j, "code", named));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> imports, StringList(j, "test_imports", named));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> asserts, StringList(j, "test_list", named));
  if (asserts.empty()) return InvalidArgument(named + ": 'test_list' is empty");
  for (const std::string& name : DefinedFunctions(p.canonical_solution)) {
    if (Calls(asserts[0], name)) {
      p.entry_point = name;
      break;
    }
  }
  if (p.entry_point.empty())
    return InvalidArgument(named + ": the first assert calls no function the reference code defines");
  p.prompt = Commented(task + "\nYour code should pass this test:\n" + asserts[0]);
  if (p.canonical_solution.empty() || p.canonical_solution.back() != '\n') p.canonical_solution += '\n';
  for (const std::string& line : imports) p.test += line + "\n";
  // The asserts run at module level, before the harness's check() is defined: a solution may define its
  // own `check` (Mbpp/56 does), which the asserts must call.
  for (const std::string& line : asserts) p.test += line + "\n";
  p.test += "\n\ndef check(candidate):  # the asserts above have run\n    pass\n";
  return p;
}

}  // namespace

Result<std::vector<HumanEvalProblem>> LoadMbpp(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string data, ReadMaybeGzip(path));
  const nlohmann::json j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return InvalidArgument(path + ": not a JSON array (sanitized MBPP is one)");
  std::vector<HumanEvalProblem> problems;
  for (size_t i = 0; i < j.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(HumanEvalProblem p, ConvertProblem(j[i], path + ": problem " + std::to_string(i)));
    problems.push_back(std::move(p));
  }
  if (problems.empty()) return InvalidArgument(path + ": no problems");
  return problems;
}

std::string DefaultMbppPath() {
  return DataDir() + "/mbpp/sanitized-mbpp.json.gz";
}

}  // namespace kiln::agent
