#include "kiln/agent/agent.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kiln/llm/script.h"
#include "testing/fakes.h"
#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

using testing::RecordingProvider;

std::vector<std::string> DemoReplies() {
  std::ifstream in(testing::RepoPath("examples/agent/demo.script"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = llm::ParseScript(ss.str());
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  std::vector<std::string> replies;
  if (parsed.ok()) {
    for (const auto& r : *parsed) replies.push_back(r.text);
  }
  return replies;
}

// Pretends to be Python for the demo's three programs.
Result<Execution> FakePython(const ExecRequest& req) {
  Execution e;
  if (req.code.find("import numpyy") != std::string::npos) {
    e.exit_code = 1;
    e.stderr_data =
        "Traceback (most recent call last):\n  File \"/home/user/main.py\", line 1, in <module>\n"
        "    import numpyy as np\nModuleNotFoundError: No module named 'numpyy'\n";
  } else if (req.code.find("for p in primes))") == std::string::npos) {
    e.exit_code = 1;
    e.stderr_data =
        "  File \"/home/user/main.py\", line 17\n    print(\", \".join(str(p) for p in primes)\n"
        "         ^\nSyntaxError: '(' was never closed\n";
  } else {
    e.stdout_data = "2, 3, 5, 7, 11, 13, 17, 19, 23, 29\n";
  }
  return e;
}

class CountingObserver : public AgentObserver {
 public:
  void OnRunStart(const Task&, const AgentOptions&, std::string_view) override { ++runs; }
  void OnRunEnd(const Result<AgentResult>&) override { --runs; }
  void OnModelCallStart(int, const llm::ChatRequest&) override { ++calls; }
  void OnModelCallEnd(int, const Result<llm::ChatResponse>&, const llm::CallInfo&) override { --calls; }
  void OnExecutionStart(int, const ExecRequest&) override { ++execs, ++total_execs; }
  void OnExecutionEnd(int, const Result<Execution>&) override { --execs; }
  void OnAttemptEnd(const Attempt& a) override {
    verdicts.push_back(std::string(VerdictName(a.verdict.kind)));
  }
  int runs = 0, calls = 0, execs = 0, total_execs = 0;
  std::vector<std::string> verdicts;
};

void ExpectDemoRun(const AgentResult& r, const RecordingProvider& provider) {
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.attempts, 3);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.history[0].verdict.error_name, "SyntaxError");
  EXPECT_EQ(r.history[1].verdict.error_name, "ModuleNotFoundError");
  EXPECT_EQ(r.history[1].verdict.error_value, "No module named 'numpyy'");
  EXPECT_TRUE(r.history[2].verdict.passed());
  EXPECT_EQ(r.final_stdout, "2, 3, 5, 7, 11, 13, 17, 19, 23, 29\n");
  // Both errors reached the model, as multi-turn history.
  ASSERT_EQ(provider.requests().size(), 3u);
  const auto req3 = provider.requests()[2];
  ASSERT_EQ(req3.messages.size(), 5u);  // user, assistant, feedback, assistant, feedback
  EXPECT_EQ(req3.messages[1].role, llm::Role::kAssistant);
  EXPECT_NE(req3.messages[2].text.find("SyntaxError: '(' was never closed"), std::string::npos);
  EXPECT_NE(req3.messages[4].text.find("ModuleNotFoundError: No module named 'numpyy'"), std::string::npos);
  EXPECT_NE(req3.messages[4].text.find("import numpyy"), std::string::npos);  // end of the traceback
  EXPECT_EQ(provider.LastUserText(1), req3.messages[2].text);
  EXPECT_NE(req3.system.find("```python"), std::string::npos);
}

TEST(Agent, SyntaxErrorThenImportErrorThenWorkingCode) {
  RecordingProvider provider(DemoReplies());
  FunctionExecutor executor(FakePython);
  CountingObserver obs;
  auto r = RunAgent(provider, executor, Task{"Print the first 10 prime numbers"}, {}, &obs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectDemoRun(*r, provider);
  EXPECT_EQ(r->usage.input_tokens, 30);
  EXPECT_EQ(r->usage.output_tokens, 60);
  EXPECT_EQ(obs.runs, 0);
  EXPECT_EQ(obs.calls, 0);
  EXPECT_EQ(obs.execs, 0);
  EXPECT_EQ(obs.verdicts, (std::vector<std::string>{"error", "error", "passed"}));
  const nlohmann::json j = ToJson(*r);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["attempts"], 3);
  EXPECT_EQ(j["history"][1]["verdict"]["error_name"], "ModuleNotFoundError");
  EXPECT_EQ(j["task"]["prompt"], "Print the first 10 prime numbers");
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

TEST(Agent, DemoScriptWithRealPython) {
  testing::HostPythonExecutor python;
  if (!python.available()) GTEST_SKIP() << "no python3 on this host";
  RecordingProvider provider(DemoReplies());
  auto r = RunAgent(provider, python, Task{"Print the first 10 prime numbers"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectDemoRun(*r, provider);
}

TEST(Agent, AttemptsExhaustedReportsEveryAttempt) {
  RecordingProvider provider({"```python\nprint(x)\n```", "```python\nraise ValueError('bad')\n```"});
  FunctionExecutor executor([](const ExecRequest& req) -> Result<Execution> {
    Execution e;
    e.exit_code = 1;
    e.stderr_data =
        req.code.find("ValueError") != std::string::npos
            ? "Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\nValueError: bad\n"
            : "Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\n"
              "NameError: name 'x' is not defined\n";
    return e;
  });
  AgentOptions options;
  options.max_attempts = 2;
  auto r = RunAgent(provider, executor, Task{"do it"}, options);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->success);
  EXPECT_EQ(r->attempts, 2);
  ASSERT_EQ(r->history.size(), 2u);
  EXPECT_EQ(r->history[0].verdict.summary, "NameError: name 'x' is not defined");
  EXPECT_EQ(r->history[1].verdict.summary, "ValueError: bad");
  EXPECT_FALSE(r->history[0].feedback.empty());
  EXPECT_TRUE(r->history[1].feedback.empty());  // nothing is sent after the last attempt
  EXPECT_EQ(r->final_code, "raise ValueError('bad')\n");
  EXPECT_EQ(provider.requests().size(), 2u);
  EXPECT_EQ(ToJson(*r)["history"].size(), 2u);
}

TEST(Agent, NoCodeIsAFailedAttemptWithTheReason) {
  RecordingProvider provider({"```python\n   \n```", "```python\nprint('ok')\n```"});
  int runs = 0;
  FunctionExecutor executor([&runs](const ExecRequest&) -> Result<Execution> {
    ++runs;
    return Execution{};
  });
  auto r = RunAgent(provider, executor, Task{"say ok"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->success);
  ASSERT_EQ(r->history.size(), 2u);
  EXPECT_EQ(r->history[0].verdict.kind, VerdictKind::kNoCode);
  EXPECT_NE(r->history[0].verdict.summary.find("no code"), std::string::npos);
  EXPECT_FALSE(r->history[0].execution.has_value());
  EXPECT_EQ(runs, 1);
  EXPECT_NE(provider.LastUserText(1).find("no code"), std::string::npos);
}

TEST(Agent, TestsRunAfterTheCodeAndFailingAssertsAreFedBack) {
  testing::HostPythonExecutor python;
  if (!python.available()) GTEST_SKIP() << "no python3 on this host";
  RecordingProvider provider({"```python\ndef add(a, b):\n    return a - b\n```",
                              "```python\nimport sys\ndef add(a, b):\n    return a + b\nsys.exit(0)\n```",
                              "```python\ndef add(a, b):\n    return a + b\n```"});
  Task task{"Write add(a, b)."};
  task.tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n";
  auto r = RunAgent(provider, python, task);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->success);
  ASSERT_EQ(r->history.size(), 3u);
  EXPECT_EQ(r->history[0].verdict.kind, VerdictKind::kTestsFailed);
  EXPECT_EQ(r->history[0].verdict.summary, "tests failed: AssertionError at `assert add(2, 3) == 5`");
  EXPECT_EQ(r->history[1].verdict.kind, VerdictKind::kTestsFailed);  // exited before the tests
  EXPECT_NE(provider.LastUserText(1).find("assert add(2, 3) == 5"), std::string::npos);
  EXPECT_NE(provider.requests()[0].messages[0].text.find("assert add(-1, 1) == 0"), std::string::npos);
  EXPECT_EQ(r->final_stdout, "");  // the sentinel is stripped
}

TEST(Agent, KilnErrorsAreStatusesNamingTheAttempt) {
  RecordingProvider provider({"```python\nprint(1)\n```"});
  FunctionExecutor broken([](const ExecRequest&) -> Result<Execution> { return Unavailable("no sandbox"); });
  CountingObserver obs;
  auto r = RunAgent(provider, broken, Task{"x"}, {}, &obs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("attempt 1"), std::string::npos);
  EXPECT_EQ(obs.runs, 0);  // start/end stay paired on error
  EXPECT_EQ(obs.execs, 0);

  RecordingProvider empty({});
  FunctionExecutor ok([](const ExecRequest&) -> Result<Execution> { return Execution{}; });
  r = RunAgent(empty, ok, Task{"x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(RunAgent(empty, ok, Task{"  "}).status().code(), Code::kInvalidArgument);
  AgentOptions zero;
  zero.max_attempts = 0;
  EXPECT_EQ(RunAgent(empty, ok, Task{"x"}, zero).status().code(), Code::kInvalidArgument);
}

TEST(Agent, CostUsesThePriceTableAndLimitsReachTheExecutor) {
  RecordingProvider provider({"```python\nprint(1)\n```"}, "fake:priced-model");
  ExecRequest seen;
  FunctionExecutor executor([&seen](const ExecRequest& req) -> Result<Execution> {
    seen = req;
    return Execution{};
  });
  llm::PriceTable prices;
  prices.Set("priced-model", llm::Price{1'000'000.0, 2'000'000.0, std::nullopt});  // $1 per input token
  AgentOptions options;
  options.prices = &prices;
  options.timeout_ms = 1234;
  options.memory_mb = 64;
  auto r = RunAgent(provider, executor, Task{"x"}, options);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cost_known);
  EXPECT_DOUBLE_EQ(r->cost_usd, 10 * 1.0 + 20 * 2.0);
  EXPECT_EQ(seen.timeout_ms, 1234);
  EXPECT_EQ(seen.memory_mb, 64);
  EXPECT_EQ(seen.language, "python");
}

}  // namespace
}  // namespace kiln::agent
