// kiln doctor's checks on this host, and the leftovers of a Kiln process that died without cleaning up.
#include "kiln/runtime/doctor.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

TEST(DoctorTest, ThisHostPassesTheChecksThatSandboxesNeed) {
  std::vector<Finding> findings = CheckHost("/tmp");
  for (const char* check : {"user namespaces", "sandbox", "seccomp", "kiln-envd", "disk", "clock"}) {
    auto it =
        std::find_if(findings.begin(), findings.end(), [&](const Finding& f) { return f.check == check; });
    ASSERT_NE(it, findings.end()) << check;
    if (std::string(check) != "clock") {
      EXPECT_NE(it->level, Finding::kFail) << check << ": " << it->detail;
    }
  }
}

// A process that owned a sandbox and died without killing it (a crash, kill -9 of a server) leaves the
// sandbox running under init and its socket behind: doctor lists them, and --fix removes both.
TEST(DoctorTest, FixRemovesTheSandboxOfADeadOwnerAndItsSocket) {
  char tmpl[] = "/tmp/kiln-doctor-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t owner = fork();
  if (owner == 0) {
    Result<std::unique_ptr<Runtime>> rt = Runtime::Create(dir);
    Result<SandboxInfo> sb = rt.ok() ? (*rt)->CreateSandbox(CreateOptions{}) : rt.status();
    char ok = sb.ok() ? 1 : 0;
    (void)!write(report[1], &ok, 1);
    _exit(0);  // no destructors: the sandbox is left behind, as by a crash
  }
  close(report[1]);
  char ok = 0;
  ASSERT_EQ(read(report[0], &ok, 1), 1);
  close(report[0]);
  ASSERT_EQ(ok, 1);
  waitpid(owner, nullptr, 0);
  Leftovers before = FindLeftovers(false, dir);
  EXPECT_FALSE(before.orphans.empty());
  Leftovers fixed = FindLeftovers(true, dir);
  EXPECT_FALSE(fixed.orphans.empty());
  ASSERT_EQ(fixed.sockets.size(), 1u);
  struct stat st {};
  EXPECT_NE(stat(fixed.sockets[0].c_str(), &st), 0) << "socket still there";
  EXPECT_TRUE(FindLeftovers(false, dir).orphans.empty());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace kiln::runtime
