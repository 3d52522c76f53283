// OpenAI Responses, Chat Completions and OpenAI-compatible providers against a fake server, plus the shared
// HTTP behaviour (errors, retries, timeouts, redaction) exercised through them.
#include <gtest/gtest.h>

#include "fake_server_test_util.h"
#include "kiln/base/clock.h"

namespace kiln::llm {
namespace {

using nlohmann::json;
using testing::Canned;
using testing::FakeServer;
using testing::kTestKey;
using testing::TestOptions;

std::unique_ptr<Provider> Make(const std::string& model, const ProviderOptions& o) {
  auto p = MakeProvider(model, o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(p).value() : nullptr;
}

json ResponsesBody() {
  return json::parse(R"({
    "id": "resp_123", "object": "response", "status": "completed", "model": "gpt-4o-2024-08-06",
    "output": [
      {"type": "reasoning", "id": "rs_1", "summary": []},
      {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
       "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
      {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "run",
       "arguments": "{\"cmd\":\"cat a.txt\"}", "status": "completed"}],
    "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100}, "output_tokens": 30,
              "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 150}})");
}

json ChatBody() {
  return json::parse(R"({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "tool_calls",
      "message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "call_7", "type": "function",
                        "function": {"name": "run", "arguments": "{\"cmd\":\"pwd\"}"}}]}}],
    "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58,
              "prompt_tokens_details": {"cached_tokens": 10},
              "completion_tokens_details": {"reasoning_tokens": 0}}})");
}

TEST(OpenAiResponses, RequestShapeAndParsing) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.PushJson(200, ResponsesBody());
  auto p = Make("openai:gpt-4o", t.options);
  auto r = p->Chat(testing::ToolRoundTripRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/responses");
  EXPECT_EQ(reqs[0].header("authorization"), std::string("Bearer ") + kTestKey);
  json b = reqs[0].json();
  EXPECT_EQ(b["model"], "gpt-4o");
  EXPECT_EQ(b["instructions"], "You are terse.");
  EXPECT_EQ(b["max_output_tokens"], 256);
  EXPECT_DOUBLE_EQ(b["temperature"].get<double>(), 0.2);
  EXPECT_EQ(b["tools"][0], json::parse(R"({"type":"function","name":"run","description":"Run a shell command",
      "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]},"strict":false})"));
  ASSERT_EQ(b["input"].size(), 4u);
  EXPECT_EQ(b["input"][0], json::parse(R"({"role":"user","content":"List files"})"));
  EXPECT_EQ(b["input"][1], json::parse(R"({"role":"assistant","content":"Let me look."})"));
  EXPECT_EQ(
      b["input"][2],
      json::parse(
          R"({"type":"function_call","call_id":"call_1","name":"run","arguments":"{\"cmd\":\"ls\"}"})"));
  EXPECT_EQ(b["input"][3],
            json::parse(R"({"type":"function_call_output","call_id":"call_1","output":"a.txt\nb.txt"})"));

  EXPECT_EQ(r->text, "Checking.");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "call_9");
  EXPECT_EQ(r->tool_calls[0].name, "run");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments_json)["cmd"], "cat a.txt");
  EXPECT_EQ(r->usage.input_tokens, 120);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 100);
  EXPECT_EQ(r->usage.output_tokens, 30);
  EXPECT_EQ(r->usage.reasoning_output_tokens, 12);
  EXPECT_EQ(r->finish_reason, "completed");
  EXPECT_EQ(r->finish, Finish::kToolCalls);
  EXPECT_EQ(r->response_id, "resp_123");
  EXPECT_EQ(r->response_model, "gpt-4o-2024-08-06");
  EXPECT_EQ(r->call.provider_name, "openai");
  EXPECT_EQ(r->call.operation_name, "chat");
  EXPECT_EQ(r->call.request_model, "gpt-4o");
  EXPECT_EQ(r->call.server_address, "127.0.0.1");
  EXPECT_EQ(r->call.server_port, server.port());
  EXPECT_EQ(r->call.attempts, 1);
  EXPECT_TRUE(r->call.error_type.empty());
}

TEST(OpenAiResponses, IncompleteReportsLength) {
  FakeServer server;
  TestOptions t(server, "/v1");
  json body = ResponsesBody();
  body["status"] = "incomplete";
  body["incomplete_details"] = {{"reason", "max_output_tokens"}};
  body["output"] = json::array();
  server.PushJson(200, body);
  auto r = Make("openai:gpt-4o", t.options)->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->finish_reason, "max_output_tokens");
  EXPECT_EQ(r->finish, Finish::kLength);
}

TEST(OpenAiChat, RequestShapeAndParsing) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.PushJson(200, ChatBody());
  auto r = Make("openai-chat:gpt-4o-mini", t.options)->Chat(testing::ToolRoundTripRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].header("authorization"), std::string("Bearer ") + kTestKey);
  json b = reqs[0].json();
  EXPECT_EQ(b["model"], "gpt-4o-mini");
  EXPECT_EQ(b["max_completion_tokens"], 256);
  EXPECT_FALSE(b.contains("max_tokens"));
  EXPECT_EQ(b["tools"][0], json::parse(R"({"type":"function","function":{"name":"run",
      "description":"Run a shell command",
      "parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}}})"));
  ASSERT_EQ(b["messages"].size(), 4u);
  EXPECT_EQ(b["messages"][0], json::parse(R"({"role":"system","content":"You are terse."})"));
  EXPECT_EQ(b["messages"][1], json::parse(R"({"role":"user","content":"List files"})"));
  EXPECT_EQ(b["messages"][2], json::parse(R"({"role":"assistant","content":"Let me look.","tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"run","arguments":"{\"cmd\":\"ls\"}"}}]})"));
  EXPECT_EQ(b["messages"][3],
            json::parse(R"({"role":"tool","tool_call_id":"call_1","content":"a.txt\nb.txt"})"));

  EXPECT_EQ(r->text, "");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "call_7");
  EXPECT_EQ(r->tool_calls[0].arguments_json, R"({"cmd":"pwd"})");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->finish, Finish::kToolCalls);
  EXPECT_EQ(r->usage.input_tokens, 50);
  EXPECT_EQ(r->usage.output_tokens, 8);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 10);
  EXPECT_EQ(r->response_id, "chatcmpl-1");
  EXPECT_EQ(r->response_model, "gpt-4o-mini-2024-07-18");
}

TEST(Compat, UsesBaseUrlFromModelStringMaxTokensAndOptionalKey) {
  FakeServer server;
  TestOptions t(server, "");
  t.options.base_url.clear();
  t.options.api_key.clear();
  json body = ChatBody();
  body["choices"][0] =
      json::parse(R"({"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}})");
  body.erase("usage");  // some local servers omit usage
  server.PushJson(200, body);
  server.PushJson(200, body);
  std::string model = "compat:qwen2.5:7b@" + server.url() + "/v1";
  auto p = Make(model, t.options);
  EXPECT_EQ(p->provider_name(), "openai");
  EXPECT_EQ(p->request_model(), "qwen2.5:7b");
  ChatRequest req;
  req.max_output_tokens = 64;
  req.messages.push_back({Role::kUser, "hello", {}, "", "", false});
  auto r = p->Chat(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "hi");
  EXPECT_EQ(r->finish, Finish::kStop);
  EXPECT_EQ(r->usage.input_tokens, 0);
  auto reqs = server.requests();
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_FALSE(reqs[0].has_header("authorization"));
  EXPECT_EQ(reqs[0].json()["max_tokens"], 64);
  EXPECT_EQ(reqs[0].json()["model"], "qwen2.5:7b");

  t.env["KILN_COMPAT_API_KEY"] = "compat-key";
  ASSERT_TRUE(Make(model, t.options)->Chat(req).ok());
  EXPECT_EQ(server.requests()[1].header("authorization"), "Bearer compat-key");
}

TEST(OpenAiErrors, AuthErrorSurfacesProviderMessageWithoutRetry) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.PushJson(
      401, json::parse(R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error",
      "param":null,"code":"invalid_api_key"}})"));
  CallInfo info;
  auto r = Make("openai:gpt-4o", t.options)->Chat({}, &info);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(r.status().message(), "openai: 401 invalid_api_key: Incorrect API key provided");
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(info.error_type, "invalid_api_key");
  EXPECT_EQ(info.http_status, 401);
  EXPECT_EQ(info.provider_name, "openai");
  EXPECT_GT(info.duration.count(), 0);
}

TEST(OpenAiErrors, StatusCodesMapToCodes) {
  const std::pair<int, Code> cases[] = {
      {400, Code::kInvalidArgument}, {403, Code::kPermissionDenied}, {404, Code::kNotFound}};
  for (const auto& [status, code] : cases) {
    FakeServer server;
    TestOptions t(server, "/v1");
    server.PushJson(status, {{"error", {{"message", "nope"}, {"type", "invalid_request_error"}}}});
    auto r = Make("openai-chat:gpt-4o", t.options)->Chat({});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << status;
    EXPECT_EQ(r.status().message(), "openai: " + std::to_string(status) + " invalid_request_error: nope");
  }
}

TEST(OpenAiErrors, KeyIsRedactedFromErrors) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.PushJson(
      401,
      {{"error",
        {{"message", std::string("Incorrect API key provided: ") + kTestKey}, {"code", "invalid_api_key"}}}});
  server.Push({200, std::string("not json, echoing ") + kTestKey, {}, {}});
  auto p = Make("openai:gpt-4o", t.options);
  auto r1 = p->Chat({});
  auto r2 = p->Chat({});
  for (const Status& s : {r1.status(), r2.status()}) {
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message().find(kTestKey), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("[REDACTED]"), std::string::npos) << s.message();
  }
}

TEST(OpenAiRetry, RateLimitHonoursRetryAfterThenSucceeds) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push({429,
               R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})",
               {{"Retry-After", "2"}},
               {}});
  server.PushJson(200, ResponsesBody());
  auto r = Make("openai:gpt-4o", t.options)->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.requests().size(), 2u);
  ASSERT_EQ(t.sleeps->size(), 1u);
  EXPECT_EQ((*t.sleeps)[0], std::chrono::milliseconds(2000));
  EXPECT_EQ(r->call.attempts, 2);
}

TEST(OpenAiRetry, ServerErrorBacksOffThenSucceeds) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.PushJson(500, {{"error", {{"message", "The server had an error"}, {"type", "server_error"}}}});
  server.PushJson(200, ChatBody());
  auto r = Make("openai-chat:gpt-4o", t.options)->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(t.sleeps->size(), 1u);
  EXPECT_EQ((*t.sleeps)[0], std::chrono::milliseconds(437));  // 500 ms * (1 - 0.25 * 0.5)
}

TEST(OpenAiRetry, GivesUpAfterMaxRetries) {
  FakeServer server;
  TestOptions t(server, "/v1");
  for (int i = 0; i < 3; ++i)
    server.PushJson(503, {{"error", {{"message", "overloaded"}, {"type", "server_error"}}}});
  CallInfo info;
  auto r = Make("openai:gpt-4o", t.options)->Chat({}, &info);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "openai: 503 server_error: overloaded (after 3 attempts)");
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(info.attempts, 3);
  EXPECT_EQ(t.sleeps->size(), 2u);
}

TEST(OpenAiRetry, ShouldRetryFalseStopsRetries) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(
      {500, R"({"error":{"message":"boom","type":"server_error"}})", {{"x-should-retry", "false"}}, {}});
  auto r = Make("openai:gpt-4o", t.options)->Chat({});
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(OpenAiRetry, RetryAfterAboveCapFailsFast) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(
      {429, R"({"error":{"message":"quota","code":"insufficient_quota"}})", {{"retry-after", "3600"}}, {}});
  auto r = Make("openai:gpt-4o", t.options)->Chat({});
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("insufficient_quota: quota"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(t.sleeps->empty());
}

TEST(OpenAiTimeout, SlowServerIsDeadlineExceeded) {
  FakeServer server;
  TestOptions t(server, "/v1");
  t.options.total_timeout = std::chrono::milliseconds(300);
  t.options.retry.max_retries = 0;
  server.Push({200, ResponsesBody().dump(), {}, std::chrono::milliseconds(1500)});
  CallInfo info;
  int64_t start = MonotonicMillis();
  auto r = Make("openai:gpt-4o", t.options)->Chat({}, &info);
  EXPECT_LT(MonotonicMillis() - start, 1200);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().ToString();
  EXPECT_EQ(info.error_type, "timeout");
}

TEST(OpenAiNetwork, ConnectionRefusedIsRetriedThenUnavailable) {
  int dead_port;
  {
    FakeServer server;
    dead_port = server.port();
  }
  FakeServer unused;
  TestOptions t(unused, "");
  t.options.base_url = "http://127.0.0.1:" + std::to_string(dead_port) + "/v1";
  t.options.retry.max_retries = 1;
  CallInfo info;
  auto r = Make("openai:gpt-4o", t.options)->Chat({}, &info);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_EQ(info.attempts, 2);
  EXPECT_EQ(info.error_type, "connection_error");
}

TEST(OpenAiMalformed, NonJsonAndWrongShapeAreClearErrors) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push({200, "<html>gateway</html>", {}, {}});
  server.PushJson(200, {{"id", "x"}, {"output", "not-an-array"}});
  auto p = Make("openai:gpt-4o", t.options);
  CallInfo info;
  auto r1 = p->Chat({}, &info);
  EXPECT_EQ(r1.status().code(), Code::kInternal);
  EXPECT_NE(r1.status().message().find("openai: malformed response"), std::string::npos)
      << r1.status().message();
  EXPECT_EQ(info.error_type, "malformed_response");
  auto r2 = p->Chat({});
  EXPECT_EQ(r2.status().code(), Code::kInternal);
  EXPECT_NE(r2.status().message().find("unexpected response shape"), std::string::npos)
      << r2.status().message();
}

}  // namespace
}  // namespace kiln::llm
