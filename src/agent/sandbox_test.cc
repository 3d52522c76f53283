// End-to-end tests in real sandboxes (runtime::Run). Built only with kiln_runtime; ctest label "sandbox".
#include <gtest/gtest.h>

#include "kiln/agent/agent.h"
#include "kiln/agent/humaneval.h"
#include "testing/fakes.h"
#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

TEST(SandboxExecutor, RunsPythonAndReportsFailures) {
  ASSERT_TRUE(HaveSandboxRuntime());
  auto executor = MakeSandboxExecutor();
  ExecRequest req;
  req.code = "import os\nprint('hi', os.getcwd())\n";
  auto r = executor->Execute(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "hi /home/user\n");

  req.code = "print(x)\n";
  r = executor->Execute(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  auto err = ParsePythonTraceback(r->stderr_data);
  ASSERT_TRUE(err.has_value()) << r->stderr_data;
  EXPECT_EQ(err->name, "NameError");

  req.code = "while True: pass\n";
  req.timeout_ms = 1000;
  r = executor->Execute(req);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);

  req.language = "cobol";
  EXPECT_EQ(executor->Execute(req).status().code(), Code::kInvalidArgument);
}

TEST(SandboxAgent, DemoScriptSucceedsAtAttemptThree) {
  auto executor = MakeSandboxExecutor();
  auto script = llm::MakeProvider("script:" + testing::RepoPath("examples/agent/demo.script"));
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  auto r = RunAgent(**script, *executor, Task{"Print the first 10 prime numbers"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->success);
  ASSERT_EQ(r->attempts, 3);
  EXPECT_EQ(r->history[0].verdict.error_name, "SyntaxError");
  EXPECT_EQ(r->history[1].verdict.error_name, "ModuleNotFoundError");
  EXPECT_EQ(r->final_stdout, "2, 3, 5, 7, 11, 13, 17, 19, 23, 29\n");
}

TEST(SandboxAgent, MemoryHogIsOutOfMemory) {
  auto executor = MakeSandboxExecutor();
  testing::RecordingProvider provider({"```python\nx = bytearray(512 * 1024 * 1024)\nprint(len(x))\n```"});
  AgentOptions options;
  options.max_attempts = 1;
  options.memory_mb = 64;
  auto r = RunAgent(provider, *executor, Task{"allocate"}, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->success);
  const VerdictKind k = r->history[0].verdict.kind;
  // The cgroup kills the process (out_of_memory) or Python raises MemoryError first (error).
  EXPECT_TRUE(k == VerdictKind::kOutOfMemory ||
              (k == VerdictKind::kError && r->history[0].verdict.error_name == "MemoryError"))
      << r->history[0].verdict.summary;
}

TEST(SandboxHumanEval, CanonicalScores164Of164) {
  auto problems = LoadHumanEval(DefaultHumanEvalPath());
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  auto executor = MakeSandboxExecutor();
  auto provider = MakeCanonicalProvider(&*problems);
  HumanEvalOptions options;
  options.jobs = 2;
  auto report = RunHumanEval(*problems, *provider, *executor, options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->errors, 0);
  EXPECT_EQ(report->solved_within[0], 164);
  for (const auto& r : report->results) EXPECT_TRUE(r.passed) << ToJson(r).dump();
}

TEST(SandboxHumanEval, WrongSolutionFails) {
  auto problems = LoadHumanEval(DefaultHumanEvalPath());
  ASSERT_TRUE(problems.ok());
  const std::vector<HumanEvalProblem> one(problems->begin(), problems->begin() + 1);
  auto executor = MakeSandboxExecutor();
  testing::RecordingProvider provider({"```python\n    return not True\n```"});
  HumanEvalOptions options;
  options.attempts = 1;
  auto report = RunHumanEval(one, provider, *executor, options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->solved_within[0], 0);
  EXPECT_EQ(report->results[0].run.history[0].verdict.kind, VerdictKind::kTestsFailed);
}

}  // namespace
}  // namespace kiln::agent
