// The MCP core without a transport and without a sandbox: the JSON-RPC and MCP rules.
#include "kiln/tools/mcp.h"

#include <gtest/gtest.h>

#include <sstream>

namespace kiln::tools {
namespace {

using json = nlohmann::json;

class McpTest : public ::testing::Test {
 protected:
  json Request(int id, const std::string& method, json params = json::object()) {
    std::optional<json> r =
        server_.Handle({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    EXPECT_TRUE(r.has_value());
    return r ? *r : json();
  }
  json Initialize(const std::string& version = "2025-06-18") {
    return Request(1, "initialize",
                   {{"protocolVersion", version},
                    {"capabilities", json::object()},
                    {"clientInfo", {{"name", "test"}, {"version", "0"}}}});
  }

  ToolRunner runner_{&DefaultRegistry(),
                     [] { return Result<SandboxEndpoint>(Unavailable("no sandbox in this test")); }};
  McpServer server_{&runner_, {"kiln", "0.1.0", "Tools that run code in a Kiln sandbox."}};
};

TEST_F(McpTest, InitializeNegotiatesTheProtocolVersion) {
  json r = Initialize("2025-06-18");
  EXPECT_EQ(r["jsonrpc"], "2.0");
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(r["result"]["capabilities"]["tools"], json({{"listChanged", false}}));
  EXPECT_EQ(r["result"]["serverInfo"]["name"], "kiln");
  EXPECT_EQ(r["result"]["instructions"], "Tools that run code in a Kiln sandbox.");
  EXPECT_EQ(Initialize("2025-11-25")["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(Initialize("1999-01-01")["result"]["protocolVersion"], kMcpLatestProtocolVersion);
}

TEST_F(McpTest, ToolsNeedInitializeFirst) {
  EXPECT_EQ(Request(2, "tools/list")["error"]["code"], -32002);
  EXPECT_EQ(Request(3, "ping")["result"], json::object());
}

TEST_F(McpTest, ToolsListGivesEveryToolWithItsInputSchema) {
  Initialize();
  json tools = Request(2, "tools/list")["result"]["tools"];
  ASSERT_EQ(tools.size(), DefaultRegistry().tools().size());
  EXPECT_EQ(tools[0]["name"], "run_python");
  EXPECT_EQ(tools[0]["inputSchema"]["required"], json::array({"code"}));
}

TEST_F(McpTest, BadArgumentsAreAToolErrorTheModelCanRead) {
  Initialize();
  json r = Request(4, "tools/call", {{"name", "run_python"}, {"arguments", {{"code", 1}}}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["isError"], true);
  EXPECT_EQ(r["result"]["content"][0]["type"], "text");
  EXPECT_NE(r["result"]["content"][0]["text"].get<std::string>().find(
                "arguments.code: expected string, got integer"),
            std::string::npos);
  json unknown = Request(5, "tools/call", {{"name", "nope"}, {"arguments", json::object()}});
  EXPECT_EQ(unknown["error"]["code"], -32602);
  EXPECT_EQ(unknown["error"]["message"], "Unknown tool: nope");
  EXPECT_EQ(Request(6, "tools/call", {{"arguments", json::object()}})["error"]["code"], -32602);
}

TEST_F(McpTest, JsonRpcErrorsAndNotifications) {
  EXPECT_EQ(json::parse(*server_.HandleLine("{not json"))["error"]["code"], -32700);
  EXPECT_EQ(json::parse(*server_.HandleLine("{not json"))["id"], nullptr);
  EXPECT_EQ(
      json::parse(*server_.HandleLine(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])"))["error"]["code"],
      -32600);
  EXPECT_EQ(json::parse(*server_.HandleLine(R"({"jsonrpc":"1.0","id":1,"method":"ping"})"))["error"]["code"],
            -32600);
  EXPECT_EQ(
      json::parse(*server_.HandleLine(R"({"jsonrpc":"2.0","id":null,"method":"ping"})"))["error"]["code"],
      -32600);
  EXPECT_EQ(Request(7, "resources/list")["error"]["code"], -32601);
  EXPECT_FALSE(server_.HandleLine(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").has_value());
  EXPECT_FALSE(server_.HandleLine(R"({"jsonrpc":"2.0","id":9,"result":{}})").has_value());
  EXPECT_FALSE(server_.HandleLine("   ").has_value());
}

TEST_F(McpTest, StdioAnswersOneLinePerRequest) {
  std::istringstream in(
      R"({"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"2025-06-18"}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n"
      R"({"jsonrpc":"2.0","id":"b","method":"tools/list"})"
      "\n");
  std::ostringstream out;
  ServeMcpStdio(server_, in, out);
  std::istringstream lines(out.str());
  std::string first, second, third;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_FALSE(std::getline(lines, third));
  EXPECT_EQ(json::parse(first)["id"], "a");
  EXPECT_EQ(json::parse(second)["id"], "b");
  EXPECT_EQ(json::parse(second)["result"]["tools"].size(), DefaultRegistry().tools().size());
}

TEST(McpResult, ImagesBecomeImageContent) {
  ToolResult r{{{Content::Type::kText, "hi", "", ""}, {Content::Type::kImage, "", "image/png", "iVBORw0K"}},
               false};
  EXPECT_EQ(ToMcpResult(r), json::parse(R"({"content":[{"type":"text","text":"hi"},
      {"type":"image","data":"iVBORw0K","mimeType":"image/png"}],"isError":false})"));
}

}  // namespace
}  // namespace kiln::tools
