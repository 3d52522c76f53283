// The MCP streamable HTTP transport at /mcp (mcp_http.h) over real HTTP: its refusals (foreign Origin,
// missing, unknown or another key's Mcp-Session-Id, malformed JSON-RPC, GET, a huge body), DELETE, and an
// idle session ending with its sandbox. The happy path with the official SDK client is
// tests/e2e/mcp_http_test.mjs.
#include <chrono>
#include <thread>

#include "kiln/tools/registry.h"
#include "mcp_http.h"
#include "server_test_util.h"

namespace kiln::server {
namespace {

const char kInitialize[] =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{},"clientInfo":{"name":"test","version":"1"}}})";
const char kListTools[] = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";

class McpHttpTest : public ServerTest {
 protected:
  void ConfigureServer(ServerOptions& options) override {
    options.mcp_tools = &tools::DefaultRegistry();
    options.mcp_idle_timeout_s = idle_timeout_s_;
  }

  http::Response Mcp(const std::string& method, const std::string& key, const std::string& body,
                     const std::string& session = "", http::Headers headers = {}) {
    if (!session.empty()) headers.Set("Mcp-Session-Id", session);
    headers.Set("Accept", "application/json, text/event-stream");
    return Call(method, "/mcp", key, body, headers);
  }
  // Opens a session for `key` and sends notifications/initialized; its Mcp-Session-Id.
  std::string Open(const std::string& key) {
    http::Response opened = Mcp("POST", key, kInitialize);
    EXPECT_EQ(opened.status, 200) << opened.body;
    std::string id(opened.headers.Get("Mcp-Session-Id").value_or(""));
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(Body(opened)["result"]["serverInfo"]["name"], "kiln") << opened.body;
    http::Response ready = Mcp("POST", key, R"({"jsonrpc":"2.0","method":"notifications/initialized"})", id);
    EXPECT_EQ(ready.status, 202) << ready.body;
    EXPECT_EQ(ready.body, "");
    return id;
  }
  // The JSON-RPC error code of an answer, 0 when it has none.
  static int ErrorCode(const http::Response& r) {
    Json body = Body(r);
    return body.is_object() && body.contains("error") ? body["error"].value("code", 0) : 0;
  }
  // Running sandboxes of `key` that an MCP session made.
  size_t McpSandboxes(const std::string& key) {
    Json listed = Body(Call("GET", "/v2/sandboxes", key));
    size_t count = 0;
    for (const Json& s : listed)
      if (s.value("metadata", Json::object()).value("kiln.mcp", "") == "session") ++count;
    return count;
  }

  int64_t idle_timeout_s_ = 1800;
};

TEST_F(McpHttpTest, ForeignOriginsAreRefusedAndLoopbackOnesServed) {
  http::Headers evil;
  evil.Set("Origin", "http://evil.example");
  http::Response refused = Mcp("POST", alice_, kInitialize, "", evil);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("evil.example"), std::string::npos) << refused.body;
  EXPECT_FALSE(refused.headers.Has("Mcp-Session-Id"));
  // A rebinding page whose name only starts like a loopback one.
  http::Headers lookalike;
  lookalike.Set("Origin", "http://localhost.evil.example:8080");
  EXPECT_EQ(Mcp("POST", alice_, kInitialize, "", lookalike).status, 403);

  http::Headers local;
  local.Set("Origin", "http://localhost:5173");
  EXPECT_EQ(Mcp("POST", alice_, kInitialize, "", local).status, 200);
  // A page of the server's own site, reached by name.
  http::Headers same_host;
  same_host.Set("Host", "kiln.example:3000");
  same_host.Set("Origin", "http://kiln.example:3000");
  EXPECT_EQ(Mcp("POST", alice_, kInitialize, "", same_host).status, 200);
  http::Headers other_port = same_host;
  other_port.Set("Origin", "http://kiln.example:3001");
  EXPECT_EQ(Mcp("POST", alice_, kInitialize, "", other_port).status, 403);
}

TEST_F(McpHttpTest, OriginCheckAllowsOnlyLoopbackAndTheServersOwnHost) {
  EXPECT_TRUE(McpOriginAllowed("http://localhost", "kiln.example:3000"));
  EXPECT_TRUE(McpOriginAllowed("https://[::1]:8443", ""));
  EXPECT_TRUE(McpOriginAllowed("http://kiln.example:3000", "kiln.example:3000"));
  EXPECT_FALSE(McpOriginAllowed("http://kiln.example:3001", "kiln.example:3000"));
  EXPECT_FALSE(McpOriginAllowed("null", "kiln.example:3000"));
  EXPECT_FALSE(McpOriginAllowed("file://localhost", ""));
  EXPECT_FALSE(McpOriginAllowed("http://localhost/path", ""));
  EXPECT_FALSE(McpOriginAllowed("http://127.0.0.1.evil.example", ""));
  EXPECT_FALSE(McpOriginAllowed("http://", ""));
  EXPECT_FALSE(McpOriginAllowed("http://[::1", ""));
}

TEST_F(McpHttpTest, RequestsMustNameALiveSessionOfTheirOwnKey) {
  http::Response missing = Mcp("POST", alice_, kListTools);
  EXPECT_EQ(missing.status, 400) << missing.body;
  EXPECT_NE(missing.body.find("Mcp-Session-Id"), std::string::npos) << missing.body;
  EXPECT_EQ(Mcp("POST", alice_, kListTools, "nosuchsession").status, 404);

  std::string session = Open(alice_);
  http::Response listed = Mcp("POST", alice_, kListTools, session);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_FALSE(Body(listed)["result"]["tools"].empty()) << listed.body;
  // The id alone is no credential: without the key 401, with another key the session does not exist.
  EXPECT_EQ(Mcp("POST", "", kListTools, session).status, 401);
  EXPECT_EQ(Mcp("POST", bob_, kListTools, session).status, 404);
  EXPECT_EQ(Mcp("DELETE", bob_, "", session).status, 404);

  EXPECT_EQ(Mcp("DELETE", alice_, "").status, 400);
  EXPECT_EQ(Mcp("DELETE", alice_, "", session).status, 204);
  EXPECT_EQ(Mcp("POST", alice_, kListTools, session).status, 404);
  EXPECT_EQ(Mcp("DELETE", alice_, "", session).status, 404);
}

TEST_F(McpHttpTest, MalformedMessagesGetJsonRpcErrors) {
  http::Response not_json = Mcp("POST", alice_, "{\"jsonrpc\": \"2.0\", ");
  EXPECT_EQ(not_json.status, 400) << not_json.body;
  EXPECT_EQ(ErrorCode(not_json), -32700) << not_json.body;

  std::string session = Open(alice_);
  for (const char* invalid : {R"([{"jsonrpc":"2.0","id":3,"method":"ping"}])", R"("ping")",
                              R"({"jsonrpc":"1.0","id":3,"method":"ping"})", R"({"jsonrpc":"2.0","id":3})",
                              R"({"jsonrpc":"2.0","id":3,"method":7})"}) {
    http::Response r = Mcp("POST", alice_, invalid, session);
    EXPECT_EQ(r.status, 400) << invalid << ": " << r.body;
    EXPECT_EQ(ErrorCode(r), -32600) << invalid << ": " << r.body;
  }
  // A JSON-RPC response (the server sends no requests, so it is dropped) is accepted like a notification.
  http::Response answer = Mcp("POST", alice_, R"({"jsonrpc":"2.0","id":9,"result":{}})", session);
  EXPECT_EQ(answer.status, 202) << answer.body;
  http::Response unknown = Mcp("POST", alice_, R"({"jsonrpc":"2.0","id":4,"method":"no/such"})", session);
  EXPECT_EQ(unknown.status, 200) << unknown.body;
  EXPECT_EQ(ErrorCode(unknown), -32601) << unknown.body;
  EXPECT_EQ(Body(unknown)["id"], 4);
  http::Response bad_params =
      Mcp("POST", alice_, R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":7}})", session);
  EXPECT_EQ(ErrorCode(bad_params), -32602) << bad_params.body;
  // The session survives all of it.
  EXPECT_EQ(Mcp("POST", alice_, kListTools, session).status, 200);
}

TEST_F(McpHttpTest, GetOffersNoStream) {
  http::Headers sse;
  sse.Set("Accept", "text/event-stream");
  http::Response r = Call("GET", "/mcp", alice_, "", sse);
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_EQ(r.headers.Get("Allow").value_or(""), "POST, DELETE");
  EXPECT_EQ(Call("PUT", "/mcp", alice_, kInitialize).status, 405);
}

TEST_F(McpHttpTest, HugeBodyIsRefusedBeforeItIsRead) {
  std::string huge = std::string(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":")") +
                     std::string(4 << 20, 'a') + "\"}}";
  http::Response r = Mcp("POST", alice_, huge);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 200);
  EXPECT_FALSE(r.headers.Has("Mcp-Session-Id"));
}

// MCP-Protocol-Version (2025-06-18): an unsupported one is 400 naming the header; Accept must take JSON.
TEST_F(McpHttpTest, ProtocolVersionAndAcceptHeadersAreChecked) {
  std::string session = Open(alice_);
  http::Headers version;
  version.Set("MCP-Protocol-Version", "2025-06-18");
  EXPECT_EQ(Mcp("POST", alice_, kListTools, session, version).status, 200);
  version.Set("MCP-Protocol-Version", "1999-01-01");
  http::Response old = Mcp("POST", alice_, kListTools, session, version);
  EXPECT_EQ(old.status, 400) << old.body;
  EXPECT_NE(old.body.find("MCP-Protocol-Version"), std::string::npos) << old.body;
  EXPECT_NE(old.body.find("2025-06-18"), std::string::npos) << old.body;
  http::Headers headers;
  headers.Set("Mcp-Session-Id", session);
  headers.Set("Accept", "text/html");
  http::Response html = Call("POST", "/mcp", alice_, kListTools, headers);
  EXPECT_EQ(html.status, 406) << html.body;
  EXPECT_NE(html.body.find("application/json"), std::string::npos) << html.body;
}

// notifications/cancelled reaches a tools/call that is running (it does not wait for the session behind it):
// the call's process is killed, the call answers with an error result, and the session serves the next call.
TEST_F(McpHttpTest, CancelledStopsTheRunningToolCall) {
  std::string session = Open(alice_);
  const std::string sleep = R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"run_shell",)"
                            R"("arguments":{"command":"echo started; sleep 600"}}})";
  auto started = std::chrono::steady_clock::now();
  std::thread caller;
  http::Response slept;
  caller = std::thread([&] { slept = Mcp("POST", alice_, sleep, session); });
  // The sandbox and its process take a moment; a cancel before the call runs would find nothing to stop.
  for (int i = 0; i < 100 && McpSandboxes(alice_) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  http::Response cancel =
      Mcp("POST", alice_,
          R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"user"}})",
          session);
  EXPECT_EQ(cancel.status, 202) << cancel.body;
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
  ASSERT_EQ(slept.status, 200) << slept.body;
  Json result = Body(slept)["result"];
  EXPECT_EQ(result["isError"], true) << slept.body;
  EXPECT_NE(result.dump().find("stopped"), std::string::npos) << slept.body;
  http::Response next = Mcp("POST", alice_,
                            R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"run_shell",)"
                            R"("arguments":{"command":"echo next"}}})",
                            session);
  EXPECT_NE(next.body.find("next"), std::string::npos) << next.body;
}

class McpHttpIdleTest : public McpHttpTest {
 protected:
  void ConfigureServer(ServerOptions& options) override {
    idle_timeout_s_ = 1;
    McpHttpTest::ConfigureServer(options);
  }
};

// A session whose client went away without DELETE ends once idle, and its sandbox with it.
TEST_F(McpHttpIdleTest, IdleSessionEndsWithItsSandbox) {
  std::string session = Open(alice_);
  http::Response ran = Mcp(
      "POST", alice_,
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"run_shell","arguments":{"command":"echo hi"}}})",
      session);
  ASSERT_EQ(ran.status, 200) << ran.body;
  EXPECT_EQ(Body(ran)["result"]["isError"], false) << ran.body;
  EXPECT_EQ(McpSandboxes(alice_), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // idle past the 1 s timeout
  EXPECT_EQ(Mcp("POST", alice_, kListTools, session).status, 404);
  EXPECT_EQ(McpSandboxes(alice_), 0u);
}

}  // namespace
}  // namespace kiln::server
