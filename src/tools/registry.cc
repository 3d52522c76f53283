#include "kiln/tools/registry.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "kiln/base/strings.h"
#include "kiln/tools/schema.h"
#include "template.h"
#include "yaml_json.h"

namespace kiln::tools {

extern const std::string_view kDefaultRegistryYaml;  // tools_data.cc, generated from data/tools.yaml

namespace {

using json = nlohmann::json;

constexpr size_t kMaxPythonFileBytes = 1 << 20;
constexpr size_t kMaxJsonValues = 100'000;
constexpr int64_t kMaxTimeoutMs = 3'600'000;

bool IsToolName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

bool IsPythonIdentifier(const std::string& name) {
  return IsToolName(name) && name.find('-') == std::string::npos;
}

// True when `source` has a top-level `def function(`.
bool DefinesFunction(const std::string& source, const std::string& function) {
  std::istringstream lines(source);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("def ", 0) != 0) continue;
    size_t at = line.find_first_not_of(' ', 4);
    if (at == std::string::npos || line.compare(at, function.size(), function) != 0) continue;
    size_t after = line.find_first_not_of(' ', at + function.size());
    if (after != std::string::npos && line[after] == '(') return true;
  }
  return false;
}

class Loader {
 public:
  Loader(std::string file, std::string base_dir) : file_(std::move(file)), base_dir_(std::move(base_dir)) {}
  Result<Registry> Load(std::string_view text);

 private:
  Status Fail(const YAML::Node& at, const std::string& field, const std::string& message) const {
    return InvalidArgument(Where(file_, at) + ": " + field + ": " + message);
  }
  Result<std::string> String(const YAML::Node& node, const std::string& field) const;
  Result<ToolDef> LoadTool(const YAML::Node& node, const std::string& field);
  Status CheckKeys(const YAML::Node& node, const std::string& field) const;
  Status LoadParameters(const YAML::Node& node, const std::string& field, ToolDef& tool);
  Status LoadImplementation(const YAML::Node& node, const std::string& field, ToolDef& tool);
  Status LoadCommand(const YAML::Node& node, const std::string& field, ToolDef& tool) const;
  Status LoadPython(const YAML::Node& node, const std::string& field, ToolDef& tool) const;
  Status LoadTimeout(const YAML::Node& node, const std::string& field, ToolDef& tool) const;

  std::string file_;
  std::string base_dir_;
  size_t json_budget_ = kMaxJsonValues;
};

// Looks a key up without creating it (operator[] on a non-const yaml-cpp node would).
YAML::Node Get(const YAML::Node& map, const char* key) {
  const YAML::Node& m = map;
  return m[key];
}

Result<std::string> Loader::String(const YAML::Node& node, const std::string& field) const {
  if (!node.IsScalar()) return Fail(node, field, "must be a string");
  return node.Scalar();
}

Result<Registry> Loader::Load(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(file_ + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) return Fail(root, "(top level)", "must be a map with 'version: 1' and 'tools'");
  for (const auto& entry : root) {
    std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    if (key != "version" && key != "tools")
      return Fail(entry.first, key.empty() ? "(top level)" : key, "unknown key (expected version, tools)");
  }
  YAML::Node version = Get(root, "version");
  if (!version.IsDefined()) return Fail(root, "version", "missing (write 'version: 1')");
  if (!version.IsScalar() || version.Scalar() != "1") return Fail(version, "version", "must be 1");
  YAML::Node tools = Get(root, "tools");
  if (!tools.IsDefined() || !tools.IsSequence() || tools.size() == 0)
    return Fail(tools.IsDefined() ? tools : root, "tools", "must be a non-empty list of tools");
  std::vector<ToolDef> defs;
  std::map<std::string, std::string> seen;  // name -> where
  for (size_t i = 0; i < tools.size(); ++i) {
    std::string field = "tools[" + std::to_string(i) + "]";
    KILN_ASSIGN_OR_RETURN(ToolDef tool, LoadTool(static_cast<const YAML::Node&>(tools)[i], field));
    if (auto [it, fresh] = seen.emplace(tool.name, tool.declared_at); !fresh)
      return Fail(Get(static_cast<const YAML::Node&>(tools)[i], "name"), field + ".name",
                  "duplicate tool name '" + tool.name + "' (first declared at " + it->second + ")");
    defs.push_back(std::move(tool));
  }
  return Registry(std::move(defs));
}

Status Loader::CheckKeys(const YAML::Node& node, const std::string& field) const {
  static const char* const kKeys[] = {"name",    "description", "parameters", "builtin",
                                      "command", "python",      "timeout"};
  for (const auto& entry : node) {
    std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    if (std::find_if(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; }) ==
        std::end(kKeys))
      return Fail(entry.first, field + "." + key,
                  "unknown key (expected name, description, parameters, builtin, command, python, timeout)");
  }
  return Status::Ok();
}

Result<ToolDef> Loader::LoadTool(const YAML::Node& node, const std::string& field) {
  if (!node.IsMap()) return Fail(node, field, "a tool must be a map (name, description, ...)");
  KILN_RETURN_IF_ERROR(CheckKeys(node, field));
  ToolDef tool;
  tool.declared_at = file_ + ":" + std::to_string(node.Mark().line + 1);
  YAML::Node name = Get(node, "name");
  if (!name.IsDefined()) return Fail(node, field + ".name", "missing");
  KILN_ASSIGN_OR_RETURN(tool.name, String(name, field + ".name"));
  if (!IsToolName(tool.name))
    return Fail(name, field + ".name",
                "'" + tool.name +
                    "' is not a valid tool name (a letter or _, then letters, digits, _ or -; at most 64)");
  if (YAML::Node d = Get(node, "description"); d.IsDefined()) {
    KILN_ASSIGN_OR_RETURN(tool.description, String(d, field + ".description"));
  }
  KILN_RETURN_IF_ERROR(LoadImplementation(node, field, tool));
  if (tool.description.empty()) return Fail(node, field + ".description", "missing (the model needs it)");
  KILN_RETURN_IF_ERROR(LoadTimeout(Get(node, "timeout"), field + ".timeout", tool));
  return tool;
}

Status Loader::LoadImplementation(const YAML::Node& node, const std::string& field, ToolDef& tool) {
  const char* kinds[] = {"builtin", "command", "python"};
  std::vector<const char*> given;
  for (const char* kind : kinds)
    if (Get(node, kind).IsDefined()) given.push_back(kind);
  if (given.size() != 1)
    return Fail(node, field,
                given.empty() ? "needs one of builtin, command or python"
                              : std::string("has both ") + given[0] + " and " + given[1] + " (choose one)");
  YAML::Node impl = Get(node, given[0]);
  std::string impl_field = field + "." + given[0];
  YAML::Node parameters = Get(node, "parameters");
  if (std::string_view(given[0]) == "builtin") {
    KILN_ASSIGN_OR_RETURN(tool.builtin, String(impl, impl_field));
    const BuiltinInfo* info = FindBuiltin(tool.builtin);
    if (info == nullptr) {
      std::string names;
      for (const std::string& n : BuiltinNames()) names += (names.empty() ? "" : ", ") + n;
      return Fail(impl, impl_field, "unknown built-in '" + tool.builtin + "' (one of " + names + ")");
    }
    if (parameters.IsDefined())
      return Fail(parameters, field + ".parameters", "a built-in has its own parameters; remove this key");
    tool.kind = Implementation::kBuiltin;
    tool.parameters = info->parameters;
    tool.timeout_ms = info->default_timeout_ms;
    if (tool.description.empty()) tool.description = info->description;
    return Status::Ok();
  }
  if (!parameters.IsDefined())
    return Fail(node, field + ".parameters", "missing (a JSON Schema of type object)");
  KILN_RETURN_IF_ERROR(LoadParameters(parameters, field + ".parameters", tool));
  if (std::string_view(given[0]) == "command") return LoadCommand(impl, impl_field, tool);
  return LoadPython(impl, impl_field, tool);
}

Status Loader::LoadParameters(const YAML::Node& node, const std::string& field, ToolDef& tool) {
  KILN_ASSIGN_OR_RETURN(tool.parameters,
                        YamlToJson(node, file_, field, 2 * kMaxSchemaDepth + 2, &json_budget_));
  if (std::optional<SchemaProblem> problem = CheckSchema(tool.parameters)) {
    std::string where = field;
    for (const std::string& step : problem->path) where += "." + step;
    return Fail(Descend(node, problem->path), where, problem->message);
  }
  if (tool.parameters.value("type", json()) != "object")
    return Fail(node, field + ".type", "the parameters must be a schema of type object");
  return Status::Ok();
}

Status Loader::LoadCommand(const YAML::Node& node, const std::string& field, ToolDef& tool) const {
  tool.kind = Implementation::kCommand;
  const json& props = tool.parameters.contains("properties") ? tool.parameters["properties"] : json::object();
  auto check = [&](const YAML::Node& at, const std::string& text, const std::string& where) -> Status {
    Status s = ForEachPlaceholder(text, [&](const std::string& name) {
      return props.contains(name)
                 ? Status::Ok()
                 : InvalidArgument("placeholder {{" + name + "}} names no declared parameter");
    });
    return s.ok() ? s : Fail(at, where, s.message());
  };
  if (node.IsScalar()) {
    tool.command = node.Scalar();
    if (Trim(tool.command).empty()) return Fail(node, field, "is empty");
    return check(node, tool.command, field);
  }
  if (!node.IsSequence() || node.size() == 0)
    return Fail(node, field, "must be a shell command (a string) or an argv (a non-empty list of strings)");
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& item = static_cast<const YAML::Node&>(node)[i];
    std::string where = field + "[" + std::to_string(i) + "]";
    KILN_ASSIGN_OR_RETURN(std::string arg, String(item, where));
    KILN_RETURN_IF_ERROR(check(item, arg, where));
    tool.argv.push_back(std::move(arg));
  }
  return Status::Ok();
}

Status Loader::LoadPython(const YAML::Node& node, const std::string& field, ToolDef& tool) const {
  tool.kind = Implementation::kPython;
  if (!node.IsMap()) return Fail(node, field, "must be a map with file and function");
  for (const auto& entry : node) {
    std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    if (key != "file" && key != "function")
      return Fail(entry.first, field + "." + key, "unknown key (expected file, function)");
  }
  YAML::Node file = Get(node, "file");
  YAML::Node function = Get(node, "function");
  if (!file.IsDefined()) return Fail(node, field + ".file", "missing");
  if (!function.IsDefined()) return Fail(node, field + ".function", "missing");
  KILN_ASSIGN_OR_RETURN(tool.python_file, String(file, field + ".file"));
  KILN_ASSIGN_OR_RETURN(tool.python_function, String(function, field + ".function"));
  if (!IsPythonIdentifier(tool.python_function))
    return Fail(function, field + ".function", "'" + tool.python_function + "' is not a Python identifier");
  if (base_dir_.empty())
    return Fail(file, field + ".file", "python files cannot be read here (no base directory)");
  std::filesystem::path path = std::filesystem::path(base_dir_) / tool.python_file;
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Fail(file, field + ".file", "cannot read " + path.string() + ": " + ec.message());
  if (size > kMaxPythonFileBytes) return Fail(file, field + ".file", path.string() + " is larger than 1 MiB");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return Fail(file, field + ".file", "cannot read " + path.string());
  tool.python_source = text.str();
  if (!DefinesFunction(tool.python_source, tool.python_function))
    return Fail(function, field + ".function",
                path.string() + " has no top-level 'def " + tool.python_function + "('");
  return Status::Ok();
}

Status Loader::LoadTimeout(const YAML::Node& node, const std::string& field, ToolDef& tool) const {
  if (!node.IsDefined()) return Status::Ok();
  double seconds = 0;
  bool number = node.IsScalar() && node.Tag() == "?";
  if (number) {
    char* end = nullptr;
    seconds = std::strtod(node.Scalar().c_str(), &end);
    number = !node.Scalar().empty() && *end == '\0' && std::isfinite(seconds);
  }
  if (!number || seconds <= 0 || seconds * 1000 > kMaxTimeoutMs)
    return Fail(node, field, "must be a number of seconds, more than 0 and at most 3600");
  tool.timeout_ms = static_cast<int64_t>(std::ceil(seconds * 1000));
  return Status::Ok();
}

}  // namespace

const ToolDef* Registry::Find(std::string_view name) const {
  for (const ToolDef& tool : tools_)
    if (tool.name == name) return &tool;
  return nullptr;
}

Result<Registry> ParseRegistry(std::string_view yaml, const std::string& file_name,
                               const std::string& base_dir) {
  try {
    return Loader(file_name, base_dir).Load(yaml);
  } catch (const std::exception& e) {  // yaml-cpp reports some misuse by exception (bad conversions)
    return InvalidArgument(file_name + ": " + e.what());
  }
}

Result<Registry> LoadRegistryFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open the tool registry " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string dir = std::filesystem::path(path).parent_path().string();
  return ParseRegistry(text.str(), path, dir.empty() ? "." : dir);
}

std::string_view DefaultRegistryYaml() {
  return kDefaultRegistryYaml;
}

const Registry& DefaultRegistry() {
  static const Registry* registry = [] {
    Result<Registry> r = ParseRegistry(kDefaultRegistryYaml, "data/tools.yaml", "");
    return new Registry(r.ok() ? std::move(r).value() : Registry());
  }();
  return *registry;
}

}  // namespace kiln::tools
