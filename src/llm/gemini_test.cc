// Gemini generateContent provider against a fake server speaking the documented format.
#include <gtest/gtest.h>

#include "fake_server_test_util.h"

namespace kiln::llm {
namespace {

using nlohmann::json;
using testing::FakeServer;
using testing::kTestKey;
using testing::TestOptions;

json GenerateBody() {
  return json::parse(R"({
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "thinking...", "thought": true},
        {"text": "Reading it."},
        {"functionCall": {"name": "run", "args": {"cmd": "cat a.txt"}}}]},
      "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 10, "totalTokenCount": 58,
                      "thoughtsTokenCount": 8, "cachedContentTokenCount": 32},
    "modelVersion": "gemini-2.5-flash", "responseId": "resp-g1"})");
}

TEST(Gemini, RequestShapeAndParsing) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, GenerateBody());
  auto p = MakeProvider("gemini:gemini-2.5-flash", t.options);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->provider_name(), "gcp.gemini");
  auto r = (*p)->Chat(testing::ToolRoundTripRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(reqs[0].header("x-goog-api-key"), kTestKey);
  EXPECT_FALSE(reqs[0].has_header("authorization"));
  json b = reqs[0].json();
  EXPECT_FALSE(b.contains("model"));
  EXPECT_EQ(b["systemInstruction"], json::parse(R"({"parts":[{"text":"You are terse."}]})"));
  EXPECT_EQ(b["generationConfig"]["maxOutputTokens"], 256);
  EXPECT_DOUBLE_EQ(b["generationConfig"]["temperature"].get<double>(), 0.2);
  EXPECT_EQ(b["tools"],
            json::parse(R"([{"functionDeclarations":[{"name":"run","description":"Run a shell command",
      "parametersJsonSchema":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}}]}])"));
  EXPECT_EQ(b["contents"], json::parse(R"([
      {"role":"user","parts":[{"text":"List files"}]},
      {"role":"model","parts":[{"text":"Let me look."},{"functionCall":{"name":"run","args":{"cmd":"ls"},"id":"call_1"}}]},
      {"role":"user","parts":[{"functionResponse":{"name":"run","response":{"output":"a.txt\nb.txt"},"id":"call_1"}}]}
    ])"));

  EXPECT_EQ(r->text, "Reading it.");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].name, "run");
  EXPECT_FALSE(r->tool_calls[0].id.empty());
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments_json)["cmd"], "cat a.txt");
  EXPECT_EQ(r->finish_reason, "STOP");
  EXPECT_EQ(r->finish, Finish::kToolCalls);
  EXPECT_EQ(r->usage.input_tokens, 40);
  EXPECT_EQ(r->usage.output_tokens, 18);
  EXPECT_EQ(r->usage.reasoning_output_tokens, 8);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 32);
  EXPECT_EQ(r->response_id, "resp-g1");
  EXPECT_EQ(r->response_model, "gemini-2.5-flash");
  EXPECT_EQ(r->call.operation_name, "generate_content");
}

TEST(Gemini, SynthesizedCallIdsAreNotSentBack) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, GenerateBody());
  server.PushJson(200, GenerateBody());
  auto p = std::move(MakeProvider("gemini:gemini-2.5-flash", t.options)).value();
  auto r = p->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ChatRequest next;
  next.messages.push_back({Role::kAssistant, "", r->tool_calls, "", "", false});
  next.messages.push_back({Role::kTool, "done", {}, r->tool_calls[0].id, "run", false});
  ASSERT_TRUE(p->Chat(next).ok());
  json contents = server.requests()[1].json()["contents"];
  EXPECT_FALSE(contents[0]["parts"][0]["functionCall"].contains("id"));
  EXPECT_FALSE(contents[1]["parts"][0]["functionResponse"].contains("id"));
}

TEST(Gemini, ErrorBodySurfacedAndRateLimitRetried) {
  FakeServer server;
  TestOptions t(server, "");
  server.Push({429,
               R"({"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}})",
               {{"Retry-After", "1"}},
               {}});
  server.PushJson(
      400, json::parse(R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",
      "status":"INVALID_ARGUMENT"}})"));
  auto r = (*MakeProvider("gemini:gemini-2.5-pro", t.options))->Chat({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(
      r.status().message(),
      "gemini: 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key. (after 2 attempts)");
  ASSERT_EQ(t.sleeps->size(), 1u);
  EXPECT_EQ((*t.sleeps)[0], std::chrono::milliseconds(1000));
}

TEST(Gemini, BlockedPromptIsContentFilter) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, json::parse(R"({"promptFeedback":{"blockReason":"SAFETY"},
      "usageMetadata":{"promptTokenCount":7}})"));
  auto r = (*MakeProvider("gemini:gemini-2.5-flash", t.options))->Chat({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->finish, Finish::kContentFilter);
  EXPECT_EQ(r->finish_reason, "SAFETY");
}

TEST(Gemini, MissingKeyNamesVariable) {
  ProviderOptions o;
  o.env = [](const std::string&) { return std::nullopt; };
  auto p = MakeProvider("gemini:gemini-2.5-flash", o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("GEMINI_API_KEY"), std::string::npos);
}

}  // namespace
}  // namespace kiln::llm
