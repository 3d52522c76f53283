#include "kiln/agent/humaneval.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "testing/fakes.h"
#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

const std::vector<HumanEvalProblem>& Problems() {
  static const std::vector<HumanEvalProblem> problems = [] {
    auto loaded = LoadHumanEval(KILN_HUMANEVAL_TEST_PATH);
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return loaded.ok() ? *loaded : std::vector<HumanEvalProblem>{};
  }();
  return problems;
}

TEST(HumanEval, LoaderReads164Problems) {
  ASSERT_EQ(Problems().size(), 164u);
  EXPECT_EQ(Problems()[0].task_id, "HumanEval/0");
  EXPECT_EQ(Problems()[0].entry_point, "has_close_elements");
  EXPECT_EQ(Problems()[163].task_id, "HumanEval/163");
  for (const auto& p : Problems()) {
    EXPECT_FALSE(p.prompt.empty() || p.test.empty() || p.entry_point.empty() || p.canonical_solution.empty())
        << p.task_id;
  }
  EXPECT_EQ(DefaultHumanEvalPath(), KILN_HUMANEVAL_TEST_PATH);
}

TEST(HumanEval, LoaderReadsPlainJsonlAndNamesBadLines) {
  const std::string path = ::testing::TempDir() + "/kiln_he_plain.jsonl";
  std::ofstream(path)
      << R"({"task_id":"t/0","prompt":"p","canonical_solution":"c","test":"t","entry_point":"f"})"
      << "\n\n"
      << R"({"task_id":"t/1","prompt":"p"})"
      << "\n";
  auto r = LoadHumanEval(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(":3: missing string field 'canonical_solution'"), std::string::npos);
  std::ofstream(path)
      << R"({"task_id":"t/0","prompt":"p","canonical_solution":"c","test":"t","entry_point":"f"})";
  r = LoadHumanEval(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 1u);
  std::remove(path.c_str());
  EXPECT_EQ(LoadHumanEval("/nonexistent/he.jsonl").status().code(), Code::kNotFound);
}

TEST(HumanEval, TaskHidesTestsAndCompletesFromThePrompt) {
  const Task t = MakeHumanEvalTask(Problems().at(0));
  EXPECT_EQ(t.id, "HumanEval/0");
  EXPECT_FALSE(t.show_tests);
  EXPECT_NE(t.prompt.find(Problems()[0].prompt), std::string::npos);
  EXPECT_NE(t.tests.find("check(has_close_elements)"), std::string::npos);
  EXPECT_EQ(t.stub, Problems()[0].prompt);
  EXPECT_EQ(t.entry_point, "has_close_elements");
}

// Runs the canonical solutions through the whole harness with the host's python3 (no sandbox needed).
TEST(HumanEval, CanonicalSolutionsScore164Of164OnTheHost) {
  testing::HostPythonExecutor python;
  if (!python.available()) GTEST_SKIP() << "no python3 on this host";
  auto provider = MakeCanonicalProvider(&Problems());
  HumanEvalOptions options;
  options.jobs = 2;
  int progress_calls = 0;
  auto report =
      RunHumanEval(Problems(), *provider, python, options, [&](const HumanEvalResult&, int, int total) {
        ++progress_calls;
        EXPECT_EQ(total, 164);
      });
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->problems, 164);
  EXPECT_EQ(report->solved_within, (std::vector<int>{164, 164, 164}));
  EXPECT_DOUBLE_EQ(report->PassRate(1), 1.0);
  EXPECT_EQ(report->errors, 0);
  EXPECT_EQ(progress_calls, 164);
  for (const auto& r : report->results) EXPECT_TRUE(r.passed) << r.task_id << " " << ToJson(r).dump();
}

TEST(HumanEval, WrongSolutionsFailAndBodiesAreCompleted) {
  testing::HostPythonExecutor python;
  if (!python.available()) GTEST_SKIP() << "no python3 on this host";
  const std::vector<HumanEvalProblem> two(Problems().begin(), Problems().begin() + 2);
  // Problem 0: a wrong body, then the canonical body alone (no signature: the prompt is prepended).
  // Problem 1 gets the same wrong body each time. Jobs = 1 keeps the replies in order.
  testing::RecordingProvider provider({"```python\n    return None\n```",
                                       "```python\n" + two[0].canonical_solution + "```",
                                       "```python\nreturn []\n```", "```python\nreturn []\n```"});
  HumanEvalOptions options;
  options.attempts = 2;
  auto report = RunHumanEval(two, provider, python, options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->solved_within, (std::vector<int>{0, 1}));
  const HumanEvalResult& r0 = report->results[0];
  EXPECT_TRUE(r0.passed);
  EXPECT_EQ(r0.solved_at, 2);
  EXPECT_EQ(r0.run.history[0].verdict.kind, VerdictKind::kTestsFailed);
  EXPECT_EQ(r0.run.final_code, two[0].prompt + two[0].canonical_solution);
  const HumanEvalResult& r1 = report->results[1];
  EXPECT_FALSE(r1.passed);
  EXPECT_EQ(r1.run.history.size(), 2u);
  EXPECT_EQ(r1.run.history[1].verdict.kind, VerdictKind::kTestsFailed);
  // The failing test reached the model; the tests were not in the first prompt.
  EXPECT_NE(provider.LastUserText(1).find("AssertionError"), std::string::npos);
  EXPECT_EQ(provider.requests()[0].messages[0].text.find("def check("), std::string::npos);
  const nlohmann::json j = ToJson(r1);
  EXPECT_EQ(j["task_id"], "HumanEval/1");
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["history"].size(), 2u);
  EXPECT_EQ(SummaryJson(*report)["solved_within"], nlohmann::json::array({0, 1}));
}

TEST(HumanEval, OptionsAreValidatedAndLimitApplies) {
  auto provider = MakeCanonicalProvider(&Problems());
  FunctionExecutor ok([](const ExecRequest&) -> Result<Execution> {
    Execution e;
    e.stdout_data = "\n" + std::string(kTestsPassedSentinel) + "\n";
    return e;
  });
  HumanEvalOptions options;
  options.jobs = 0;
  EXPECT_EQ(RunHumanEval(Problems(), *provider, ok, options).status().code(), Code::kInvalidArgument);
  options.jobs = 3;
  options.limit = 7;
  auto report = RunHumanEval(Problems(), *provider, ok, options);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->problems, 7);
  EXPECT_EQ(report->results.size(), 7u);
  EXPECT_EQ(report->solved_within[0], 7);
}

}  // namespace
}  // namespace kiln::agent
