// Resource limits: each is pushed past its bound by real code in a real sandbox.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "kiln/base/strings.h"
#include "kiln/runtime/run.h"

namespace kiln::runtime {
namespace {

Result<RunResult> RunCommand(std::vector<std::string> argv,
                             const std::function<void(RunRequest&)>& tweak = {}) {
  RunRequest req;
  req.argv = std::move(argv);
  req.spec.limits.timeout_ms = 20'000;
  if (tweak) tweak(req);
  return runtime::Run(req);
}

TEST(LimitsTest, ExitCodeAndStreamsAreReported) {
  std::string seen;
  RunRequest req;
  req.argv = {"sh", "-c", "echo out; echo err >&2; exit 7"};
  Result<RunResult> r = runtime::Run(
      req, [&](int stream, std::string_view d) { seen += std::to_string(stream) + std::string(d); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_EQ(r->stdout_data, "out\n");
  EXPECT_EQ(r->stderr_data, "err\n");
  EXPECT_NE(seen.find("1out\n"), std::string::npos);
  EXPECT_NE(seen.find("2err\n"), std::string::npos);
  EXPECT_FALSE(r->timed_out || r->oom_killed || r->truncated);
}

TEST(LimitsTest, StdinIsFed) {
  Result<RunResult> r = RunCommand({"sh", "-c", "tr a-z A-Z"}, [](RunRequest& q) { q.stdin_data = "hello"; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_data, "HELLO");
}

TEST(LimitsTest, SpinPastTimeoutIsKilledAndReported) {
  Result<RunResult> r = RunCommand({"python3", "-c", "while True: pass"},
                                   [](RunRequest& q) { q.spec.limits.timeout_ms = 700; });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->timed_out);
  EXPECT_NE(r->exit_code, 0);
  EXPECT_GE(r->duration_ms, 700);
  EXPECT_LT(r->duration_ms, 5000);
}

TEST(LimitsTest, MemoryPastLimitIsReportedAsOutOfMemory) {
  Result<RunResult> r = RunCommand({"python3", "-c", "x = bytearray(400 * 1024 * 1024); print('survived')"},
                                   [](RunRequest& q) { q.spec.limits.memory_bytes = 64 << 20; });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stdout_data.find("survived"), std::string::npos);
  EXPECT_TRUE(r->oom_killed) << "exit " << r->exit_code << " " << r->stderr_data;
  EXPECT_EQ(r->exit_code, 137);
}

TEST(LimitsTest, HugeOutputIsCappedAndReportedAsTruncated) {
  Result<RunResult> r = RunCommand(
      {"python3", "-c",
       "import sys\nfor _ in range(100): sys.stdout.write('x' * (1 << 20))\nprint('done', file=sys.stderr)"},
      [](RunRequest& q) { q.spec.limits.max_output_bytes = 1 << 20; });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->stdout_data.size(), 1u << 20);
  EXPECT_EQ(r->stderr_data, "done\n");  // the program ran to the end: output beyond the cap was drained
  EXPECT_EQ(r->exit_code, 0);
}

// stderr has its own cap: a program that floods only stderr is cut at the same bound and reported.
TEST(LimitsTest, HugeStderrIsCappedAndReportedAsTruncated) {
  Result<RunResult> r = RunCommand(
      {"python3", "-c", "import sys\nfor _ in range(40): sys.stderr.write('e' * (1 << 20))\nprint('done')"},
      [](RunRequest& q) { q.spec.limits.max_output_bytes = 1 << 20; });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->stderr_data.size(), 1u << 20);
  EXPECT_EQ(r->stdout_data, "done\n");
  EXPECT_EQ(r->exit_code, 0);
}

// The sandbox's /tmp is its own size-limited tmpfs: filling it is ENOSPC after about its size, and nothing
// reaches the host's /tmp. (Measured inside, not by the host's free space, which other processes change.)
TEST(LimitsTest, FillingTmpHitsEnospcInsideOnly) {
  std::string marker = "/tmp/kiln-fill-" + std::to_string(getpid());
  Result<RunResult> r =
      RunCommand({"python3", "-c",
                  "import errno, os\nst = os.statvfs('/tmp')\nprint(st.f_blocks * st.f_frsize)\nwritten = 0\n"
                  "f = open('" +
                      marker +
                      "', 'wb')\ntry:\n    while True: f.write(b'x' * 65536); f.flush(); written += 65536\n"
                      "except OSError as e:\n    print(errno.errorcode[e.errno], written)\n"},
                 [](RunRequest& q) { q.spec.limits.tmpfs_tmp_bytes = 8 << 20; });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> lines = Split(r->stdout_data, '\n');
  ASSERT_GE(lines.size(), 2u) << r->stdout_data << r->stderr_data;
  EXPECT_EQ(lines[0], std::to_string(8 << 20));
  std::vector<std::string> outcome = Split(lines[1], ' ');
  ASSERT_EQ(outcome.size(), 2u) << lines[1];
  EXPECT_EQ(outcome[0], "ENOSPC");
  EXPECT_GE(std::stoll(outcome[1]), 7 << 20);  // the sandbox had its whole tmpfs, no more
  EXPECT_LE(std::stoll(outcome[1]), 8 << 20);
  struct stat st {};
  EXPECT_NE(stat(marker.c_str(), &st), 0) << marker << " reached the host";
}

// Empty files cost no tmpfs size but kernel memory: the number of files is bounded too.
TEST(LimitsTest, CreatingFilesWithoutEndHitsTheInodeBound) {
  Result<RunResult> r = RunCommand(
      {"python3", "-c",
       "import errno, os\nn = 0\ntry:\n    while n < 200000: open('/tmp/f%d' % n, 'w').close(); n += 1\n"
       "except OSError as e:\n    print(errno.errorcode[e.errno], n)\n"},
      [](RunRequest& q) { q.spec.limits.tmpfs_tmp_bytes = 8 << 20; });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> outcome = Split(std::string(Trim(r->stdout_data)), ' ');
  ASSERT_EQ(outcome.size(), 2u) << r->stdout_data << r->stderr_data;
  EXPECT_EQ(outcome[0], "ENOSPC");
  EXPECT_LE(std::stoll(outcome[1]), 2048);  // 8 MiB / 4 KiB
  EXPECT_GE(std::stoll(outcome[1]), 1500);
}

TEST(LimitsTest, ForkBombIsContained) {
  Result<RunResult> r =
      RunCommand({"bash", "-c", "bomb() { bomb | bomb & }; bomb; sleep 2; echo alive"}, [](RunRequest& q) {
        q.spec.limits.pids = 64;
        q.spec.limits.timeout_ms = 4000;
      });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Either the shell survived the bomb or the timeout ended it; in both cases the sandbox is gone now, and
  // the host can still fork.
  EXPECT_TRUE(r->timed_out || r->stdout_data == "alive\n") << r->stdout_data << r->stderr_data;
  Result<RunResult> after = RunCommand({"true"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->exit_code, 0);
}

TEST(LimitsTest, FileSizeLimitApplies) {
  Result<RunResult> r = RunCommand({"python3", "-c",
                                    "import errno\ntry:\n    open('/home/user/big', 'wb').write(b'x' * (2 << "
                                    "20))\nexcept OSError as e:\n    print(errno.errorcode[e.errno])"},
                                   [](RunRequest& q) { q.spec.limits.max_file_bytes = 1 << 20; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_data, "EFBIG\n") << r->stderr_data;
}

}  // namespace
}  // namespace kiln::runtime
