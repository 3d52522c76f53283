// TracingObserver with an in-memory exporter, a scripted provider and a fake executor: the span tree, the
// attributes field by field, errors, content capture; and the --trace / OTEL_* wiring of RunAgentCommand.
#include "kiln/agent/tracing.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "kiln/agent/commands.h"
#include "kiln/llm/pricing.h"
#include "kiln/trace/exporter.h"
#include "kiln/trace/genai.h"
#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

using trace::SpanPtr;

constexpr char kBadCode[] = "```python\nprint(x)\n```";
constexpr char kGoodCode[] = "```python\nprint('ok')\n```";

// Answers with `replies` in order; call `fail_at` (1-based, 0 = never) fails like a rate-limited server.
class ScriptedProvider : public llm::Provider {
 public:
  explicit ScriptedProvider(std::vector<std::string> replies, int fail_at = 0)
      : Provider("openai", "openai:gpt-test", "gpt-test"), replies_(std::move(replies)), fail_at_(fail_at) {}

 protected:
  Result<llm::ChatResponse> ChatImpl(const llm::ChatRequest&, llm::CallInfo& info) override {
    ++calls_;
    info.server_address = "llm.example.test";
    info.server_port = 8443;
    info.attempts = 1;
    if (calls_ == fail_at_) {
      info.http_status = 429;
      info.error_type = "rate_limit_error";
      return ResourceExhausted("openai: 429 rate_limit_error: slow down");
    }
    llm::ChatResponse r;
    r.text = replies_.at(static_cast<size_t>(calls_ - 1));
    r.usage.input_tokens = 1000 * calls_;
    r.usage.output_tokens = 100 * calls_;
    r.finish = llm::Finish::kStop;
    r.finish_reason = "stop";
    r.response_model = "gpt-test-2025-01-01";
    r.response_id = "resp_" + std::to_string(calls_);
    return r;
  }

 private:
  std::vector<std::string> replies_;
  int fail_at_;
  int calls_ = 0;
};

// NameError for code printing x, success otherwise; sandbox ids sbx-1, sbx-2, ...
class FakeExecutor : public Executor {
 public:
  Result<Execution> Execute(const ExecRequest& req) override {
    Execution e;
    e.sandbox_id = "sbx-" + std::to_string(++runs_);
    e.duration_ms = 40 + runs_;
    if (req.code.find("print(x)") != std::string::npos) {
      e.exit_code = 1;
      e.stderr_data =
          "Traceback (most recent call last):\n  File \"/home/user/main.py\", line 1, in <module>\n"
          "    print(x)\nNameError: name 'x' is not defined\n";
    } else {
      e.stdout_data = "ok\n";
    }
    return e;
  }

 private:
  int runs_ = 0;
};

const trace::AttributeValue& Attr(const SpanPtr& s, std::string_view key) {
  static const trace::AttributeValue kMissing = std::string("<missing>");
  const trace::AttributeValue* v = s->Find(key);
  EXPECT_NE(v, nullptr) << s->name << " lacks " << key;
  return v ? *v : kMissing;
}
std::string Str(const SpanPtr& s, std::string_view key) {
  const auto* v = std::get_if<std::string>(&Attr(s, key));
  return v ? *v : "<not a string>";
}
int64_t Int(const SpanPtr& s, std::string_view key) {
  const auto* v = std::get_if<int64_t>(&Attr(s, key));
  return v ? *v : -1;
}
bool Bool(const SpanPtr& s, std::string_view key) {
  const auto* v = std::get_if<bool>(&Attr(s, key));
  return v && *v;
}

struct Traced {
  std::shared_ptr<trace::InMemoryExporter> memory = std::make_shared<trace::InMemoryExporter>();
  std::shared_ptr<trace::Provider> provider;
  explicit Traced(bool capture = false)
      : provider(
            trace::Provider::Create({.resource = {}, .exporters = {memory}, .capture_content = capture})) {}

  // Runs the agent with a TracingObserver; returns the spans sorted by start time.
  std::vector<SpanPtr> Run(llm::Provider& model, Executor& executor, Result<AgentResult>* out = nullptr) {
    TracingObserver observer(provider->GetTracer(), TracingInfoFor(model));
    AgentOptions options;
    llm::PriceTable prices;
    prices.Set("gpt-test", llm::Price{.input_per_mtok = 2.0, .output_per_mtok = 10.0});
    options.prices = &prices;
    Result<AgentResult> r = RunAgent(model, executor, Task{"print ok"}, options, &observer);
    if (out) *out = std::move(r);
    std::vector<SpanPtr> spans = memory->spans();
    std::stable_sort(spans.begin(), spans.end(), [](const SpanPtr& a, const SpanPtr& b) {
      return a->start_unix_nano < b->start_unix_nano;
    });
    return spans;
  }
};

TEST(TracingObserver, OneInvokeAgentRootWithChatAndExecuteToolChildrenInOrder) {
  Traced t;
  ScriptedProvider model({kBadCode, kGoodCode});
  FakeExecutor executor;
  std::vector<SpanPtr> spans = t.Run(model, executor);
  ASSERT_EQ(spans.size(), 5u);
  const SpanPtr& root = spans[0];
  EXPECT_EQ(root->name, "invoke_agent kiln-coder");
  EXPECT_FALSE(root->parent_span_id.valid());
  const char* expected[] = {"chat gpt-test", "execute_tool run_code", "chat gpt-test",
                            "execute_tool run_code"};
  for (size_t i = 1; i < spans.size(); ++i) {
    EXPECT_EQ(spans[i]->name, expected[i - 1]);
    EXPECT_EQ(spans[i]->parent_span_id, root->context.span_id) << spans[i]->name;
    EXPECT_EQ(spans[i]->context.trace_id, root->context.trace_id);
    EXPECT_EQ(Int(spans[i], "kiln.agent.attempt"), static_cast<int64_t>((i + 1) / 2));
    EXPECT_LE(spans[i]->end_unix_nano, root->end_unix_nano);
  }
  EXPECT_EQ(Str(root, "gen_ai.operation.name"), "invoke_agent");
  EXPECT_EQ(Str(root, "gen_ai.agent.name"), "kiln-coder");
  EXPECT_EQ(Str(root, "gen_ai.provider.name"), "openai");
  EXPECT_EQ(Str(root, "gen_ai.request.model"), "gpt-test");
  EXPECT_EQ(Str(root, "kiln.agent.model"), "openai:gpt-test");
  EXPECT_TRUE(Bool(root, "kiln.agent.success"));
  EXPECT_EQ(Int(root, "kiln.agent.attempts"), 2);
  EXPECT_EQ(Int(root, "gen_ai.usage.input_tokens"), 3000);
  EXPECT_EQ(Int(root, "gen_ai.usage.output_tokens"), 300);
  EXPECT_NEAR(std::get<double>(Attr(root, "kiln.usage.cost_usd")), 3000 * 2e-6 + 300 * 10e-6, 1e-12);
  EXPECT_EQ(root->status_code, trace::StatusCode::kUnset);
  // One event per attempt with its verdict.
  ASSERT_EQ(root->events.size(), 2u);
  EXPECT_EQ(root->events[0].name, "kiln.attempt");
  std::map<std::string, trace::AttributeValue> first, second;
  for (const auto& a : root->events[0].attributes) first[a.key] = a.value;
  for (const auto& a : root->events[1].attributes) second[a.key] = a.value;
  EXPECT_EQ(std::get<int64_t>(first["kiln.attempt.number"]), 1);
  EXPECT_EQ(std::get<std::string>(first["kiln.attempt.verdict"]), "error");
  EXPECT_EQ(std::get<std::string>(first["kiln.attempt.error_name"]), "NameError");
  EXPECT_FALSE(std::get<bool>(first["kiln.attempt.passed"]));
  EXPECT_EQ(std::get<std::string>(second["kiln.attempt.verdict"]), "passed");
  EXPECT_TRUE(std::get<bool>(second["kiln.attempt.passed"]));
}

TEST(TracingObserver, ChatSpanAttributes) {
  Traced t;
  ScriptedProvider model({kGoodCode});
  FakeExecutor executor;
  std::vector<SpanPtr> spans = t.Run(model, executor);
  ASSERT_EQ(spans.size(), 3u);
  const SpanPtr& chat = spans[1];
  EXPECT_EQ(chat->kind, trace::SpanKind::kClient);
  EXPECT_EQ(Str(chat, "gen_ai.operation.name"), "chat");
  EXPECT_EQ(Str(chat, "gen_ai.provider.name"), "openai");
  EXPECT_EQ(Str(chat, "gen_ai.request.model"), "gpt-test");
  EXPECT_EQ(Str(chat, "gen_ai.response.model"), "gpt-test-2025-01-01");
  EXPECT_EQ(Str(chat, "gen_ai.response.id"), "resp_1");
  EXPECT_EQ(Int(chat, "gen_ai.usage.input_tokens"), 1000);
  EXPECT_EQ(Int(chat, "gen_ai.usage.output_tokens"), 100);
  EXPECT_EQ(std::get<std::vector<std::string>>(Attr(chat, "gen_ai.response.finish_reasons")),
            std::vector<std::string>{"stop"});
  EXPECT_EQ(Str(chat, "server.address"), "llm.example.test");
  EXPECT_EQ(Int(chat, "server.port"), 8443);
  EXPECT_NEAR(std::get<double>(Attr(chat, "kiln.usage.cost_usd")), 1000 * 2e-6 + 100 * 10e-6, 1e-12);
  EXPECT_EQ(chat->Find("error.type"), nullptr);
  EXPECT_EQ(chat->Find("gen_ai.input.messages"), nullptr);
  EXPECT_EQ(chat->status_code, trace::StatusCode::kUnset);
}

TEST(TracingObserver, ExecuteToolSpanAttributes) {
  Traced t;
  ScriptedProvider model({kBadCode, kGoodCode});
  FakeExecutor executor;
  std::vector<SpanPtr> spans = t.Run(model, executor);
  ASSERT_EQ(spans.size(), 5u);
  const SpanPtr& failed = spans[2];
  const SpanPtr& passed = spans[4];
  EXPECT_EQ(Str(failed, "gen_ai.operation.name"), "execute_tool");
  EXPECT_EQ(Str(failed, "gen_ai.tool.name"), "run_code");
  EXPECT_EQ(Str(failed, "kiln.sandbox.id"), "sbx-1");
  EXPECT_EQ(Str(failed, "kiln.execution.language"), "python");
  EXPECT_EQ(Int(failed, "kiln.execution.exit_code"), 1);
  EXPECT_FALSE(Bool(failed, "kiln.execution.timed_out"));
  EXPECT_FALSE(Bool(failed, "kiln.execution.oom"));
  EXPECT_EQ(Int(failed, "kiln.execution.duration_ms"), 41);
  EXPECT_EQ(failed->status_code, trace::StatusCode::kUnset);  // the code failed, not the tool
  EXPECT_EQ(Str(passed, "kiln.sandbox.id"), "sbx-2");
  EXPECT_EQ(Int(passed, "kiln.execution.exit_code"), 0);
  EXPECT_EQ(failed->Find("gen_ai.tool.call.arguments"), nullptr);
  EXPECT_EQ(failed->Find("gen_ai.tool.call.result"), nullptr);
}

TEST(TracingObserver, FailingModelCallSetsErrorType) {
  Traced t;
  ScriptedProvider model({kBadCode, kGoodCode}, /*fail_at=*/2);
  FakeExecutor executor;
  Result<AgentResult> result = InvalidArgument("unset");
  std::vector<SpanPtr> spans = t.Run(model, executor, &result);
  EXPECT_EQ(result.status().code(), Code::kResourceExhausted);
  ASSERT_EQ(spans.size(), 4u);  // invoke_agent, chat, execute_tool, failed chat
  const SpanPtr& chat = spans[3];
  EXPECT_EQ(chat->name, "chat gpt-test");
  EXPECT_EQ(Str(chat, "error.type"), "rate_limit_error");
  EXPECT_EQ(Int(chat, "http.response.status_code"), 429);
  EXPECT_EQ(chat->status_code, trace::StatusCode::kError);
  EXPECT_NE(chat->status_message.find("slow down"), std::string::npos);
  EXPECT_EQ(chat->Find("gen_ai.usage.input_tokens"), nullptr);
  EXPECT_EQ(spans[0]->status_code, trace::StatusCode::kError);
  EXPECT_TRUE(spans[0]->Find("error.type"));
}

TEST(TracingObserver, ExecutorFailureIsAnExecuteToolError) {
  Traced t;
  ScriptedProvider model({kGoodCode});
  FunctionExecutor executor(
      [](const ExecRequest&) -> Result<Execution> { return Unavailable("no sandbox"); });
  std::vector<SpanPtr> spans = t.Run(model, executor);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(Str(spans[2], "error.type"), CodeName(Code::kUnavailable));
  EXPECT_EQ(spans[2]->status_code, trace::StatusCode::kError);
  EXPECT_EQ(spans[0]->status_code, trace::StatusCode::kError);
}

TEST(TracingObserver, ContentOnlyWhenCaptureIsEnabled) {
  Traced t(/*capture=*/true);
  ScriptedProvider model({kGoodCode});
  FakeExecutor executor;
  std::vector<SpanPtr> spans = t.Run(model, executor);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_NE(Str(spans[1], "gen_ai.input.messages").find("print ok"), std::string::npos);
  EXPECT_NE(Str(spans[1], "gen_ai.system_instructions").find("Python"), std::string::npos);
  EXPECT_NE(Str(spans[1], "gen_ai.output.messages").find("print('ok')"), std::string::npos);
  EXPECT_NE(Str(spans[2], "gen_ai.tool.call.arguments").find("print('ok')"), std::string::npos);
  EXPECT_NE(Str(spans[2], "gen_ai.tool.call.result").find("ok\\n"), std::string::npos);
  // The same run without the switch records none of it (see ChatSpanAttributes, ExecuteToolSpanAttributes).
  Traced off;
  ScriptedProvider model2({kGoodCode});
  spans = off.Run(model2, executor);
  for (const SpanPtr& s : spans) {
    for (const char* key : {"gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.output.messages",
                            "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}) {
      EXPECT_EQ(s->Find(key), nullptr) << s->name << " " << key;
    }
  }
}

TEST(TracingObserver, DisabledTracerRecordsNothing) {
  ScriptedProvider model({kGoodCode});
  FakeExecutor executor;
  TracingObserver observer(trace::Tracer{}, TracingInfoFor(model));
  auto r = RunAgent(model, executor, Task{"print ok"}, {}, &observer);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->success);
  EXPECT_FALSE(trace::CurrentContext().valid());
}

// --- RunAgentCommand wiring
// ---------------------------------------------------------------------------------

std::string ReadAll(FILE* f) {
  std::string s;
  std::rewind(f);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  return s;
}

int RunCommand(std::map<std::string, std::string> vars, bool trace_flag, FILE* trace_out, std::string* err) {
  FakeExecutor executor;
  AgentCommandOptions o;
  o.task = "Print the first 10 prime numbers";
  o.model = "script:" + testing::RepoPath("examples/agent/demo.script");
  o.trace = trace_flag;
  o.executor = &executor;
  o.env = [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  std::ostringstream out, errs;
  o.out = &out;
  o.err = &errs;
  o.trace_out = trace_out;
  int rc = RunAgentCommand(o);
  *err = errs.str();
  return rc;
}

TEST(AgentCommandTracing, TraceFlagPrintsTheTreeAndRestoresTheGlobalProvider) {
  FILE* tree = std::tmpfile();
  ASSERT_NE(tree, nullptr);
  std::string err;
  EXPECT_EQ(RunCommand({}, /*trace_flag=*/true, tree, &err), 0) << err;
  const std::string text = ReadAll(tree);
  std::fclose(tree);
  EXPECT_NE(text.find("invoke_agent kiln-coder"), std::string::npos) << text;
  EXPECT_NE(text.find("chat script:"), std::string::npos) << text;
  EXPECT_NE(text.find("execute_tool run_code"), std::string::npos) << text;
  EXPECT_FALSE(trace::GlobalTracer().enabled());  // shut down at the end of the command
}

TEST(AgentCommandTracing, JsonlFromTheEnvironmentAndNothingWithoutConfiguration) {
  char path[] = "/tmp/kiln_agent_trace_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string err;
  EXPECT_EQ(RunCommand({{"KILN_TRACE_FILE", path}}, false, nullptr, &err), 0) << err;
  std::FILE* f = std::fopen(path, "r");
  ASSERT_NE(f, nullptr);
  const std::string lines = ReadAll(f);
  std::fclose(f);
  std::remove(path);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 3);  // demo passes at once with the fake executor
  EXPECT_NE(lines.find("invoke_agent kiln-coder"), std::string::npos);

  FILE* tree = std::tmpfile();
  EXPECT_EQ(RunCommand({}, false, tree, &err), 0) << err;
  EXPECT_EQ(ReadAll(tree), "");
  std::fclose(tree);
}

TEST(AgentCommandTracing, BadConfigurationWarnsAndTheRunStillSucceeds) {
  std::string err;
  EXPECT_EQ(RunCommand({{"OTEL_TRACES_EXPORTER", "zipkin"}}, false, nullptr, &err), 0) << err;
  EXPECT_NE(err.find("tracing disabled"), std::string::npos) << err;
  EXPECT_FALSE(trace::GlobalTracer().enabled());
}

}  // namespace
}  // namespace kiln::agent
