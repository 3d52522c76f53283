// `kiln repl` and `kiln notebook run` own their sandbox: when it dies they say so at once, with the cause
// (issue 12: the REPL said nothing when envd was OOM-killed). Drives the real kiln binary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/base/clock.h"

extern char** environ;

namespace {

// A running `kiln ARGS...` with its stdin held open (a pipe) and its stderr captured.
class Kiln {
 public:
  explicit Kiln(std::vector<std::string> args) {
    int in[2], err[2];
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    args.insert(args.begin(), KILN_BINARY);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(::posix_spawn(&pid_, KILN_BINARY, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(err[1]);
    stdin_ = in[1];
    stderr_ = err[0];
  }
  ~Kiln() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(stdin_);
    ::close(stderr_);
  }
  // Reads stderr until `needle` shows up or `timeout_ms` passes; the text so far.
  std::string StderrUntil(const std::string& needle, int timeout_ms) {
    const int64_t deadline = kiln::MonotonicMillis() + timeout_ms;
    while (err_.find(needle) == std::string::npos) {
      pollfd p{stderr_, POLLIN, 0};
      int left = static_cast<int>(deadline - kiln::MonotonicMillis());
      if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
      char buf[4096];
      ssize_t n = ::read(stderr_, buf, sizeof buf);
      if (n <= 0) break;
      err_.append(buf, static_cast<size_t>(n));
    }
    return err_;
  }
  // The exit code, waiting up to `timeout_ms`; -1 if it is still running.
  int Exit(int timeout_ms) {
    const int64_t deadline = kiln::MonotonicMillis() + timeout_ms;
    int status = 0;
    while (kiln::MonotonicMillis() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(20'000);
    }
    return -1;
  }
  // The kiln-envd this kiln started (its child), or -1.
  pid_t EnvdChild() const {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::ifstream stat(e.path() / "stat");
      std::string pid, comm, state;
      pid_t ppid = 0;
      if (stat >> pid >> comm >> state >> ppid && ppid == pid_ && comm == "(kiln-envd)")
        return std::stoi(pid);
    }
    return -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1, stderr_ = -1;
  bool exited_ = false;
  std::string err_;
};

TEST(SandboxDeathCli, ReplSaysAtOnceWhenTheLifetimeEnds) {
  Kiln repl({"repl", "--lifetime", "2"});
  const int64_t start = kiln::MonotonicMillis();
  std::string err = repl.StderrUntil("died:", 15'000);
  EXPECT_NE(err.find("died: its lifetime ended"), std::string::npos) << err;
  EXPECT_LT(kiln::MonotonicMillis() - start, 6'000) << "not at once";
  EXPECT_EQ(repl.Exit(5'000), 125);
}

TEST(SandboxDeathCli, ReplAndNotebookSayWhenEnvdIsKilled) {
  Kiln repl({"repl"});
  pid_t envd = -1;
  for (int i = 0; i < 250 && envd < 0; ++i, ::usleep(20'000)) envd = repl.EnvdChild();
  ASSERT_GT(envd, 0);
  ::usleep(500'000);  // the session is up
  ASSERT_EQ(::kill(envd, SIGKILL), 0);
  std::string err = repl.StderrUntil("died:", 5'000);
  EXPECT_NE(err.find("died: its first process (kiln-envd) exited or was killed"), std::string::npos) << err;
  EXPECT_EQ(repl.Exit(5'000), 125);

  const std::string nb = "/tmp/kiln-death-" + std::to_string(::getpid()) + ".ipynb";
  const std::string cell = R"nb({"cell_type":"code","metadata":{},"outputs":[],"execution_count":null,)nb"
                           R"nb("source":"import time\ntime.sleep(30)"})nb";
  std::ofstream(nb) << R"nb({"nbformat":4,"nbformat_minor":5,"metadata":{},"cells":[)nb" << cell << "]}";
  Kiln notebook({"notebook", "run", nb, "-o", nb + ".out"});
  envd = -1;
  for (int i = 0; i < 250 && envd < 0; ++i, ::usleep(20'000)) envd = notebook.EnvdChild();
  ASSERT_GT(envd, 0);
  ::usleep(2'000'000);  // the cell is running
  ASSERT_EQ(::kill(envd, SIGKILL), 0);
  err = notebook.StderrUntil("died:", 10'000);
  EXPECT_NE(err.find("the sandbox"), std::string::npos) << err;
  EXPECT_NE(err.find("died: its first process (kiln-envd) exited or was killed"), std::string::npos) << err;
  EXPECT_EQ(notebook.Exit(5'000), 125);
  std::filesystem::remove(nb);
  std::filesystem::remove(nb + ".out");
}

}  // namespace
