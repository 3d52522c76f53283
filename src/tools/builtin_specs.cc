// The built-in tools' own descriptions and parameter schemas (their behaviour is in builtins.cc).
#include <map>

#include "kiln/tools/registry.h"

namespace kiln::tools {
namespace {

using json = nlohmann::json;

json Object(json properties, json required) {
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

const std::map<std::string, BuiltinInfo, std::less<>>& Table() {
  static const auto* table = new std::map<std::string, BuiltinInfo, std::less<>>{
      {"run_python",
       {"Run Python code in a persistent interpreter in the sandbox (variables, imports and files persist "
        "between calls, like a notebook). Returns stdout, stderr, the value of the last expression, "
        "images (matplotlib figures) and any error with its traceback.",
        Object({{"code", {{"type", "string"}, {"description", "Python code to run"}, {"minLength", 1}}}},
               {"code"}),
        60'000}},
      {"run_shell",
       {"Run a shell command (bash) in the sandbox and return its exit code, stdout and stderr.",
        Object({{"command", {{"type", "string"}, {"description", "the command line"}, {"minLength", 1}}},
                {"cwd", {{"type", "string"}, {"description", "working directory (default: home)"}}}},
               {"command"}),
        60'000}},
      {"read_file",
       {"Read a file in the sandbox. Text comes back as text; PNG, JPEG, GIF and WebP images as images.",
        Object({{"path",
                 {{"type", "string"},
                  {"description", "path, relative to the home directory"},
                  {"minLength", 1}}}},
               {"path"}),
        30'000}},
      {"write_file",
       {"Write text to a file in the sandbox, creating it (and its directories) or replacing it.",
        Object({{"path",
                 {{"type", "string"},
                  {"description", "path, relative to the home directory"},
                  {"minLength", 1}}},
                {"content", {{"type", "string"}, {"description", "the file's new contents"}}}},
               {"path", "content"}),
        30'000}},
      {"list_files",
       {"List a directory in the sandbox: each entry's type, size and path.",
        Object(
            {{"path", {{"type", "string"}, {"description", "directory (default: home)"}, {"default", "."}}},
             {"depth",
              {{"type", "integer"},
               {"minimum", 1},
               {"maximum", 5},
               {"default", 1},
               {"description", "levels to descend"}}}},
            json::array()),
        30'000}},
      {"install_packages",
       {"Install packages into the sandbox with pip (Python, the default) or npm (Node). Needs network "
        "access from the sandbox.",
        Object({{"packages",
                 {{"type", "array"},
                  {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 200}}},
                  {"minItems", 1},
                  {"maxItems", 50},
                  {"description", "package names, optionally with versions"}}},
                {"manager", {{"type", "string"}, {"enum", {"pip", "npm"}}, {"default", "pip"}}}},
               {"packages"}),
        300'000}},
  };
  return *table;
}

}  // namespace

const std::vector<std::string>& BuiltinNames() {
  static const auto* names = [] {
    auto* out = new std::vector<std::string>;
    for (const auto& [name, unused] : Table()) out->push_back(name);
    return out;
  }();
  return *names;
}

const BuiltinInfo* FindBuiltin(std::string_view name) {
  auto it = Table().find(name);
  return it == Table().end() ? nullptr : &it->second;
}

}  // namespace kiln::tools
