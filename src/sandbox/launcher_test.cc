// The engine's own failures: each must come back as a Status that names the step, leaving nothing behind.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/sandbox/sandbox.h"

namespace kiln::sandbox {
namespace {

// Fails the first mount whose target ends with `suffix`, as the kernel would with `err`.
class FailingMountOs : public ForwardingOs {
 public:
  FailingMountOs(std::string suffix, int err)
      : ForwardingOs(&Os::Real()), suffix_(std::move(suffix)), err_(err) {}
  Status Mount(const std::string& s, const std::string& t, const std::string& f, unsigned long fl,
               const std::string& d) override {
    if (t.size() >= suffix_.size() && t.compare(t.size() - suffix_.size(), suffix_.size(), suffix_) == 0) {
      return ErrnoStatus("mount(" + s + ", " + t + ", " + f + ")", err_);
    }
    return ForwardingOs::Mount(s, t, f, fl, d);
  }

 private:
  std::string suffix_;
  int err_;
};

class FailingCgroupOs : public ForwardingOs {
 public:
  FailingCgroupOs() : ForwardingOs(&Os::Real()) {}
  Status WriteFile(const std::string& path, std::string_view data) override {
    if (path.find("pids.max") != std::string::npos) return ErrnoStatus("write(" + path + ")", EACCES);
    return ForwardingOs::WriteFile(path, data);
  }
};

LaunchOptions TrueInit() {
  LaunchOptions o;
  o.init_binary_fd = open("/bin/true", O_PATH | O_CLOEXEC);
  o.argv = {"true"};
  return o;
}

// Cgroup directories left for sandbox `id` (other tests may be creating sandboxes meanwhile).
size_t CgroupEntries(const std::string& id) {
  size_t n = 0;
  for (const char* dir : {"/sys/fs/cgroup/pids/kiln", "/sys/fs/cgroup/memory/kiln", "/sys/fs/cgroup/cpu/kiln",
                          "/sys/fs/cgroup/kiln"}) {
    std::error_code ec;
    if (std::filesystem::exists(std::string(dir) + "/" + id, ec)) ++n;
  }
  return n;
}

TEST(LauncherTest, RunsInitAndReportsItsExit) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  LaunchOptions o = TrueInit();
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c", "exit 3"};
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  Result<ExitInfo> exit = (*sb)->Wait(10'000);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_TRUE((*sb)->Destroy().ok());
  close(o.init_binary_fd);
}

TEST(LauncherTest, FailedMountNamesTheStepAndLeavesNothing) {
  FailingMountOs os("/proc", EPERM);
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend(os);
  ASSERT_TRUE(backend.ok());
  LaunchOptions o = TrueInit();
  o.id = "launcher-test-" + std::to_string(getpid());
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.status().code(), Code::kPermissionDenied);
  EXPECT_NE(sb.status().message().find("mount(proc"), std::string::npos) << sb.status().message();
  EXPECT_NE(sb.status().message().find("preparing the sandbox filesystem"), std::string::npos);
  EXPECT_EQ(CgroupEntries(o.id), 0u);
  close(o.init_binary_fd);
}

TEST(LauncherTest, CgroupWriteFailureIsReported) {
  FailingCgroupOs os;
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend(os);
  ASSERT_TRUE(backend.ok());
  if (!(*backend)->capabilities().pids_limit) GTEST_SKIP() << "no pids controller here";
  LaunchOptions o = TrueInit();
  o.id = "launcher-test-" + std::to_string(getpid());
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  ASSERT_FALSE(sb.ok());
  EXPECT_NE(sb.status().message().find("pids.max"), std::string::npos) << sb.status().message();
  EXPECT_EQ(CgroupEntries(o.id), 0u);
  close(o.init_binary_fd);
}

TEST(LauncherTest, MissingInitIsInvalid) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok());
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), LaunchOptions{});
  EXPECT_EQ(sb.status().code(), Code::kInvalidArgument);
}

TEST(LauncherTest, KillEndsEveryProcess) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok());
  LaunchOptions o = TrueInit();
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c", "sleep 100 & sleep 100 & wait"};
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  EXPECT_EQ((*sb)->Wait(50).status().code(), Code::kDeadlineExceeded);
  EXPECT_TRUE((*sb)->Kill().ok());
  EXPECT_EQ((*sb)->init_pid(), 0);
  EXPECT_TRUE((*sb)->Destroy().ok());
  close(o.init_binary_fd);
}

// The launching thread is suspended while the child, sharing its memory, sets up: afterwards the thread's
// signal mask and the caller's data must be as they were.
TEST(LauncherTest, LaunchLeavesTheCallersThreadAsItWas) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok());
  sigset_t usr1, before, after;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, &before);
  LaunchOptions o = TrueInit();
  o.fds = {{STDERR_FILENO, 2}};
  const LaunchOptions copy = o;
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  pthread_sigmask(SIG_SETMASK, &before, &after);
  EXPECT_TRUE(sigismember(&after, SIGUSR1));
  EXPECT_FALSE(sigismember(&after, SIGTERM));
  EXPECT_EQ(o.fds, copy.fds);
  EXPECT_EQ(o.init_binary_fd, copy.init_binary_fd);
  EXPECT_EQ((*sb)->Wait(10'000)->exit_code, 0);
  close(o.init_binary_fd);
}

// PR_SET_PDEATHSIG follows the thread that cloned the sandbox: when it exits, the sandbox is killed.
TEST(LauncherTest, DieWithParentKillsTheSandboxWhenTheLaunchingThreadExits) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok());
  LaunchOptions o = TrueInit();
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c", "sleep 100"};
  o.die_with_parent = true;
  Result<std::unique_ptr<Sandbox>> sb = InvalidArgument("not launched");
  std::thread([&] { sb = (*backend)->Launch(SandboxSpec(), o); }).join();
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  Result<ExitInfo> exit = (*sb)->Wait(10'000);
  ASSERT_TRUE(exit.ok()) << exit.status().ToString();
  EXPECT_EQ(exit->signal, SIGKILL);
  close(o.init_binary_fd);
}

// Kiln cloned into /root (0700) as root: the sandbox's root is an unprivileged host uid that cannot search
// that directory, yet every helper mounted from there must reach the sandbox, read-only.
TEST(LauncherTest, MountsFromAPrivateDirectoryReachTheSandboxReadOnly) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok());
  if (geteuid() != 0) GTEST_SKIP() << "unprivileged: the sandbox's root is the caller, who can search it";
  char tmpl[] = "/tmp/kiln-private-XXXXXX";
  std::string dir = mkdtemp(tmpl);  // mode 0700, owned by root
  std::string libexec = dir + "/libexec", helper = libexec + "/helper.txt";
  ASSERT_EQ(mkdir(libexec.c_str(), 0755), 0);
  { std::ofstream(helper) << "from a private dir\n"; }
  SandboxSpec spec;
  spec.mounts.push_back({helper, "/opt/kiln/helper.txt", false, false});
  spec.mounts.push_back({libexec, "/opt/kiln/dir", false, false});
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  LaunchOptions o = TrueInit();
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c",
            "cat /opt/kiln/helper.txt /opt/kiln/dir/helper.txt; echo x >> /opt/kiln/helper.txt || echo ro"};
  o.fds = {{out[1], 1}, {out[1], 2}};
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(spec, o);
  close(out[1]);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  EXPECT_EQ((*sb)->Wait(10'000)->exit_code, 0);
  EXPECT_NE(text.find("from a private dir\nfrom a private dir\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ro"), std::string::npos) << text;
  EXPECT_TRUE((*sb)->Destroy().ok());
  close(o.init_binary_fd);
  unlink(helper.c_str());
  rmdir(libexec.c_str());
  rmdir(dir.c_str());
}

// Killing init ends the sandbox: the OOM killer must pick any other process of the sandbox first. The score
// must not spread to the launching process, whose memory the child shares until it execs.
TEST(LauncherTest, InitIsTheOomKillersLastChoice) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok());
  std::ifstream status("/proc/self/status");
  uint64_t effective = 0;
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapEff:", 0) == 0) effective = std::stoull(line.substr(7), nullptr, 16);
  if (!(effective & (1ull << 24))) GTEST_SKIP() << "no CAP_SYS_RESOURCE here: OOM scores cannot be lowered";
  std::ifstream self("/proc/self/oom_score_adj");
  std::string before;
  self >> before;
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  LaunchOptions o = TrueInit();
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c", "cat /proc/1/oom_score_adj"};
  o.fds = {{out[1], 1}};
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  close(out[1]);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  char buf[64] = {};
  ssize_t n = read(out[0], buf, sizeof buf - 1);
  close(out[0]);
  EXPECT_GT(n, 0);
  EXPECT_EQ(std::string(buf), "-999\n");
  std::ifstream after_file("/proc/self/oom_score_adj");
  std::string after;
  after_file >> after;
  EXPECT_EQ(after, before) << "the launching process's OOM score changed";
  EXPECT_TRUE((*sb)->Destroy().ok());
  close(o.init_binary_fd);
}

// True once every descendant of this process is gone (reaped), within `timeout_ms`.
bool AllDescendantsGone(int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    pid_t pid;
    while ((pid = waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (pid < 0 && errno == ECHILD) return true;
    usleep(10'000);
  }
  return false;
}

// A launcher killed at any point of a launch (kill -9 of `kiln run` 0 to 50 ms after it starts) must not
// strand a half-launched child waiting for a "go" that never comes: it notices the launcher's death and
// exits, or, once released, dies with it. This process is made a subreaper so that such children are ours
// to count.
TEST(LauncherTest, ALauncherKilledMidLaunchStrandsNothing) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  for (int i = 0; i < 20; ++i) {
    pid_t launcher = fork();
    ASSERT_GE(launcher, 0);
    if (launcher == 0) {
      Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
      if (!backend.ok()) _exit(1);
      LaunchOptions o = TrueInit();
      o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
      o.argv = {"sh", "-c", "sleep 30"};
      o.die_with_parent = true;
      Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
      pause();
      _exit(0);
    }
    usleep(static_cast<useconds_t>(i) * 2'500);
    kill(launcher, SIGKILL);
    EXPECT_TRUE(AllDescendantsGone(5'000))
        << "a process outlived its launcher killed after " << i * 2.5 << " ms";
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(LauncherTest, TooManyFdsAreRefused) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok());
  LaunchOptions o = TrueInit();
  for (int i = 0; i < 65; ++i) o.fds.push_back({STDERR_FILENO, 3 + i});
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  EXPECT_EQ(sb.status().code(), Code::kInvalidArgument);
  EXPECT_NE(sb.status().message().find("fds"), std::string::npos) << sb.status().message();
  close(o.init_binary_fd);
}

}  // namespace
}  // namespace kiln::sandbox
