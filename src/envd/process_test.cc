#include "kiln/envd/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "kiln/envd/spawn.h"

namespace kiln::envd {
namespace {

using Kind = ProcessEvent::Kind;

ProcessEvent Data(std::string bytes) {
  return {Kind::kStdout, 1, std::move(bytes), {}};
}

TEST(SubscriptionTest, DropsOldestOutputButNeverStartOrEnd) {
  Subscription sub(10);
  sub.Push({Kind::kStart, 1, "", {}});
  sub.Push(Data("aaaa"));
  sub.Push(Data("bbbb"));
  sub.Push(Data("cccc"));  // 12 bytes > 10: "aaaa" goes
  sub.Push({Kind::kEnd, 1, "", {}});
  auto events = sub.Take(std::chrono::steady_clock::now());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, Kind::kStart);
  EXPECT_EQ(events[1].data, "bbbb");
  EXPECT_EQ(events[2].data, "cccc");
  EXPECT_EQ(events[3].kind, Kind::kEnd);
  EXPECT_EQ(sub.dropped_bytes(), 4u);
}

TEST(SubscriptionTest, TakeTimesOutEmpty) {
  Subscription sub(10);
  auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(sub.Take(begin + std::chrono::milliseconds(20)).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - begin, std::chrono::milliseconds(20));
}

TEST(ExitInfoTest, MatchesGoProcessState) {
  ExitInfo ok = ExitInfoFromWaitStatus(0);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_TRUE(ok.exited);
  EXPECT_EQ(ok.status, "exit status 0");
  EXPECT_FALSE(ok.error);
  ExitInfo failed = ExitInfoFromWaitStatus(3 << 8);
  EXPECT_EQ(failed.exit_code, 3);
  EXPECT_EQ(failed.error.value_or(""), "exit status 3");
  ExitInfo killed = ExitInfoFromWaitStatus(SIGKILL);
  EXPECT_EQ(killed.exit_code, -1);
  EXPECT_FALSE(killed.exited);
  EXPECT_EQ(killed.status, "signal: killed");
  EXPECT_EQ(ExitInfoFromWaitStatus(SIGTERM).status, "signal: terminated");
  EXPECT_EQ(ExitInfoFromWaitStatus(40).status, "signal: signal 40");
}

TEST(BuildEnvTest, OrderAndOverrides) {
  auto env = BuildEnv("/home/u", "u", {{"A", "1"}, {"HOME", "/x"}}, {{"A", "2"}, {"B", "3"}});
  std::vector<std::string> want = {
      "PATH=/opt/kiln/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/x",
      "USER=u",
      "LOGNAME=u",
      "A=2",
      "B=3"};
  EXPECT_EQ(env, want);
}

TEST(SpawnTest, ReportsExecErrors) {
  SpawnSpec spec;
  spec.program = "/definitely/not/here";
  spec.argv = {"x"};
  auto child = ForkChild(spec);
  ASSERT_TRUE(child.ok());
  int err = 0;
  Status s = AwaitExec(*child, spec, &err);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(err, ENOENT);
  int status = 0;
  ASSERT_EQ(::waitpid(child->pid, &status, 0), child->pid);
  EXPECT_EQ(WEXITSTATUS(status), 127);
  EXPECT_EQ(ForkChild(SpawnSpec{}).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::envd
