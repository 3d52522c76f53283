// Streamed calls (server-sent events) for every wire format against fake servers that send the documented
// events, including tool calls that arrive in fragments; the SSE parser on its own; the scripted model.
#include <gtest/gtest.h>

#include <fstream>

#include "fake_server_test_util.h"
#include "kiln/llm/script.h"
#include "sse.h"

namespace kiln::llm {
namespace {

using nlohmann::json;
using testing::FakeServer;
using testing::SseCanned;
using testing::TestOptions;

std::unique_ptr<Provider> Make(const std::string& model, const ProviderOptions& o) {
  auto p = MakeProvider(model, o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(p).value() : nullptr;
}

// The tool round trip request, streamed, collecting the text deltas into `deltas`.
ChatRequest Streamed(std::vector<std::string>* deltas) {
  ChatRequest req = testing::ToolRoundTripRequest();
  req.parallel_tool_calls = false;
  req.on_text = [deltas](std::string_view d) { deltas->emplace_back(d); };
  return req;
}

TEST(SseParser, SplitsAnywhereAndFollowsTheLineRules) {
  const std::string stream =
      ": keep-alive\r\n"
      "event: first\r\ndata: a\r\ndata:b\r\n\r\n"
      "id: 7\rretry: 100\rdata: {\"x\": 1}\r\r"
      "event: no-data\n\n"
      "data: last\n";  // no final blank line
  SseParser parser;
  std::vector<SseEvent> events;
  for (char ch : stream) ASSERT_TRUE(parser.Feed(std::string_view(&ch, 1), events).ok());
  for (SseEvent& e : parser.Finish()) events.push_back(std::move(e));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "first");
  EXPECT_EQ(events[0].data, "a\nb");
  EXPECT_EQ(events[1].event, "");
  EXPECT_EQ(events[1].data, "{\"x\": 1}");
  EXPECT_EQ(events[2].data, "last");
}

TEST(SseParser, RefusesAnEndlessLine) {
  SseParser parser(1024);
  std::vector<SseEvent> events;
  Status s = parser.Feed(std::string(2000, 'x'), events);
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s.ToString();
}

TEST(StreamChatCompletions, TextDeltasAndParallelToolCallFragments) {
  FakeServer server;
  TestOptions t(server, "/v1");
  auto chunk = [](const std::string& choices) {
    return "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
           "\"choices\":" +
           choices + "}";
  };
  server.Push(SseCanned({
      chunk(R"([{"index":0,"delta":{"role":"assistant","content":"Look"}}])"),
      chunk(R"([{"index":0,"delta":{"content":"ing."}}])"),
      chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function",
                "function":{"name":"run","arguments":""}}]}}])"),
      chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"cmd\":"}}]}}])"),
      chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function",
                "function":{"name":"run","arguments":"{\"cmd\":\"pwd\"}"}}]}}])"),
      chunk(R"([{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"ls\"}"}}]}}])"),
      chunk(R"([{"index":0,"delta":{},"finish_reason":"tool_calls"}])"),
      R"(data: {"id":"chatcmpl-9","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":9}})",
      "data: [DONE]",
  }));
  auto p = Make("openai-chat:gpt-4o-mini", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  json b = server.requests().at(0).json();
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"], json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(b["parallel_tool_calls"], false);
  EXPECT_EQ(server.requests()[0].header("accept"), "text/event-stream");
  EXPECT_EQ(deltas, (std::vector<std::string>{"Look", "ing."}));
  EXPECT_EQ(r->text, "Looking.");
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "call_a");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments_json), json::parse(R"({"cmd":"ls"})"));
  EXPECT_EQ(r->tool_calls[1].id, "call_b");
  EXPECT_EQ(r->tool_calls[1].arguments_json, R"({"cmd":"pwd"})");
  EXPECT_EQ(r->finish, Finish::kToolCalls);
  EXPECT_EQ(r->usage.input_tokens, 40);
  EXPECT_EQ(r->usage.output_tokens, 9);
  EXPECT_EQ(r->response_id, "chatcmpl-9");
}

TEST(StreamChatCompletions, CompatServerStreamsTheSameWay) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(
      SseCanned({R"(data: {"choices":[{"index":0,"delta":{"content":"hi"}}]})",
                 R"(data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})", "data: [DONE]"}));
  auto p = Make("compat:llama3@" + server.url() + "/v1", t.options);
  std::vector<std::string> deltas;
  ChatRequest req;
  req.messages.push_back({Role::kUser, "hello", {}, "", "", false});
  req.on_text = [&](std::string_view d) { deltas.emplace_back(d); };
  auto r = p->Chat(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.requests().at(0).path, "/v1/chat/completions");
  EXPECT_EQ(r->text, "hi");
  EXPECT_EQ(r->finish, Finish::kStop);
  EXPECT_EQ(deltas.size(), 1u);
}

TEST(StreamChatCompletions, ErrorEventEndsTheCallWithoutRetry) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(SseCanned({R"(data: {"choices":[{"index":0,"delta":{"content":"par"}}]})",
                         R"(data: {"error":{"type":"server_error","message":"model crashed"}})"}));
  auto p = Make("openai-chat:gpt-4o", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("model crashed"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(StreamChatCompletions, MalformedEventIsReportedAsSuch) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(SseCanned({"data: {not json"}));
  auto p = Make("openai-chat:gpt-4o", t.options);
  std::vector<std::string> deltas;
  CallInfo info;
  auto r = p->Chat(Streamed(&deltas), &info);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_NE(r.status().message().find("malformed event stream"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(info.error_type, "malformed_response");
}

TEST(StreamChatCompletions, StreamCutShortIsAnError) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(SseCanned({R"(data: {"choices":[{"index":0,"delta":{"content":"par"}}]})"}));
  auto p = Make("openai-chat:gpt-4o", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("stream ended before"), std::string::npos) << r.status().ToString();
}

TEST(StreamResponses, TypedEventsWithFunctionCallArgumentDeltas) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(SseCanned({
      R"(event: response.created
data: {"type":"response.created","response":{"id":"resp_1","status":"in_progress","output":[]}})",
      R"(event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"One "})",
      R"(event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"moment."})",
      R"(event: response.output_item.added
data: {"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_x","name":"run","arguments":""}})",
      R"(event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":1,"delta":"{\"cmd\":"})",
      R"(event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":1,"delta":"\"ls\"}"})",
      R"(event: response.completed
data: {"type":"response.completed","response":{"id":"resp_1","status":"completed","model":"gpt-4o-2024","output":[],
       "usage":{"input_tokens":70,"output_tokens":12}}})",
  }));
  auto p = Make("openai:gpt-4o", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  json b = server.requests().at(0).json();
  EXPECT_EQ(server.requests()[0].path, "/v1/responses");
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["parallel_tool_calls"], false);
  EXPECT_EQ(deltas, (std::vector<std::string>{"One ", "moment."}));
  EXPECT_EQ(r->text, "One moment.");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "call_x");
  EXPECT_EQ(r->tool_calls[0].arguments_json, R"({"cmd":"ls"})");
  EXPECT_EQ(r->finish, Finish::kToolCalls);
  EXPECT_EQ(r->usage.input_tokens, 70);
  EXPECT_EQ(r->response_model, "gpt-4o-2024");
}

TEST(StreamResponses, FailedResponseIsAnError) {
  FakeServer server;
  TestOptions t(server, "/v1");
  server.Push(SseCanned({R"(data: {"type":"response.failed","response":{"id":"r","status":"failed",
      "error":{"code":"server_error","message":"boom"}}})"}));
  auto p = Make("openai:gpt-4o", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("boom"), std::string::npos) << r.status().ToString();
}

TEST(StreamAnthropic, ContentBlocksWithInputJsonDeltas) {
  FakeServer server;
  TestOptions t(server, "");
  server.Push(SseCanned({
      R"(event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
       "content":[],"stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1,"cache_read_input_tokens":5}}})",
      R"(event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
      "event: ping\ndata: {\"type\": \"ping\"}",
      R"(event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me "}})",
      R"(event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"check."}})",
      R"(event: content_block_stop
data: {"type":"content_block_stop","index":0})",
      R"(event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"run","input":{}}})",
      R"(event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"cmd\": \"l"}})",
      R"(event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"s\"}"}})",
      R"(event: content_block_stop
data: {"type":"content_block_stop","index":1})",
      R"(event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":31}})",
      R"(event: message_stop
data: {"type":"message_stop"})",
  }));
  auto p = Make("anthropic:claude-x", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  json b = server.requests().at(0).json();
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["tool_choice"], json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
  EXPECT_EQ(deltas, (std::vector<std::string>{"Let me ", "check."}));
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "toolu_1");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments_json), json::parse(R"({"cmd":"ls"})"));
  EXPECT_EQ(r->finish_reason, "tool_use");
  EXPECT_EQ(r->usage.input_tokens, 30);
  EXPECT_EQ(r->usage.output_tokens, 31);
  EXPECT_EQ(r->response_id, "msg_1");
}

TEST(StreamAnthropic, OverloadedErrorEvent) {
  FakeServer server;
  TestOptions t(server, "");
  server.Push(SseCanned({R"(event: error
data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"}));
  auto p = Make("anthropic:claude-x", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("overloaded_error"), std::string::npos) << r.status().ToString();
}

TEST(StreamGemini, ChunksOnTheStreamEndpoint) {
  FakeServer server;
  TestOptions t(server, "");
  server.Push(SseCanned({
      R"(data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Run"}]}}],"modelVersion":"gemini-2.5-flash"})",
      R"(data: {"candidates":[{"content":{"role":"model","parts":[{"text":"ning it."}]}}]})",
      R"(data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"run","args":{"cmd":"ls"}}},
             {"functionCall":{"name":"run","args":{"cmd":"pwd"}}}]},"finishReason":"STOP"}],
             "usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":7},"responseId":"g-1"})",
  }));
  auto p = Make("gemini:gemini-2.5-flash", t.options);
  std::vector<std::string> deltas;
  auto r = p->Chat(Streamed(&deltas));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto req = server.requests().at(0);
  EXPECT_EQ(req.path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
  EXPECT_EQ(req.params["alt"], "sse");
  EXPECT_FALSE(req.json().contains("stream"));
  EXPECT_EQ(deltas, (std::vector<std::string>{"Run", "ning it."}));
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_NE(r->tool_calls[0].id, r->tool_calls[1].id);
  EXPECT_EQ(json::parse(r->tool_calls[1].arguments_json)["cmd"], "pwd");
  EXPECT_EQ(r->finish, Finish::kToolCalls);
  EXPECT_EQ(r->usage.input_tokens, 11);
  EXPECT_EQ(r->response_id, "g-1");
}

TEST(StreamScript, ScriptedTextArrivesWordByWordAndToolCallsWhole) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/stream_script.jsonl";
  std::ofstream(path)
      << R"js({"text": "I will run it.", "tool_calls": [{"id": "c1", "name": "run_python", "arguments": {"code": "print(1)"}}]})js"
      << "\n";
  auto p = MakeScriptProvider(path);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::vector<std::string> deltas;
  ChatRequest req;
  req.on_text = [&](std::string_view d) { deltas.emplace_back(d); };
  auto r = (*p)->Chat(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(deltas, (std::vector<std::string>{"I ", "will ", "run ", "it."}));
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].name, "run_python");
}

TEST(StreamCancel, ScriptedAnswerStopsAtTheNextWord) {
  std::string path = ::testing::TempDir() + "/stream_cancel.jsonl";
  std::ofstream(path) << R"js({"text": "one two three"})js"
                      << "\n";
  auto p = MakeScriptProvider(path);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::vector<std::string> deltas;
  ChatRequest req;
  req.on_text = [&](std::string_view d) { deltas.emplace_back(d); };
  req.cancelled = [&] { return !deltas.empty(); };
  CallInfo info;
  auto r = (*p)->Chat(req, &info);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("cancelled"), std::string::npos) << r.status().message();
  EXPECT_EQ(info.error_type, "cancelled");
  EXPECT_EQ(deltas, std::vector<std::string>{"one "});
}

TEST(StreamCancel, CancelledBeforeTheCallSendsNothing) {
  FakeServer server;
  TestOptions t(server, "/v1");
  auto p = MakeProvider("openai-chat:gpt-4o", t.options);
  ASSERT_TRUE(p.ok());
  ChatRequest req;
  req.on_text = [](std::string_view) {};
  req.cancelled = [] { return true; };
  auto r = (*p)->Chat(req);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(server.requests().empty());
}

}  // namespace
}  // namespace kiln::llm
