// Processes in the session's sandbox: run_shell, install_packages and command templates.
#include <cctype>

#include "calls.h"
#include "kiln/client/envd_client.h"
#include "template.h"

namespace kiln::tools {
namespace {

using json = nlohmann::json;

ToolResult RunProcess(const CallContext& call, client::ProcessConfig config) {
  client::EnvdClient envd(call.sandbox.socket_path, call.sandbox.access_token);
  client::StartOptions options;
  options.timeout_ms = call.tool.timeout_ms;
  options.cancelled = call.cancelled;
  CappedText out(call.max_output_bytes);
  CappedText err(call.max_output_bytes);
  client::ProcessCallbacks callbacks;
  callbacks.on_stdout = [&](std::string_view bytes) { out.Append(bytes); };
  callbacks.on_stderr = [&](std::string_view bytes) { err.Append(bytes); };
  Result<client::ProcessExit> exit = envd.Start(config, options, callbacks);
  ToolResult result;
  auto add = [&](const std::string& label, const CappedText& text) {
    if (!text.empty())
      result.content.push_back({Content::Type::kText, "[" + label + "]\n" + text.Finish(), "", ""});
  };
  if (!exit.ok() && call.cancelled && call.cancelled()) {
    result = ToolResult::Error(StoppedByTheUser(call.tool, "the process was killed"));
  } else if (!exit.ok()) {
    std::string why = exit.status().code() == Code::kDeadlineExceeded
                          ? "timed out after " + std::to_string(call.tool.timeout_ms / 1000) + " s (killed)"
                          : exit.status().message();
    result = ToolResult::Error(call.tool.name + ": " + why);
  } else {
    result.is_error = exit->exit_code != 0;
    std::string status = exit->exited ? std::to_string(exit->exit_code) : exit->status;
    result.content.push_back({Content::Type::kText, "[exit code] " + status, "", ""});
  }
  add("stdout", out);
  add("stderr", err);
  return result;
}

// Package names and version specifiers, never options: a leading '-' would let the model pass flags.
bool IsPackageSpec(const std::string& spec) {
  if (spec.empty() || spec[0] == '-') return false;
  for (unsigned char c : spec)
    if (!(std::isalnum(c) ||
          std::string_view("._-[]=<>!~,+@/:").find(static_cast<char>(c)) != std::string_view::npos))
      return false;
  return true;
}

}  // namespace

ToolResult RunShell(const CallContext& call) {
  client::ProcessConfig config;
  config.cmd = "/bin/bash";
  config.args = {"-c", call.arguments.at("command").get<std::string>()};
  if (auto cwd = call.arguments.find("cwd"); cwd != call.arguments.end())
    config.cwd = cwd->get<std::string>();
  return RunProcess(call, std::move(config));
}

ToolResult RunInstall(const CallContext& call) {
  std::vector<std::string> packages;
  for (const json& p : call.arguments.at("packages")) {
    const std::string& spec = p.get_ref<const std::string&>();
    if (!IsPackageSpec(spec))
      return ToolResult::Error(
          "install_packages: '" + spec +
          "' is not a package name (letters, digits and ._-[]=<>!~,+@/: only; no leading -)");
    packages.push_back(spec);
  }
  client::ProcessConfig config;
  if (call.arguments.value("manager", "pip") == "npm") {
    config.cmd = "npm";
    config.args = {"install", "--no-audit", "--no-fund", "--prefix", "."};
  } else {
    config.cmd = "python3";
    // Debian's Python refuses even --user installs without --break-system-packages (PEP 668); the
    // packages go to the sandbox user's own site directory.
    config.args = {"-m",
                   "pip",
                   "install",
                   "--user",
                   "--no-input",
                   "--disable-pip-version-check",
                   "--progress-bar",
                   "off",
                   "--break-system-packages"};
  }
  config.args.insert(config.args.end(), packages.begin(), packages.end());
  return RunProcess(call, std::move(config));
}

ToolResult RunCommand(const CallContext& call) {
  client::ProcessConfig config;
  const ToolDef& tool = call.tool;
  if (!tool.command.empty()) {
    Result<std::string> line =
        RenderTemplate(tool.command, call.arguments, tool.parameters, /*shell_quote=*/true);
    if (!line.ok()) return ToolResult::Error(tool.name + ": " + line.status().message());
    config.cmd = "/bin/sh";
    config.args = {"-c", *line};
    return RunProcess(call, std::move(config));
  }
  std::vector<std::string> argv;
  for (const std::string& part : tool.argv) {
    Result<std::string> arg = RenderTemplate(part, call.arguments, tool.parameters, /*shell_quote=*/false);
    if (!arg.ok()) return ToolResult::Error(tool.name + ": " + arg.status().message());
    argv.push_back(*arg);
  }
  config.cmd = argv[0];
  config.args.assign(argv.begin() + 1, argv.end());
  return RunProcess(call, std::move(config));
}

}  // namespace kiln::tools
