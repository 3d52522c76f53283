#include "testing/host_python_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "kiln/base/clock.h"

namespace kiln::agent::testing {
namespace {

namespace fs = std::filesystem;

std::string FindPython() {
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string candidate = p.substr(start, end - start) + "/python3";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Reads both pipes until EOF or the deadline; returns false on timeout.
bool Drain(int out_fd, int err_fd, int64_t deadline_ms, Execution* e) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&e->stdout_data, &e->stderr_data};
  int open_fds = 2;
  while (open_fds > 0) {
    const int64_t left = deadline_ms - MonotonicMillis();
    if (left <= 0) return false;
    if (::poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  return true;
}

}  // namespace

std::string RepoPath(const std::string& rel) {
  return std::string(KILN_SOURCE_DIR) + "/" + rel;
}

HostPythonExecutor::HostPythonExecutor(std::string python)
    : python_(python.empty() ? FindPython() : std::move(python)) {}

Result<Execution> HostPythonExecutor::Execute(const ExecRequest& request) {
  if (request.language != "python") return InvalidArgument("host executor: python only");
  if (python_.empty()) return Unavailable("host executor: no python3 found");
  std::string tmpl = (fs::temp_directory_path() / "kiln_host_exec_XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus("mkdtemp", errno);
  const std::string dir = tmpl;
  std::ofstream(dir + "/main.py") << request.code;
  std::ofstream(dir + "/stdin.txt") << request.stdin_data;
  for (const auto& [rel, content] : request.files) std::ofstream(dir + "/" + rel) << content;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    return ErrnoStatus("pipe2", errno);
  const std::string stdin_path = dir + "/stdin.txt";
  const char* argv[] = {python_.c_str(), "main.py", nullptr};
  const int64_t start = MonotonicMillis();
  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", errno);
  if (pid == 0) {
    ::setpgid(0, 0);
    const int in = ::open(stdin_path.c_str(), O_RDONLY);
    if (::chdir(dir.c_str()) != 0 || in < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  Execution e;
  const int64_t timeout = request.timeout_ms > 0 ? request.timeout_ms : 30'000;
  e.timed_out = !Drain(out_pipe[0], err_pipe[0], start + timeout, &e);
  if (e.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  e.duration_ms = MonotonicMillis() - start;
  if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
    e.exit_code = 128 + e.signal;
  } else {
    e.exit_code = WEXITSTATUS(status);
  }
  e.sandbox_id = "host";
  std::error_code ec;
  fs::remove_all(dir, ec);
  return e;
}

}  // namespace kiln::agent::testing
