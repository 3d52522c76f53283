#include "kernel_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "kiln/base/fd.h"

extern char** environ;

namespace kiln::kernel_bridge {

Result<std::vector<int>> ReserveLoopbackPorts(size_t count) {
  // All sockets stay open until every port is known, so the kernel never gets the same port twice.
  std::vector<UniqueFd> held;
  std::vector<int> ports;
  for (size_t i = 0; i < count; ++i) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoStatus("socket(AF_INET)", errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0)
      return ErrnoStatus("bind 127.0.0.1:0 (is the loopback interface up?)", errno);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return ErrnoStatus("getsockname", errno);
    ports.push_back(ntohs(addr.sin_port));
    held.push_back(std::move(fd));
  }
  return ports;
}

Json ConnectionInfo(const std::vector<int>& ports, const std::string& key, const std::string& kernel_name) {
  return {{"transport", "tcp"},
          {"ip", "127.0.0.1"},
          {"shell_port", ports.at(kShell)},
          {"iopub_port", ports.at(kIopub)},
          {"stdin_port", ports.at(kStdin)},
          {"control_port", ports.at(kControl)},
          {"hb_port", ports.at(kHeartbeat)},
          {"key", key},
          {"signature_scheme", "hmac-sha256"},
          {"kernel_name", kernel_name}};
}

Result<std::string> MakePrivateDir(const std::string& temp_root) {
  std::string root = temp_root;
  if (root.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    root = tmpdir && *tmpdir ? tmpdir : "/tmp";
  }
  std::string tmpl = root + "/kiln-kernel-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus("mkdtemp " + tmpl, errno);
  return tmpl;
}

Status WritePrivateFile(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus("create " + path, errno);
  std::string_view rest = content;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write " + path, errno);
    rest.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

namespace {

// The child's side: only async-signal-safe calls (the parent may have ZeroMQ threads). Reports the errno
// of a failed step through `error_fd` (close-on-exec, so a successful exec closes it silently).
[[noreturn]] void ExecKernel(char* const* argv, char* const* envp, pid_t parent, int error_fd) {
  int err = 0;
  if (::setpgid(0, 0) != 0 || ::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) err = errno;
  if (err == 0 && ::getppid() != parent) ::_exit(127);  // the bridge died before prctl took effect
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGINT, SIG_DFL);
  if (err == 0) {
    ::execvpe(argv[0], argv, envp);
    err = errno;
  }
  (void)!::write(error_fd, &err, sizeof err);
  ::_exit(127);
}

}  // namespace

Result<pid_t> SpawnKernel(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& env) {
  if (argv.empty()) return InvalidArgument("the kernelspec's argv is empty");
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> c_argv, c_env;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env_strings) c_env.push_back(const_cast<char*>(e.c_str()));
  c_argv.push_back(nullptr);
  c_env.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  UniqueFd error_read(fds[0]), error_write(fds[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork", errno);
  if (pid == 0) ExecKernel(c_argv.data(), c_env.data(), parent, error_write.get());
  error_write.reset();
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof child_errno) {
    ::waitpid(pid, nullptr, 0);
    return ErrnoStatus("execute the kernel '" + argv[0] + "'", child_errno);
  }
  return pid;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) return std::string("signal: ") + ::strsignal(WTERMSIG(wait_status));
  return "exit status " + std::to_string(WEXITSTATUS(wait_status));
}

}  // namespace kiln::kernel_bridge
