#include "kiln/tools/export.h"

#include <functional>
#include <map>

namespace kiln::tools {
namespace {

using json = nlohmann::json;
using Shape = json (*)(const ToolDef&);

json OpenAiChat(const ToolDef& t) {
  return {{"type", "function"},
          {"function", {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}};
}
json OpenAiResponses(const ToolDef& t) {
  return {
      {"type", "function"}, {"name", t.name}, {"description", t.description}, {"parameters", t.parameters}};
}
json Anthropic(const ToolDef& t) {
  return {{"name", t.name}, {"description", t.description}, {"input_schema", t.parameters}};
}
json Gemini(const ToolDef& t) {
  return {{"name", t.name}, {"description", t.description}, {"parametersJsonSchema", t.parameters}};
}
json Mcp(const ToolDef& t) {
  return {{"name", t.name}, {"description", t.description}, {"inputSchema", t.parameters}};
}
json LangChain(const ToolDef& t) {
  return {{"name", t.name}, {"description", t.description}, {"schema", t.parameters}};
}

const std::vector<std::pair<std::string, Shape>>& Shapes() {
  static const auto* shapes = new std::vector<std::pair<std::string, Shape>>{
      {"openai", OpenAiChat},
      {"openai-responses", OpenAiResponses},
      {"anthropic", Anthropic},
      {"gemini", Gemini},
      {"mcp", Mcp},
      {"langchain", LangChain},
  };
  return *shapes;
}

}  // namespace

const std::vector<std::string>& ExportFormats() {
  static const auto* names = [] {
    auto* out = new std::vector<std::string>;
    for (const auto& [name, unused] : Shapes()) out->push_back(name);
    return out;
  }();
  return *names;
}

Result<json> ExportTools(const Registry& registry, std::string_view format) {
  for (const auto& [name, shape] : Shapes()) {
    if (name != format) continue;
    json list = json::array();
    for (const ToolDef& tool : registry.tools()) list.push_back(shape(tool));
    if (name == "gemini") return json::array({{{"functionDeclarations", std::move(list)}}});
    if (name == "mcp") return json{{"tools", std::move(list)}};
    return list;
  }
  std::string known;
  for (const std::string& n : ExportFormats()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown format '" + std::string(format) + "' (one of " + known + ")");
}

}  // namespace kiln::tools
