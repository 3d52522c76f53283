// Tool calling across providers, each against a fake server speaking its documented format: parallel calls
// in a reply, their results sent back in one round, and tool-call arguments that are not valid JSON (kept
// as the model wrote them, replayed without failing the request).
#include <gtest/gtest.h>

#include "fake_server_test_util.h"

namespace kiln::llm {
namespace {

using nlohmann::json;
using testing::FakeServer;
using testing::TestOptions;

std::unique_ptr<Provider> Make(const std::string& model, const ProviderOptions& o) {
  auto p = MakeProvider(model, o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(p).value() : nullptr;
}

ToolSpec CountTool() {
  return {"count",
          "Count the lines of a file",
          {{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}, {"required", {"path"}}}};
}

// A round with two parallel calls, one of which failed, then the person's next line.
ChatRequest ParallelRound() {
  ChatRequest req;
  req.tools.push_back(CountTool());
  req.messages.push_back({Role::kUser, "Count a.txt and b.txt", {}, "", "", false});
  req.messages.push_back(
      {Role::kAssistant,
       "",
       {{"call_a", "count", R"({"path":"a.txt"})"}, {"call_b", "count", R"({"path":"b.txt"})"}},
       "",
       "",
       false});
  req.messages.push_back({Role::kTool, "3", {}, "call_a", "count", false});
  req.messages.push_back({Role::kTool, "no such file", {}, "call_b", "count", true});
  req.messages.push_back({Role::kUser, "And c.txt?", {}, "", "", false});
  return req;
}

void ExpectTwoCalls(const ChatResponse& r) {
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].name, "count");
  EXPECT_EQ(json::parse(r.tool_calls[0].arguments_json), json::parse(R"({"path":"a.txt"})"));
  EXPECT_EQ(r.tool_calls[1].name, "count");
  EXPECT_EQ(json::parse(r.tool_calls[1].arguments_json), json::parse(R"({"path":"b.txt"})"));
  EXPECT_NE(r.tool_calls[0].id, r.tool_calls[1].id);
  EXPECT_EQ(r.finish, Finish::kToolCalls);
}

json ChatCompletionsTwoCalls() {
  return json::parse(R"({"id":"chatcmpl-2","object":"chat.completion","model":"gpt-4o",
    "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
      "tool_calls":[
        {"id":"call_a","type":"function","function":{"name":"count","arguments":"{\"path\":\"a.txt\"}"}},
        {"id":"call_b","type":"function","function":{"name":"count","arguments":"{\"path\":\"b.txt\"}"}}]}}]})");
}

TEST(ToolCallsChatCompletions, ParallelCallsAndTheirResults) {
  for (const std::string& model : {std::string("openai-chat:gpt-4o"), std::string("compat:qwen3@")}) {
    FakeServer server;
    TestOptions t(server, "/v1");
    std::string model_string = model == "compat:qwen3@" ? model + server.url() + "/v1" : model;
    server.PushJson(200, ChatCompletionsTwoCalls());
    auto p = Make(model_string, t.options);
    ChatRequest req = ParallelRound();
    req.parallel_tool_calls = true;
    auto r = p->Chat(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectTwoCalls(*r);
    EXPECT_EQ(r->tool_calls[0].id, "call_a");

    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
    json m = reqs[0].json()["messages"];
    ASSERT_EQ(m.size(), 5u) << m.dump();
    EXPECT_EQ(m[1], json::parse(R"({"role":"assistant","content":null,"tool_calls":[
        {"id":"call_a","type":"function","function":{"name":"count","arguments":"{\"path\":\"a.txt\"}"}},
        {"id":"call_b","type":"function","function":{"name":"count","arguments":"{\"path\":\"b.txt\"}"}}]})"));
    EXPECT_EQ(m[2], json::parse(R"({"role":"tool","tool_call_id":"call_a","content":"3"})"));
    EXPECT_EQ(m[3], json::parse(R"({"role":"tool","tool_call_id":"call_b","content":"no such file"})"));
    EXPECT_EQ(m[4], json::parse(R"({"role":"user","content":"And c.txt?"})"));
    EXPECT_EQ(reqs[0].json()["parallel_tool_calls"], true);
  }
}

TEST(ToolCallsResponses, ParallelFunctionCallItemsAndOutputs) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.PushJson(200,
                  json::parse(R"({"id":"resp_2","object":"response","status":"completed","model":"gpt-4o",
    "output":[
      {"type":"function_call","id":"fc_a","call_id":"call_a","name":"count","arguments":"{\"path\":\"a.txt\"}"},
      {"type":"function_call","id":"fc_b","call_id":"call_b","name":"count","arguments":"{\"path\":\"b.txt\"}"}]})"));
  auto p = Make("openai:gpt-4o", t.options);
  auto r = p->Chat(ParallelRound());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectTwoCalls(*r);
  EXPECT_EQ(r->tool_calls[1].id, "call_b");  // call_id, not the item id

  json input = server.requests().at(0).json()["input"];
  ASSERT_EQ(input.size(), 6u) << input.dump();
  EXPECT_EQ(input[1], json::parse(R"({"type":"function_call","call_id":"call_a","name":"count",
      "arguments":"{\"path\":\"a.txt\"}"})"));
  EXPECT_EQ(input[2], json::parse(R"({"type":"function_call","call_id":"call_b","name":"count",
      "arguments":"{\"path\":\"b.txt\"}"})"));
  EXPECT_EQ(input[3], json::parse(R"({"type":"function_call_output","call_id":"call_a","output":"3"})"));
  EXPECT_EQ(input[4],
            json::parse(R"({"type":"function_call_output","call_id":"call_b","output":"no such file"})"));
  EXPECT_EQ(input[5], json::parse(R"({"role":"user","content":"And c.txt?"})"));
}

TEST(ToolCallsAnthropic, ParallelToolUseAndOneUserTurnOfResults) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, json::parse(R"({"id":"msg_2","type":"message","role":"assistant","model":"claude",
    "content":[{"type":"tool_use","id":"call_a","name":"count","input":{"path":"a.txt"}},
               {"type":"tool_use","id":"call_b","name":"count","input":{"path":"b.txt"}}],
    "stop_reason":"tool_use"})"));
  auto p = Make("anthropic:claude", t.options);
  ChatRequest req = ParallelRound();
  req.parallel_tool_calls = true;
  auto r = p->Chat(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectTwoCalls(*r);

  json b = server.requests().at(0).json();
  json m = b["messages"];
  ASSERT_EQ(m.size(), 3u) << m.dump();  // roles alternate: the results and the next line share a turn
  EXPECT_EQ(m[1], json::parse(R"({"role":"assistant","content":[
      {"type":"tool_use","id":"call_a","name":"count","input":{"path":"a.txt"}},
      {"type":"tool_use","id":"call_b","name":"count","input":{"path":"b.txt"}}]})"));
  EXPECT_EQ(m[2], json::parse(R"({"role":"user","content":[
      {"type":"tool_result","tool_use_id":"call_a","content":"3"},
      {"type":"tool_result","tool_use_id":"call_b","content":"no such file","is_error":true},
      {"type":"text","text":"And c.txt?"}]})"));
  EXPECT_EQ(b["tool_choice"], json::parse(R"({"type":"auto","disable_parallel_tool_use":false})"));
}

TEST(ToolCallsAnthropic, ConsecutiveUserLinesShareATurn) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, json::parse(R"({"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn"})"));
  auto p = Make("anthropic:claude", t.options);
  ChatRequest req;
  req.messages.push_back({Role::kUser, "first, answer interrupted", {}, "", "", false});
  req.messages.push_back({Role::kUser, "second", {}, "", "", false});
  ASSERT_TRUE(p->Chat(req).ok());
  EXPECT_EQ(server.requests().at(0).json()["messages"], json::parse(R"([{"role":"user","content":[
      {"type":"text","text":"first, answer interrupted"
},{"type":"text","text":"second"}]
}])"));
}

TEST(ToolCallsGemini, ParallelFunctionCallsAndResponsesByName) {
  FakeServer server;
  TestOptions t(server, "");
  server.PushJson(200, json::parse(R"({"candidates":[{"content":{"role":"model","parts":[
      {"functionCall":{"name":"count","args":{"path":"a.txt"}}},
      {"functionCall":{"name":"count","args":{"path":"b.txt"}}}]},"finishReason":"STOP"}]})"));
  auto p = Make("gemini:gemini-2.5-flash", t.options);
  auto r = p->Chat(ParallelRound());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectTwoCalls(*r);

  json b = server.requests().at(0).json();
  json c = b["contents"];
  ASSERT_EQ(c.size(), 3u) << c.dump();
  EXPECT_EQ(c[1], json::parse(R"({"role":"model","parts":[
      {"functionCall":{"name":"count","args":{"path":"a.txt"},"id":"call_a"}},
      {"functionCall":{"name":"count","args":{"path":"b.txt"},"id":"call_b"}}]})"));
  EXPECT_EQ(c[2], json::parse(R"({"role":"user","parts":[
      {"functionResponse":{"name":"count","response":{"output":"3"},"id":"call_a"}},
      {"functionResponse":{"name":"count","response":{"error":"no such file"},"id":"call_b"}},
      {"text":"And c.txt?"}]})"));
  EXPECT_EQ(b["tools"][0]["functionDeclarations"][0]["name"], "count");
}

// A model that writes broken arguments: the reply still parses (the runner tells the model), and the
// history holding that call can be sent to every provider.
TEST(ToolCallsMalformed, BrokenArgumentsAreKeptAndReplayable) {
  FakeServer server;
  TestOptions t(server, "/v1");
  json reply = ChatCompletionsTwoCalls();
  reply["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"] = "{\"path\": \"b.t";
  server.PushJson(200, reply);
  auto p = Make("openai-chat:gpt-4o", t.options);
  auto r = p->Chat(ParallelRound());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[1].arguments_json, "{\"path\": \"b.t");

  ChatRequest next;
  next.messages.push_back({Role::kUser, "go", {}, "", "", false});
  next.messages.push_back({Role::kAssistant, "", r->tool_calls, "", "", false});
  next.messages.push_back({Role::kTool, "3", {}, "call_a", "count", false});
  next.messages.push_back({Role::kTool, "arguments are not valid JSON", {}, "call_b", "count", true});

  FakeServer anthropic;
  TestOptions ta(anthropic, "");
  anthropic.PushJson(200,
                     json::parse(R"({"content":[{"type":"text","text":"sorry"}],"stop_reason":"end_turn"})"));
  auto pa = Make("anthropic:claude", ta.options);
  auto ra = pa->Chat(next);
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  json sent = anthropic.requests().at(0).json()["messages"][1]["content"];
  EXPECT_EQ(sent[0]["input"], json::parse(R"({"path":"a.txt"})"));
  EXPECT_EQ(sent[1]["input"], json::object());

  FakeServer gemini;
  TestOptions tg(gemini, "");
  gemini.PushJson(200, json::parse(R"({"candidates":[{"content":{"parts":[{"text":"sorry"}]},
      "finishReason":"STOP"}]})"));
  auto pg = Make("gemini:gemini-2.5-flash", tg.options);
  ASSERT_TRUE(pg->Chat(next).ok());
  EXPECT_EQ(gemini.requests().at(0).json()["contents"][1]["parts"][1]["functionCall"]["args"],
            json::object());
}

TEST(ToolCallsMalformed, CallsWithoutANameAreMalformedResponses) {
  FakeServer server;
  TestOptions t(server, "/v1");
  json chat = ChatCompletionsTwoCalls();
  chat["choices"][0]["message"]["tool_calls"][0]["function"].erase("name");
  server.PushJson(200, chat);
  server.PushJson(200, json::parse(R"({"status":"completed","output":[{"type":"function_call","call_id":"c",
      "name":7,"arguments":"{}"}]})"));
  auto chat_provider = Make("openai-chat:gpt-4o", t.options);
  auto r1 = chat_provider->Chat(ParallelRound());
  EXPECT_EQ(r1.status().code(), Code::kInternal);
  EXPECT_NE(r1.status().message().find("malformed response"), std::string::npos) << r1.status().message();
  auto responses = Make("openai:gpt-4o", t.options);
  auto r2 = responses->Chat(ParallelRound());
  EXPECT_EQ(r2.status().code(), Code::kInternal);
  EXPECT_NE(r2.status().message().find("malformed response"), std::string::npos) << r2.status().message();
}

}  // namespace
}  // namespace kiln::llm
