// Black-box tests of `kiln test DIR` on the small projects in testdata/projects, in real sandboxes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "shell_test_util.h"

namespace {

using kiln::cli::testing::Outcome;
using kiln::cli::testing::Shell;

const std::string kKiln = KILN_BINARY;
const std::string kProjects = KILN_TESTDATA;

Outcome KilnTest(const std::string& args) {
  return Shell(kKiln + " test " + args + " 2>&1");
}

// A scratch copy of a fixture project (modes and times kept), removed with the test.
class ScratchProject {
 public:
  explicit ScratchProject(const std::string& fixture) {
    char tmpl[] = "/tmp/kiln-test-cli-XXXXXX";
    root_ = mkdtemp(tmpl);
    dir = root_ + "/project";
    Shell("cp -a " + kProjects + "/" + fixture + " " + dir);
  }
  ~ScratchProject() { std::filesystem::remove_all(root_); }
  // Every entry with its type, mode, owner, size, modification time and content hash.
  std::string Manifest() const {
    return Shell("cd " + dir +
                 " && find . -printf '%p %y %m %U:%G %s %T@\\n' | sort && find . -type f -exec md5sum {} + | "
                 "sort")
        .out;
  }
  std::string dir;

 private:
  std::string root_;
};

TEST(TestCli, APytestProjectReportsEachCaseFromItsJunitAndExitsOneOnAFailure) {
  Outcome o = KilnTest(kProjects + "/pytest_mixed");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  // The runner's own output streams through, then the report built from its JUnit XML.
  EXPECT_NE(o.out.find("1 failed, 1 passed"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("FAIL test_mul: assert 5 == 6"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("kiln test: 2 checked, 1 passed, 1 failed, 0 skipped"), std::string::npos) << o.out;
}

TEST(TestCli, JunitAndGithubFormatsCarryTheCases) {
  Outcome junit = Shell(kKiln + " test --format junit " + kProjects +
                        "/pytest_mixed 2>/dev/null | sed -n '/^<?xml/,$p' | python3 -c \"import sys, "
                        "xml.dom.minidom as m; d = m.parseString(sys.stdin.read()); print(len("
                        "d.getElementsByTagName('testcase')), len(d.getElementsByTagName('failure')))\"");
  EXPECT_EQ(junit.out, "2 1\n");
  Outcome github = Shell(kKiln + " test --format github " + kProjects + "/pytest_mixed 2>/dev/null");
  EXPECT_EQ(github.exit_code, 1);
  EXPECT_NE(github.out.find("::error"), std::string::npos) << github.out;
  EXPECT_NE(github.out.find("test_mul"), std::string::npos) << github.out;
}

TEST(TestCli, AUnittestProjectPassesOnItsExitStatus) {
  Outcome o = KilnTest(kProjects + "/unittest_ok");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("python3 -m unittest discover"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Ran 2 tests"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("1 checked, 1 passed, 0 failed"), std::string::npos) << o.out;
}

TEST(TestCli, AMakefileProjectRunsMakeTestWithItsScriptsStillExecutable) {
  Outcome o = KilnTest(kProjects + "/make_ok");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("make test: ok"), std::string::npos) << o.out;
}

TEST(TestCli, AProjectWithoutTestsIsAClearErrorThatNamesWhatWasLookedFor) {
  Outcome o = KilnTest(kProjects + "/no_tests");
  EXPECT_EQ(o.exit_code, 125) << o.out;
  EXPECT_NE(o.out.find("no test command found"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("--cmd"), std::string::npos) << o.out;
  Outcome missing = KilnTest("/nonexistent/kiln-project");
  EXPECT_EQ(missing.exit_code, 125) << missing.out;
  EXPECT_NE(missing.out.find("/nonexistent/kiln-project"), std::string::npos) << missing.out;
}

TEST(TestCli, TestsThatWriteDeleteAndChmodTheCheckoutChangeOnlyTheirView) {
  ScratchProject project("hostile");
  std::string before = project.Manifest();
  ASSERT_NE(before.find("data.txt"), std::string::npos);
  Outcome o = KilnTest(project.dir);
  // The suite passes only if every change really happened where it ran...
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("3 checked, 3 passed"), std::string::npos) << o.out;
  // ...and none reached the checkout: not even pytest's caches.
  EXPECT_EQ(project.Manifest(), before);
}

TEST(TestCli, ACommandCannotReachTheLowerLayerOrTheCheckoutAnotherWay) {
  ScratchProject project("hostile");
  std::string before = project.Manifest();
  Outcome o = KilnTest(project.dir +
                       " --cmd 'echo stage=$(ls -A /.kiln-overlay-0 | wc -l); echo x > "
                       "/home/user/project/data.txt; chmod 000 keep.txt; "
                       "rm -rf /home/user/project/*; ls " +
                       project.dir +
                       " 2>&1; mount -t tmpfs none /home/user/project 2>&1; touch /home/user/project/after; "
                       "ls /home/user/project'");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("stage=0\n"), std::string::npos) << o.out;  // the stage is detached: nothing there
  EXPECT_NE(o.out.find("No such file or directory"), std::string::npos) << o.out;  // no host path
  EXPECT_NE(o.out.find("after"), std::string::npos) << o.out;
  EXPECT_EQ(project.Manifest(), before);
}

TEST(TestCli, ACustomCommandFailsOnItsExitStatusAndHasNoNetwork) {
  Outcome o = KilnTest(kProjects + "/no_tests --cmd 'python3 main.py; exit 3'");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find("hello"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("exit status 3"), std::string::npos) << o.out;
  Outcome net =
      KilnTest(kProjects +
               "/no_tests --cmd \"python3 -c 'import socket; socket.create_connection((\\\"1.1.1.1\\\", "
               "53), timeout=3)'\"");
  EXPECT_EQ(net.exit_code, 1) << net.out;
  EXPECT_NE(net.out.find("OSError"), std::string::npos) << net.out;
}

}  // namespace
