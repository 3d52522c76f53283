// ToolRunner: calls registry tools in one session's sandbox.
//
// Every call is checked before anything runs: the tool must exist, the arguments must be a JSON object that
// satisfies the tool's schema (schema.h). Whatever goes wrong (an unknown tool, arguments that do not
// parse or fit, no sandbox, a timeout, a command that fails) comes back as a ToolResult with is_error set
// and a message meant for the model; Call() never throws and never fails otherwise.
//
// The sandbox is made on the first call that needs one, by the SandboxFactory, and kept for the runner's
// life: state (Python variables, files) carries over between calls. The runner does not own the sandbox;
// whoever made it kills it.
//
// Output: each stream is cut at RunnerOptions::max_output_bytes with a note saying how much was dropped,
// so a tool that prints 50 MB sends the model a bounded answer.
//
// Thread-safety: Call() may be used from several threads at once (parallel tool calls); they share the
// sandbox, which is made once.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"
#include "kiln/tools/registry.h"

namespace kiln::tools {

struct Content {
  enum class Type { kText, kImage };
  Type type = Type::kText;
  std::string text;       // kText
  std::string mime_type;  // kImage: "image/png", "image/jpeg", ...
  std::string data;       // kImage: base64
};

struct ToolResult {
  std::vector<Content> content;
  bool is_error = false;
  // The text blocks joined by newlines (images are left out).
  std::string Text() const;
  static ToolResult Error(std::string message);
};

// Where a session's sandbox is reached.
struct SandboxEndpoint {
  std::string id;
  std::string socket_path;  // kiln-envd's unix socket
  std::string access_token;
};
using SandboxFactory = std::function<Result<SandboxEndpoint>()>;

struct RunnerOptions {
  size_t max_output_bytes = 100'000;  // per stream (stdout, stderr, a file read)
};

class ToolRunner {
 public:
  // `registry` must outlive the runner.
  ToolRunner(const Registry* registry, SandboxFactory sandboxes, RunnerOptions options = {});

  // `arguments_json`: the model's arguments as JSON text (empty means {}), as providers send them.
  // `cancelled` (may be empty) is asked while a process or Python cell runs: when it says true the process
  // is killed (the cell interrupted; the context and its variables stay) and the result is an error saying
  // the user stopped the call, with the output so far.
  ToolResult CallWithJsonText(std::string_view tool_name, std::string_view arguments_json,
                              const std::function<bool()>& cancelled = {});
  ToolResult Call(std::string_view tool_name, const nlohmann::json& arguments,
                  const std::function<bool()>& cancelled = {});

  // The sandbox, once a call has made it.
  std::optional<SandboxEndpoint> sandbox() const;
  const Registry& registry() const { return *registry_; }

 private:
  Result<SandboxEndpoint> Sandbox();

  const Registry* registry_;
  SandboxFactory factory_;
  RunnerOptions options_;
  mutable std::mutex mu_;
  std::optional<SandboxEndpoint> sandbox_;
};

}  // namespace kiln::tools
