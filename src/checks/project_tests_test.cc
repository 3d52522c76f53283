#include "kiln/checks/project_tests.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace kiln::checks {
namespace {

namespace fs = std::filesystem;

class ProjectDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-project-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  std::string Runner() {
    Result<TestCommand> c = DetectTestCommand(dir_.string());
    return c.ok() ? c->runner : "none: " + c.status().message();
  }
  fs::path dir_;
};

TEST_F(ProjectDir, DetectsEachRunnerByWhatTheProjectContains) {
  EXPECT_NE(Runner().find("no test command found"), std::string::npos);
  Write("tests/test_x.py", "");
  EXPECT_EQ(Runner(), "unittest");
  Write("Makefile", "all:\n\ttrue\ntest: all\n\ttrue\n");
  EXPECT_EQ(Runner(), "make");
  Write("CMakeLists.txt", "project(x)\n");
  EXPECT_EQ(Runner(), "ctest");
  Write("pyproject.toml", "[tool.pytest.ini_options]\n");
  EXPECT_EQ(Runner(), "pytest");
  Write("package.json", "{\"name\": \"x\", \"scripts\": {\"test\": \"node t.js\"}}");
  EXPECT_EQ(Runner(), "npm");
  EXPECT_NE(DetectTestCommand((dir_ / "nope").string()).status().message().find("not a directory"),
            std::string::npos);
}

TEST_F(ProjectDir, AMakefileWithoutATestTargetIsNotATestCommand) {
  Write("Makefile", "all:\n\techo test: no\n");
  EXPECT_NE(Runner().find("no test command found"), std::string::npos);
}

TEST_F(ProjectDir, SnapshotSkipsVcsAndBuildDirsAndNotesExecutables) {
  Write("a.py", "print(1)\n");
  Write("sub/b.txt", "b");
  Write(".git/config", "secret");
  Write("node_modules/m/index.js", "");
  Write("run.sh", "#!/bin/sh\n");
  fs::permissions(dir_ / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
  fs::create_symlink("/etc/passwd", dir_ / "link");
  Result<ProjectSnapshot> snap = SnapshotProject(dir_.string(), 1 << 20);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  std::vector<std::string> names;
  for (const auto& [name, content] : snap->files) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.py", "run.sh", "sub/b.txt"}));
  EXPECT_EQ(snap->executables, std::vector<std::string>{"run.sh"});
  EXPECT_EQ(snap->files["sub/b.txt"], "b");
  EXPECT_EQ(SnapshotProject(dir_.string(), 4).status().code(), Code::kResourceExhausted);
}

TEST(Junit, ReadsPytestStyleCasesWithFailuresAndSkips) {
  const char* xml = R"(<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="3">
<testcase classname="test_m" name="test_ok" file="test_m.py" line="3" time="0.01"/>
<testcase classname="test_m" name="test_bad" time="0.02"><failure message="assert 1 == 2">def test_bad():
&gt;   assert 1 == 2</failure></testcase>
<testcase name="test_skip"><skipped message="not today"/></testcase>
<testcase classname="c" name="test_err"><error message="boom"/></testcase></testsuite></testsuites>)";
  Result<std::vector<CaseResult>> cases = ParseJunit(xml);
  ASSERT_TRUE(cases.ok()) << cases.status().ToString();
  ASSERT_EQ(cases->size(), 4u);
  EXPECT_EQ((*cases)[0].outcome, Outcome::kPassed);
  EXPECT_EQ((*cases)[0].file, "test_m.py");
  EXPECT_EQ((*cases)[0].line, 3);
  EXPECT_EQ((*cases)[1].outcome, Outcome::kFailed);
  EXPECT_EQ((*cases)[1].message, "assert 1 == 2");
  EXPECT_NE((*cases)[1].details.find(">   assert 1 == 2"), std::string::npos);
  EXPECT_EQ((*cases)[2].outcome, Outcome::kSkipped);
  EXPECT_EQ((*cases)[2].suite, "pytest");
  EXPECT_EQ((*cases)[3].outcome, Outcome::kFailed);
}

TEST(Junit, MalformedXmlIsAnErrorWithItsLine) {
  Result<std::vector<CaseResult>> bad = ParseJunit("<testsuite>\n<testcase name='x'>\n</testsuite>");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("JUnit XML: mismatched tag at line 3"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace kiln::checks
