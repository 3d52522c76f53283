// The implementations behind ToolRunner: built-ins, command templates and Python functions, each given
// arguments that already passed the tool's schema.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kiln/tools/registry.h"
#include "kiln/tools/runner.h"

namespace kiln::tools {

struct CallContext {
  const ToolDef& tool;
  const nlohmann::json& arguments;
  const SandboxEndpoint& sandbox;
  size_t max_output_bytes;
  const std::function<bool()>& cancelled;  // may be empty
};

// What the model is told of a call the user stopped (`what`: what was done to it).
std::string StoppedByTheUser(const ToolDef& tool, const std::string& what);

ToolResult RunBuiltin(const CallContext& call);
ToolResult RunCommand(const CallContext& call);
ToolResult RunPythonFunction(const CallContext& call);

// Collects a stream up to a cap and remembers how much it dropped.
class CappedText {
 public:
  explicit CappedText(size_t cap) : cap_(cap) {}
  void Append(std::string_view bytes);
  // The text kept, with a note of what was cut, if anything.
  std::string Finish() const;
  bool empty() const { return kept_.empty() && dropped_ == 0; }

 private:
  size_t cap_;
  std::string kept_;
  size_t dropped_ = 0;
};

}  // namespace kiln::tools
