#include "kiln/envd/exec_mode.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/envd/paths.h"
#include "kiln/envd/reaper.h"
#include "kiln/envd/spawn.h"
#include "kiln/envd/users.h"

namespace kiln::envd {
namespace {

constexpr int kSetupFailed = 125;
constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

void WriteStderr(const std::string& line) {
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

void WriteStatusLine(int fd, int code, int signal) {
  if (fd < 0) return;
  std::string line = "exit " + std::to_string(code) + " " + std::to_string(signal) + "\n";
  [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
}

struct Launch {
  SpawnSpec spec;
  UniqueFd cwd;
};

// Who and where: the user from /etc/passwd (when --user is given), the env and the working directory.
Result<Launch> PrepareLaunch(const ExecArgs& args) {
  KILN_ASSIGN_OR_RETURN(RootFs root, RootFs::Open("/"));
  UserDb users = UserDb::Load(root);
  UserInfo user{users.UserName(::geteuid()), ::geteuid(), ::getegid(), "/", ""};
  if (auto self = users.FindUid(::geteuid())) user = *self;
  Launch launch;
  if (args.user) {
    auto found = users.FindUser(*args.user);
    if (!found) return InvalidArgument("unknown user '" + *args.user + "'");
    user = *found;
    launch.spec.identity = SpawnIdentity{user.uid, user.gid};
  }
  std::string cwd = args.cwd.value_or(user.home);
  int fd = ::open(cwd.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (args.cwd) return ErrnoStatus("cannot change to directory '" + cwd + "'", errno);
    fd = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);  // a missing home is not worth failing for
  }
  launch.cwd.reset(fd);
  launch.spec.cwd_fd = launch.cwd.get();
  launch.spec.program = args.argv[0];
  launch.spec.argv = args.argv;
  launch.spec.env = BuildEnv(user.home, user.name, {}, args.env);
  return launch;
}

int ExitCodeOf(int wait_status, int* signal) {
  *signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  return *signal ? 128 + *signal : WEXITSTATUS(wait_status);
}

// Forwards signals and reaps until `child` exits; returns its wait status.
int Supervise(pid_t child, int signal_fd) {
  std::optional<int> child_status;
  while (!child_status) {
    signalfd_siginfo info;
    ssize_t n = ::read(signal_fd, &info, sizeof info);
    if (n != static_cast<ssize_t>(sizeof info)) {
      if (n < 0 && errno == EINTR) continue;
      break;  // cannot happen with a valid signalfd; fall back to a blocking wait below
    }
    if (info.ssi_signo == SIGCHLD) {
      ReapChildren(/*block=*/false, [&](pid_t pid, int status) {
        if (pid == child) child_status = status;
      });
    } else if (::kill(-child, static_cast<int>(info.ssi_signo)) != 0) {
      ::kill(child, static_cast<int>(info.ssi_signo));
    }
  }
  while (!child_status) {
    ReapChildren(/*block=*/true, [&](pid_t pid, int status) {
      if (pid == child) child_status = status;
    });
  }
  return *child_status;
}

}  // namespace

int RunExec(const ExecArgs& args) {
  if (args.status_fd >= 0) ::fcntl(args.status_fd, F_SETFD, FD_CLOEXEC);
  // Orphans come to us when we are not PID 1 (tests); as PID 1 they do anyway.
  if (::getpid() != 1) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  for (int sig : kForwardedSignals) sigaddset(&mask, sig);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);  // before fork: no SIGCHLD can be missed
  UniqueFd signal_fd(::signalfd(-1, &mask, SFD_CLOEXEC));

  auto launch = PrepareLaunch(args);
  if (!launch.ok()) {
    WriteStderr("kiln-envd: " + launch.status().message() + "\n");
    WriteStatusLine(args.status_fd, kSetupFailed, 0);
    return kSetupFailed;
  }
  auto child = ForkChild(launch->spec);
  if (!child.ok()) {
    WriteStderr("kiln-envd: cannot execute " + args.argv[0] + ": " + child.status().message() + "\n");
    WriteStatusLine(args.status_fd, kSetupFailed, 0);
    return kSetupFailed;
  }
  int exec_errno = 0;
  Status exec = AwaitExec(*child, launch->spec, &exec_errno);
  if (!exec.ok()) {
    ::waitpid(child->pid, nullptr, 0);  // the failed child exits 127 at once
    bool at_execve =
        exec.message().rfind("execve ", 0) == 0;  // else an earlier step (setresuid, chdir) failed
    std::string reason = at_execve ? std::strerror(exec_errno) : exec.message();
    WriteStderr("kiln-envd: cannot execute " + args.argv[0] + ": " + reason + "\n");
    int code = exec_errno == EACCES ? 126 : 127;
    WriteStatusLine(args.status_fd, code, 0);
    return code;
  }
  int signal = 0;
  int code = ExitCodeOf(Supervise(child->pid, signal_fd.get()), &signal);
  WriteStatusLine(args.status_fd, code, signal);
  return code;
}

}  // namespace kiln::envd
