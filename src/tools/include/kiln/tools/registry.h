// The tool registry: tools a model (or an MCP client) may call, declared in a YAML file.
//
// File format (version 1):
//
//   version: 1
//   tools:
//     - name: run_python            # ^[A-Za-z_][A-Za-z0-9_-]{0,63}$, unique in the file
//       builtin: run_python         # run_python, run_shell, read_file, write_file, list_files,
//                                   # install_packages; parameters are the built-in's own
//       description: ...            # optional for a built-in (its own description is used)
//       timeout: 60                 # seconds, 0 < t <= 3600 (default: 60; install_packages 300)
//     - name: line_count
//       description: Count the lines of a file in the sandbox
//       parameters:                 # JSON Schema (the subset in schema.h), type object
//         type: object
//         properties: {path: {type: string}}
//         required: [path]
//       command: "wc -l {{path}}"   # run by /bin/sh -c in the sandbox; each {{name}} is replaced by the
//                                   # argument, shell-quoted (a list instead: an argv run without a shell,
//                                   # each {{name}} replaced verbatim)
//     - name: describe_csv
//       description: ...
//       parameters: {...}
//       python: {file: describe.py, function: describe}   # file relative to the registry file; it is
//                                   # uploaded to the sandbox and function(**arguments) called there
//
// Exactly one of builtin, command and python. Every mistake is an InvalidArgument naming the file, the
// line and column, and the field: "tools.yaml:12:7: tools[1].parameters.properties.path.type: unknown type
// 'strng' (...)". Placeholders must name declared properties; a missing optional argument becomes its
// `default`, else the empty string.
//
// Thread-safety: a Registry is an immutable value once loaded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::tools {

enum class Implementation { kBuiltin, kCommand, kPython };

struct ToolDef {
  std::string name;
  std::string description;
  nlohmann::json parameters;  // a JSON Schema of type object that passed CheckSchema
  Implementation kind = Implementation::kBuiltin;
  std::string builtin;            // kBuiltin: which one
  std::string command;            // kCommand: a shell template (empty when argv is used)
  std::vector<std::string> argv;  // kCommand: an argv template (empty when command is used)
  std::string python_file;        // kPython: the file's name as the registry gave it
  std::string python_source;      // kPython: its contents, read when the registry loaded
  std::string python_function;    // kPython: the function to call
  int64_t timeout_ms = 60'000;    // per call
  std::string declared_at;        // "FILE:LINE", for messages
};

class Registry {
 public:
  Registry() = default;
  explicit Registry(std::vector<ToolDef> tools) : tools_(std::move(tools)) {}
  const std::vector<ToolDef>& tools() const { return tools_; }
  // nullptr when no tool has that name.
  const ToolDef* Find(std::string_view name) const;

 private:
  std::vector<ToolDef> tools_;
};

// Reads and validates a registry file; python files are read relative to its directory.
Result<Registry> LoadRegistryFile(const std::string& path);
// The same from text: `file_name` names it in messages, `base_dir` resolves python files (empty: they are
// refused, as from the fuzzer).
Result<Registry> ParseRegistry(std::string_view yaml, const std::string& file_name,
                               const std::string& base_dir);
// The registry shipped with Kiln (data/tools.yaml, compiled in): the six built-ins.
const Registry& DefaultRegistry();
std::string_view DefaultRegistryYaml();

// The built-ins' names, and each one's own description and parameters.
const std::vector<std::string>& BuiltinNames();
struct BuiltinInfo {
  std::string description;
  nlohmann::json parameters;
  int64_t default_timeout_ms;
};
// nullptr for an unknown name.
const BuiltinInfo* FindBuiltin(std::string_view name);

}  // namespace kiln::tools
