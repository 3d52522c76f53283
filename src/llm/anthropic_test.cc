// Anthropic Messages provider against a fake server speaking the documented format.
#include <gtest/gtest.h>

#include "fake_server_test_util.h"

namespace kiln::llm {
namespace {

using nlohmann::json;
using testing::FakeServer;
using testing::kTestKey;
using testing::TestOptions;

json MessageBody() {
  return json::parse(R"({
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "I'll read it."},
                {"type": "tool_use", "id": "toolu_01", "name": "run", "input": {"cmd": "cat a.txt"}}],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 20, "output_tokens": 15, "cache_creation_input_tokens": 5,
              "cache_read_input_tokens": 100}})");
}

TEST(Anthropic, RequestShapeAndParsing) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, MessageBody());
  ChatRequest req = testing::ToolRoundTripRequest();
  req.messages.push_back({Role::kTool, "permission denied", {}, "call_2", "run", true});
  req.messages.push_back({Role::kSystem, "Be careful.", {}, "", "", false});
  auto p = MakeProvider("anthropic:claude-sonnet-4-20250514", t.options);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto r = (*p)->Chat(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/messages");
  EXPECT_EQ(reqs[0].header("x-api-key"), kTestKey);
  EXPECT_EQ(reqs[0].header("anthropic-version"), "2023-06-01");
  EXPECT_FALSE(reqs[0].has_header("authorization"));
  json b = reqs[0].json();
  EXPECT_EQ(b["model"], "claude-sonnet-4-20250514");
  EXPECT_EQ(b["max_tokens"], 256);
  EXPECT_EQ(b["system"], "You are terse.\n\nBe careful.");
  EXPECT_EQ(b["tools"][0], json::parse(R"({"name":"run","description":"Run a shell command",
      "input_schema":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}})"));
  ASSERT_EQ(b["messages"].size(), 3u);
  EXPECT_EQ(b["messages"][0], json::parse(R"({"role":"user","content":"List files"})"));
  EXPECT_EQ(b["messages"][1],
            json::parse(R"({"role":"assistant","content":[{"type":"text","text":"Let me look."},
      {"type":"tool_use","id":"call_1","name":"run","input":{"cmd":"ls"}}]})"));
  EXPECT_EQ(b["messages"][2], json::parse(R"({"role":"user","content":[
      {"type":"tool_result","tool_use_id":"call_1","content":"a.txt\nb.txt"},
      {"type":"tool_result","tool_use_id":"call_2","content":"permission denied","is_error":true}]})"));

  EXPECT_EQ(r->text, "I'll read it.");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "toolu_01");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments_json), json::parse(R"({"cmd":"cat a.txt"})"));
  EXPECT_EQ(r->finish_reason, "tool_use");
  EXPECT_EQ(r->finish, Finish::kToolCalls);
  EXPECT_EQ(r->usage.input_tokens, 125);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 100);
  EXPECT_EQ(r->usage.cache_creation_input_tokens, 5);
  EXPECT_EQ(r->usage.output_tokens, 15);
  EXPECT_EQ(r->response_id, "msg_01");
  EXPECT_EQ(r->response_model, "claude-sonnet-4-20250514");
  EXPECT_EQ(r->call.provider_name, "anthropic");
}

TEST(Anthropic, DefaultsMaxTokens) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, MessageBody());
  auto r = (*MakeProvider("anthropic:claude-haiku-4-5", t.options))->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.requests()[0].json()["max_tokens"], 4096);
}

TEST(Anthropic, OverloadedIsRetried) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(529,
                  json::parse(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},
      "request_id":"req_1"})"));
  server.PushJson(200, MessageBody());
  auto r = (*MakeProvider("anthropic:claude-sonnet-4", t.options))->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(r->call.attempts, 2);
}

TEST(Anthropic, ErrorBodySurfaced) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(400, json::parse(R"({"type":"error","error":{"type":"invalid_request_error",
      "message":"max_tokens: Field required"},"request_id":"req_2"})"));
  CallInfo info;
  auto r = (*MakeProvider("anthropic:claude-sonnet-4", t.options))->Chat({}, &info);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "anthropic: 400 invalid_request_error: max_tokens: Field required");
  EXPECT_EQ(info.error_type, "invalid_request_error");
}

TEST(Anthropic, MissingKeyNamesVariable) {
  ProviderOptions o;
  o.env = [](const std::string&) { return std::nullopt; };
  auto p = MakeProvider("anthropic:claude-sonnet-4", o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("ANTHROPIC_API_KEY"), std::string::npos) << p.status().message();
}

TEST(Anthropic, KeyAndBaseUrlFromEnvironment) {
  FakeServer server;
  server.PushJson(200, MessageBody());
  ProviderOptions o;
  o.env = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "ANTHROPIC_API_KEY") return std::string("env-key");
    if (name == "ANTHROPIC_BASE_URL") return server.url() + "/";
    return std::nullopt;
  };
  auto r = (*MakeProvider("anthropic:claude-sonnet-4", o))->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.requests()[0].path, "/v1/messages");
  EXPECT_EQ(server.requests()[0].header("x-api-key"), "env-key");
}

}  // namespace
}  // namespace kiln::llm
