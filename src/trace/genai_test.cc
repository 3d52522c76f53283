#include "kiln/trace/genai.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kiln::trace::genai {
namespace {

class GenAiTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    memory_ = std::make_shared<InMemoryExporter>();
    provider_ = Provider::Create({.exporters = {memory_}, .capture_content = GetParam()});
    tracer_ = provider_->GetTracer();
  }
  SpanPtr Only(const std::string& name) {
    auto s = memory_->SpansNamed(name);
    EXPECT_EQ(s.size(), 1u) << name;
    return s.empty() ? nullptr : s[0];
  }
  std::shared_ptr<InMemoryExporter> memory_;
  std::shared_ptr<Provider> provider_;
  Tracer tracer_;
};

template <typename T>
T Get(const SpanPtr& s, const std::string& key) {
  const AttributeValue* v = s->Find(key);
  if (!v) ADD_FAILURE() << "missing " << key;
  return v ? std::get<T>(*v) : T{};
}

TEST_P(GenAiTest, AgentChatAndToolSpans) {
  const bool capture = GetParam();
  {
    ScopedSpan agent(StartInvokeAgent({.agent_name = "coder", .conversation_id = "c1"}, {}, tracer_));
    ScopedSpan chat(StartChat({.provider = "anthropic",
                               .model = "claude-sonnet-4",
                               .server_address = "api.anthropic.com",
                               .server_port = 443,
                               .temperature = 0.2,
                               .input_messages_json = MessagesJson({{"user", "write fizzbuzz"}})},
                              {}, tracer_));
    EndChat(chat.span(), {.response_model = "claude-sonnet-4-20250514",
                          .input_tokens = 100,
                          .output_tokens = 50,
                          .finish_reasons = {"stop"},
                          .cost_usd = 0.00105,
                          .output_messages_json = MessagesJson({{"assistant", "print(1)", "stop"}})});
    ScopedSpan tool(StartExecuteTool({.tool_name = "run_code", .language = "python", .arguments = "print(1)"},
                                     {}, tracer_));
    EndExecuteTool(tool.span(), {.sandbox_id = "sbx-9", .exit_code = 0, .duration_ms = 42, .result = "1\n"});
  }
  SpanPtr agent = Only("invoke_agent coder");
  SpanPtr chat = Only("chat claude-sonnet-4");
  SpanPtr tool = Only("execute_tool run_code");
  ASSERT_TRUE(agent && chat && tool);
  EXPECT_EQ(agent->kind, SpanKind::kInternal);
  EXPECT_EQ(Get<std::string>(agent, "gen_ai.operation.name"), "invoke_agent");
  EXPECT_EQ(Get<std::string>(agent, "gen_ai.agent.name"), "coder");
  EXPECT_EQ(chat->parent_span_id, agent->context.span_id);
  EXPECT_EQ(tool->parent_span_id, agent->context.span_id);

  EXPECT_EQ(chat->kind, SpanKind::kClient);
  EXPECT_EQ(Get<std::string>(chat, "gen_ai.operation.name"), "chat");
  EXPECT_EQ(Get<std::string>(chat, "gen_ai.provider.name"), "anthropic");
  EXPECT_EQ(Get<std::string>(chat, "gen_ai.request.model"), "claude-sonnet-4");
  EXPECT_EQ(Get<std::string>(chat, "server.address"), "api.anthropic.com");
  EXPECT_EQ(Get<int64_t>(chat, "server.port"), 443);
  EXPECT_EQ(Get<double>(chat, "gen_ai.request.temperature"), 0.2);
  EXPECT_EQ(Get<std::string>(chat, "gen_ai.response.model"), "claude-sonnet-4-20250514");
  EXPECT_EQ(Get<int64_t>(chat, "gen_ai.usage.input_tokens"), 100);
  EXPECT_EQ(Get<int64_t>(chat, "gen_ai.usage.output_tokens"), 50);
  EXPECT_EQ(Get<std::vector<std::string>>(chat, "gen_ai.response.finish_reasons"),
            std::vector<std::string>{"stop"});
  EXPECT_DOUBLE_EQ(Get<double>(chat, kCostUsd), 0.00105);
  EXPECT_EQ(chat->status_code, StatusCode::kUnset);

  EXPECT_EQ(tool->kind, SpanKind::kInternal);
  EXPECT_EQ(Get<std::string>(tool, "gen_ai.tool.name"), "run_code");
  EXPECT_EQ(Get<std::string>(tool, kSandboxId), "sbx-9");
  EXPECT_EQ(Get<int64_t>(tool, kExitCode), 0);
  EXPECT_EQ(Get<bool>(tool, kTimedOut), false);
  EXPECT_EQ(Get<bool>(tool, kOom), false);
  EXPECT_EQ(Get<int64_t>(tool, kDurationMs), 42);

  // Content only with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
  for (const auto& [span, key] :
       std::vector<std::pair<SpanPtr, std::string>>{{chat, "gen_ai.input.messages"},
                                                    {chat, "gen_ai.output.messages"},
                                                    {tool, "gen_ai.tool.call.arguments"},
                                                    {tool, "gen_ai.tool.call.result"}}) {
    EXPECT_EQ(span->Find(key) != nullptr, capture) << key;
  }
  if (capture) {
    auto in = nlohmann::json::parse(Get<std::string>(chat, "gen_ai.input.messages"));
    EXPECT_EQ(in, nlohmann::json::parse(
                      R"([{"role":"user","parts":[{"type":"text","content":"write fizzbuzz"}]}])"));
    auto out = nlohmann::json::parse(Get<std::string>(chat, "gen_ai.output.messages"));
    EXPECT_EQ(out[0]["finish_reason"], "stop");
    EXPECT_EQ(Get<std::string>(tool, "gen_ai.tool.call.arguments"), "print(1)");
  }
}

TEST_P(GenAiTest, FailuresSetErrorTypeAndStatus) {
  Span chat = StartChat({.provider = "openai", .model = "gpt-4o"}, {}, tracer_);
  EndChat(chat, {.error_type = "rate_limited", .error_message = "HTTP 429"});
  Span tool = StartExecuteTool({.tool_name = "run_code"}, {}, tracer_);
  EndExecuteTool(tool, {.oom = true});
  SpanPtr c = Only("chat gpt-4o");
  SpanPtr t = Only("execute_tool run_code");
  ASSERT_TRUE(c && t);
  EXPECT_EQ(c->status_code, StatusCode::kError);
  EXPECT_EQ(c->status_message, "HTTP 429");
  EXPECT_EQ(Get<std::string>(c, "error.type"), "rate_limited");
  EXPECT_EQ(t->status_code, StatusCode::kError);
  EXPECT_EQ(Get<std::string>(t, "error.type"), "oom");
  EXPECT_EQ(Get<bool>(t, kOom), true);
}

INSTANTIATE_TEST_SUITE_P(Capture, GenAiTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "ContentOn" : "ContentOff"; });

TEST(GenAiGlobalTest, ContentCaptureFollowsEnvironmentVariable) {
  for (bool on : {false, true}) {
    std::map<std::string, std::string> vars = {{"OTEL_TRACES_EXPORTER", "console"}};
    if (on) vars["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true";
    EnvLookup env = [&](std::string_view n) -> std::optional<std::string> {
      auto it = vars.find(std::string(n));
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    FILE* sink = std::fopen("/dev/null", "w");
    ASSERT_TRUE(InstallFromEnvironment(env, false, sink).ok());
    Span tool = StartExecuteTool({.tool_name = "t", .arguments = "rm -rf /"});
    EXPECT_EQ(tool.captures_content(), on);
    tool.End();
    ASSERT_TRUE(ShutdownGlobal(std::chrono::milliseconds(100)).ok());
    std::fclose(sink);
  }
}

}  // namespace
}  // namespace kiln::trace::genai
