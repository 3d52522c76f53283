#include "kiln/agent/mbpp.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kiln/agent/commands.h"
#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

std::optional<std::string> NoEnv(const std::string&) {
  return std::nullopt;
}

const std::vector<HumanEvalProblem>& Problems() {
  static const std::vector<HumanEvalProblem> problems = [] {
    auto loaded = LoadMbpp(DefaultMbppPath());
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return loaded.ok() ? *loaded : std::vector<HumanEvalProblem>{};
  }();
  return problems;
}

const HumanEvalProblem* Find(const std::string& task_id) {
  for (const HumanEvalProblem& p : Problems())
    if (p.task_id == task_id) return &p;
  return nullptr;
}

TEST(Mbpp, LoaderReadsThe427SanitizedProblemsIntoTheHarnessShape) {
  ASSERT_EQ(Problems().size(), 427u);
  const HumanEvalProblem& first = Problems()[0];
  EXPECT_EQ(first.task_id, "Mbpp/2");
  EXPECT_EQ(first.entry_point, "similar_elements");  // not `set`, the first call of its first assert
  EXPECT_EQ(first.prompt,
            "# Write a function to find the shared elements from the given two lists.\n"
            "# Your code should pass this test:\n"
            "# assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n");
  EXPECT_EQ(first.test.find("assert set(similar_elements((3, 4, 5, 6)"), 0u) << first.test;
  EXPECT_NE(first.test.find("\nassert set(similar_elements((11, 12"), std::string::npos) << first.test;
  // A solution that defines its own `check` (the harness's name) is still tested by its asserts.
  ASSERT_NE(Find("Mbpp/56"), nullptr);
  EXPECT_LT(Find("Mbpp/56")->test.find("assert check(70)"),
            Find("Mbpp/56")->test.find("def check(candidate)"));
  // A space before the call's parenthesis, an indented def: still found.
  ASSERT_NE(Find("Mbpp/77"), nullptr);
  EXPECT_EQ(Find("Mbpp/77")->entry_point, "is_Diff");
  ASSERT_NE(Find("Mbpp/392"), nullptr);
  EXPECT_EQ(Find("Mbpp/392")->entry_point, "get_max_sum");
  for (const HumanEvalProblem& p : Problems()) {
    EXPECT_FALSE(p.entry_point.empty() || p.canonical_solution.empty()) << p.task_id;
    EXPECT_EQ(p.canonical_solution.back(), '\n') << p.task_id;
  }
}

TEST(Mbpp, BadFilesAreErrorsThatNameTheProblem) {
  const std::string path = ::testing::TempDir() + "/kiln_mbpp_bad.json";
  std::ofstream(path)
      << R"([{"task_id": 7, "prompt": "p", "code": "def f(x):\n  return x", "test_imports": [],
                             "test_list": ["assert f(1) == 1"]},
                            {"task_id": 8, "prompt": "p", "code": "x = 1", "test_imports": [], "test_list": []}])";
  auto bad = LoadMbpp(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("problem 1 (Mbpp/8)"), std::string::npos) << bad.status().ToString();
  std::ofstream(path)
      << R"([{"task_id": 9, "prompt": "p", "code": "def f(x):\n  return x", "test_imports": [],
                             "test_list": ["assert g(1) == 1"]}])";
  bad = LoadMbpp(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("calls no function"), std::string::npos) << bad.status().ToString();
  std::ofstream(path) << R"({"task_id": 9})";
  EXPECT_EQ(LoadMbpp(path).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(LoadMbpp("/nonexistent/mbpp.json").status().code(), Code::kNotFound);
}

struct BenchRun {
  int exit_code;
  std::string out, err;
};

BenchRun Bench(const std::string& model, int limit, Executor& executor) {
  std::ostringstream out, err;
  BenchCommandOptions o;
  o.benchmark = "mbpp";
  o.model = model;
  o.attempts = 1;
  o.limit = limit;
  o.executor = &executor;
  o.env = NoEnv;
  o.out = &out;
  o.err = &err;
  int rc = RunBenchHumanEvalCommand(o);
  return {rc, out.str(), err.str()};
}

TEST(Mbpp, TheCanonicalPseudoModelPassesTheFirstProblems) {
  testing::HostPythonExecutor python;
  if (!python.available()) GTEST_SKIP() << "no python3 on this host";
  BenchRun r = Bench("canonical", 16, python);  // through Mbpp/56, which defines `check`
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("MBPP (sanitized): 16 problems, model canonical"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pass rate within 1 attempt : 16/16 (100.0%)"), std::string::npos) << r.out;
}

// The scripted model (script:FILE) answering with MBPP's reference solutions, except for one deliberately
// wrong answer: the wrong one must count as a failure and the others as passes.
TEST(Mbpp, AScriptOfReferenceSolutionsWithOneWrongAnswerScoresFourOfFive) {
  testing::HostPythonExecutor python;
  if (!python.available()) GTEST_SKIP() << "no python3 on this host";
  const std::string script = ::testing::TempDir() + "/kiln_mbpp_reference_solutions.script";
  {
    std::ofstream f(script);
    for (int i = 0; i < 5; ++i) {
      const HumanEvalProblem& p = Problems()[i];
      std::string code =
          i == 3 ? "def " + p.entry_point + "(*args):\n    return None\n" : CanonicalProgram(p);
      f << (i ? "--- response ---\n" : "") << "```python\n" << code << "```\n";
    }
  }
  BenchRun r = Bench("script:" + script, 5, python);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pass rate within 1 attempt : 4/5 (80.0%)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(Problems()[3].task_id + " failed"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(Problems()[2].task_id + " failed"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kiln::agent
