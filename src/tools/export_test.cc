#include "kiln/tools/export.h"

#include <gtest/gtest.h>

namespace kiln::tools {
namespace {

using json = nlohmann::json;

json Export(const char* format) {
  Result<json> r = ExportTools(DefaultRegistry(), format);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : json();
}

const ToolDef& Tool(size_t i) {
  return DefaultRegistry().tools()[i];
}

TEST(Export, OpenAiChatCompletionsNestsTheFunction) {
  json tools = Export("openai");
  ASSERT_EQ(tools.size(), DefaultRegistry().tools().size());
  for (size_t i = 0; i < tools.size(); ++i) {
    EXPECT_EQ(tools[i].size(), 2u);
    EXPECT_EQ(tools[i]["type"], "function");
    const json& f = tools[i]["function"];
    EXPECT_EQ(f["name"], Tool(i).name);
    EXPECT_EQ(f["description"], Tool(i).description);
    EXPECT_EQ(f["parameters"], Tool(i).parameters);
  }
}

TEST(Export, OpenAiResponsesIsFlat) {
  json tools = Export("openai-responses");
  EXPECT_EQ(tools[0]["type"], "function");
  EXPECT_EQ(tools[0]["name"], Tool(0).name);
  EXPECT_EQ(tools[0]["parameters"], Tool(0).parameters);
  EXPECT_FALSE(tools[0].contains("function"));
}

TEST(Export, AnthropicUsesInputSchema) {
  json tools = Export("anthropic");
  for (size_t i = 0; i < tools.size(); ++i) {
    EXPECT_EQ(tools[i], json({{"name", Tool(i).name},
                              {"description", Tool(i).description},
                              {"input_schema", Tool(i).parameters}}));
  }
}

TEST(Export, GeminiGroupsFunctionDeclarationsInOneTool) {
  json tools = Export("gemini");
  ASSERT_TRUE(tools.is_array());
  ASSERT_EQ(tools.size(), 1u);
  const json& decls = tools[0]["functionDeclarations"];
  ASSERT_EQ(decls.size(), DefaultRegistry().tools().size());
  EXPECT_EQ(decls[2]["name"], Tool(2).name);
  EXPECT_EQ(decls[2]["parametersJsonSchema"], Tool(2).parameters);
  EXPECT_FALSE(decls[2].contains("parameters"));  // that field takes Gemini's OpenAPI subset, not JSON Schema
}

TEST(Export, McpIsAToolsListResult) {
  json result = Export("mcp");
  ASSERT_TRUE(result.is_object());
  const json& tools = result["tools"];
  ASSERT_EQ(tools.size(), DefaultRegistry().tools().size());
  EXPECT_EQ(tools[1], json({{"name", Tool(1).name},
                            {"description", Tool(1).description},
                            {"inputSchema", Tool(1).parameters}}));
  EXPECT_EQ(tools[1]["inputSchema"]["type"], "object");  // MCP requires an object schema
}

TEST(Export, LangChainIsStructuredToolParams) {
  json tools = Export("langchain");
  EXPECT_EQ(
      tools[0],
      json({{"name", Tool(0).name}, {"description", Tool(0).description}, {"schema", Tool(0).parameters}}));
}

TEST(Export, UnknownFormatListsTheKnownOnes) {
  Result<json> r = ExportTools(DefaultRegistry(), "cohere");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "unknown format 'cohere' (one of openai, openai-responses, anthropic, gemini, mcp, langchain)");
}

}  // namespace
}  // namespace kiln::tools
