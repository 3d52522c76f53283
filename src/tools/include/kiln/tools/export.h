// Tool definitions in the shapes other systems read, for `kiln tools schema` and the MCP server.
//
//   openai            Chat Completions `tools`: [{"type":"function","function":{name, description,
//   parameters}}] openai-responses  Responses `tools` (flat): [{"type":"function", name, description,
//   parameters}] anthropic         Messages `tools`: [{name, description, input_schema}] gemini
//   generateContent `tools`: [{"functionDeclarations":[{name, description,
//                     parametersJsonSchema}]}] (parametersJsonSchema takes plain JSON Schema)
//   mcp               the result of MCP `tools/list`: {"tools":[{name, description, inputSchema}]}
//   langchain         StructuredToolParams: [{name, description, schema}], what LangChain's `tool()` and
//                     `bindTools` accept with a JSON Schema
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"
#include "kiln/tools/registry.h"

namespace kiln::tools {

// The format names above, in that order.
const std::vector<std::string>& ExportFormats();

// InvalidArgument for an unknown format (the message lists the known ones).
Result<nlohmann::json> ExportTools(const Registry& registry, std::string_view format);

}  // namespace kiln::tools
