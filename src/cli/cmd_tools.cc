// `kiln tools schema` and `kiln mcp`: the tool registry printed in other systems' formats, and served over
// the Model Context Protocol (stdio) with one sandbox per session.
#include <iostream>

#include "commands.h"
#include "kiln/base/install_paths.h"
#include "kiln/tools/export.h"
#include "kiln/tools/mcp.h"
#include "kiln/tools/sandbox.h"
#include "signals.h"

namespace kiln::cli {
namespace {

struct ToolsFlags {
  std::string tools_file;  // empty: the built-in registry
  std::string format = "openai";
  double lifetime_s = 3600;
};

Result<tools::Registry> LoadTools(const std::string& file) {
  if (file.empty()) return tools::DefaultRegistry();
  return tools::LoadRegistryFile(file);
}

int PrintSchema(const ToolsFlags& flags) {
  Result<tools::Registry> registry = LoadTools(flags.tools_file);
  if (!registry.ok()) {
    std::cerr << "kiln tools schema: " << registry.status().message() << "\n";
    return kKilnError;
  }
  Result<nlohmann::json> out = tools::ExportTools(*registry, flags.format);
  if (!out.ok()) {
    std::cerr << "kiln tools schema: --format: " << out.status().message() << "\n";
    return kKilnError;
  }
  std::cout << out->dump(2) << "\n";
  return 0;
}

// The MCP session's sandbox: made on the first tool call, on the calling (main) thread so that it dies
// with this process even on SIGKILL, and killed when the session ends.
class SessionSandbox {
 public:
  explicit SessionSandbox(int64_t lifetime_ms) : lifetime_ms_(lifetime_ms) {}
  ~SessionSandbox() { Kill(); }
  Result<tools::SandboxEndpoint> Make() {
    if (!runtime_) {
      KILN_ASSIGN_OR_RETURN(runtime_, runtime::Runtime::Create());
    }
    KILN_ASSIGN_OR_RETURN(
        tools::SandboxEndpoint made,
        tools::RuntimeSandboxFactory(runtime_.get(), {lifetime_ms_, /*die_with_owner=*/true})());
    id_ = made.id;
    return made;
  }
  void Kill() {
    if (runtime_ && !id_.empty()) (void)runtime_->Kill(id_);
  }

 private:
  int64_t lifetime_ms_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::string id_;
};

int ServeMcp(const ToolsFlags& flags) {
  // Before any thread starts, so that every thread leaves the stop signals to the signal thread.
  ExitCleanlyOnSignals({});
  Result<tools::Registry> registry = LoadTools(flags.tools_file);
  if (!registry.ok()) {
    std::cerr << "kiln mcp: " << registry.status().message() << "\n";
    return kKilnError;
  }
  SessionSandbox sandbox(static_cast<int64_t>(flags.lifetime_s * 1000));
  ScopedSignalCleanup on_signal([&sandbox] { sandbox.Kill(); }, {});
  tools::ToolRunner runner(&*registry, [&sandbox] { return sandbox.Make(); });
  tools::McpServer server(&runner,
                          {"kiln", VersionString(),
                           "Kiln tools: each call runs in this session's own isolated Linux sandbox. "
                           "run_python keeps variables and imports between calls; files written by "
                           "one tool are seen by the others."});
  std::ios::sync_with_stdio(false);
  tools::ServeMcpStdio(server, std::cin, std::cout);
  return 0;
}

}  // namespace

void AddToolsCommands(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ToolsFlags>();
  CLI::App* tools = app.add_subcommand("tools", "The tool registry (YAML) that kiln mcp and kiln chat serve");
  tools->require_subcommand(1);
  CLI::App* schema = tools->add_subcommand("schema", "Print the tools' definitions in a provider's format");
  schema->add_option("--tools", flags->tools_file, "Registry file (default: the built-in tools)");
  schema->add_option("--format", flags->format,
                     "openai (default), openai-responses, anthropic, gemini, mcp or langchain");
  schema->callback([flags, &exit_code] { exit_code = PrintSchema(*flags); });

  CLI::App* mcp = app.add_subcommand("mcp", "Serve the tools over the Model Context Protocol (stdio)");
  mcp->add_option("--tools", flags->tools_file, "Registry file (default: the built-in tools)");
  mcp->add_option("--lifetime", flags->lifetime_s,
                  "The session sandbox's lifetime in seconds (default 3600)");
  mcp->callback([flags, &exit_code] { exit_code = ServeMcp(*flags); });
}

}  // namespace kiln::cli
