#include "kiln/client/sandbox_watch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "kiln/base/clock.h"

namespace kiln::client {
namespace {

TEST(SandboxWatchTest, CauseFromOomKillsAndLifetime) {
  EXPECT_EQ(OomKillsIn("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"), 2);
  EXPECT_EQ(OomKillsIn("low 0\n"), 0);
  WatchedSandbox s;
  s.memory_limit_bytes = 256ll << 20;
  EXPECT_NE(SandboxDeathCause(s, 1, 0).find("out of memory"), std::string::npos);
  EXPECT_NE(SandboxDeathCause(s, 1, 0).find("256 MB"), std::string::npos);
  s.end_at_ms = 10'000;
  EXPECT_EQ(SandboxDeathCause(s, 0, 9'900), "its lifetime ended");
  EXPECT_NE(SandboxDeathCause(s, 0, 1'000).find("kiln-envd"), std::string::npos);
}

TEST(SandboxWatchTest, ReportsDeathAtOnceWithTheOomSeenWhileAlive) {
  char path[] = "/tmp/kiln-watch-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "oom 0\noom_kill 0\n";
  std::atomic<bool> alive{true};
  std::atomic<int> calls{0};
  std::string reported;
  WatchedSandbox s;
  s.alive = [&] { return alive.load(); };
  s.memory_events_path = path;
  SandboxWatch watch(
      s,
      [&](const std::string& cause) {
        reported = cause;
        ++calls;
      },
      10);
  EXPECT_FALSE(watch.WaitForDeath(50).has_value());
  std::ofstream(path) << "oom 1\noom_kill 1\n";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::unlink(path);  // the runtime removes the cgroup when it reaps the sandbox
  const int64_t died = MonotonicMillis();
  alive = false;
  auto cause = watch.WaitForDeath(2000);
  ASSERT_TRUE(cause.has_value());
  EXPECT_LT(MonotonicMillis() - died, 500);
  EXPECT_NE(cause->find("out of memory"), std::string::npos) << *cause;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(reported, *cause);
}

}  // namespace
}  // namespace kiln::client
