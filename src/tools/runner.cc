#include "kiln/tools/runner.h"

#include "calls.h"
#include "kiln/tools/schema.h"

namespace kiln::tools {

using json = nlohmann::json;

std::string ToolResult::Text() const {
  std::string out;
  for (const Content& c : content) {
    if (c.type != Content::Type::kText) continue;
    if (!out.empty()) out += "\n";
    out += c.text;
  }
  return out;
}

ToolResult ToolResult::Error(std::string message) {
  return {{{Content::Type::kText, std::move(message), "", ""}}, true};
}

ToolRunner::ToolRunner(const Registry* registry, SandboxFactory sandboxes, RunnerOptions options)
    : registry_(registry), factory_(std::move(sandboxes)), options_(options) {}

std::optional<SandboxEndpoint> ToolRunner::sandbox() const {
  std::lock_guard lock(mu_);
  return sandbox_;
}

Result<SandboxEndpoint> ToolRunner::Sandbox() {
  std::lock_guard lock(mu_);
  if (sandbox_) return *sandbox_;
  if (!factory_) return FailedPrecondition("this session has no sandbox");
  KILN_ASSIGN_OR_RETURN(SandboxEndpoint made, factory_());
  sandbox_ = made;
  return made;
}

ToolResult ToolRunner::CallWithJsonText(std::string_view tool_name, std::string_view arguments_json,
                                        const std::function<bool()>& cancelled) {
  if (arguments_json.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return Call(tool_name, json::object(), cancelled);
  json arguments;
  try {
    arguments = json::parse(arguments_json);
  } catch (const json::exception& e) {
    return ToolResult::Error("the arguments for " + std::string(tool_name) + " are not valid JSON (" +
                             e.what() + "); send a JSON object");
  }
  return Call(tool_name, arguments, cancelled);
}

ToolResult ToolRunner::Call(std::string_view tool_name, const json& arguments,
                            const std::function<bool()>& cancelled) {
  const ToolDef* tool = registry_->Find(tool_name);
  if (tool == nullptr) {
    std::string names;
    for (const ToolDef& t : registry_->tools()) names += (names.empty() ? "" : ", ") + t.name;
    return ToolResult::Error("there is no tool named '" + std::string(tool_name) + "' (available: " + names +
                             ")");
  }
  const json& args = arguments.is_null() ? json::object() : arguments;
  if (!args.is_object())
    return ToolResult::Error("the arguments for " + tool->name + " must be a JSON object, got " +
                             JsonTypeName(args));
  if (Status valid = ValidateValue(tool->parameters, args); !valid.ok())
    return ToolResult::Error("invalid arguments for " + tool->name + ": " + valid.message() +
                             "\nthe parameters' schema: " + tool->parameters.dump());
  Result<SandboxEndpoint> sandbox = Sandbox();
  if (!sandbox.ok()) return ToolResult::Error(tool->name + ": no sandbox: " + sandbox.status().message());
  CallContext call{*tool, args, *sandbox, options_.max_output_bytes, cancelled};
  try {
    switch (tool->kind) {
      case Implementation::kBuiltin:
        return RunBuiltin(call);
      case Implementation::kCommand:
        return RunCommand(call);
      case Implementation::kPython:
        return RunPythonFunction(call);
    }
  } catch (const std::exception& e) {  // a library's exception must not end the session
    return ToolResult::Error(tool->name + ": internal error: " + e.what());
  }
  return ToolResult::Error(tool->name + ": unknown implementation");
}

}  // namespace kiln::tools
