// kiln-envd: the agent that is PID 1 of every sandbox. See include/kiln/envd/cli.h for the command line.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/log.h"
#include "kiln/envd/cli.h"
#include "kiln/envd/event_log.h"
#include "kiln/envd/exec_mode.h"
#include "kiln/envd/reaper.h"
#include "kiln/envd/server.h"
#include "kiln/envd/sudo_socket.h"
#include "kiln/protocol/http_server.h"

namespace kiln::envd {
namespace {

// A sandbox may start PID 1 with fds 0-2 closed; later opens would then land there and be mistaken for
// stdio by spawned programs.
void EnsureStdio() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) continue;
    int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0 && null_fd != fd) {
      ::dup2(null_fd, fd);
      ::close(null_fd);
    }
  }
}

int RunServe(ServeArgs& args) {
  UniqueFd listen_fd;
  if (args.listen_fd >= 0) {
    listen_fd.reset(args.listen_fd);
  } else {
    auto fd = http::ListenUnix(args.listen_path);
    if (!fd.ok()) {
      std::fprintf(stderr, "kiln-envd: %s\n", fd.status().ToString().c_str());
      return 1;
    }
    listen_fd = std::move(fd).value();
  }
  ::signal(SIGPIPE, SIG_IGN);
  // The sandbox's RLIMIT_FSIZE applies to envd too: an upload past it must fail with EFBIG, not kill PID 1
  // (and the sandbox with it) by SIGXFSZ. Children get default handlers back before exec.
  ::signal(SIGXFSZ, SIG_IGN);
  // Lower envd's own OOM score where permitted (root in the initial namespace); in a sandbox this fails and
  // children are raised above envd instead (spawn.cc).
  if (FILE* f = std::fopen("/proc/self/oom_score_adj", "w")) {
    std::fputs("-1000", f);
    std::fclose(f);
  }
  if (::getpid() != 1) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);  // orphans come to us as to PID 1
  // Both live until the process exits: the reaper thread cannot be stopped (see reaper.h).
  auto* table = new ProcessTable(args.config.max_buffered_output_bytes);
  auto* reaper = new Reaper([table](pid_t pid, int status) { table->OnExit(pid, status); });
  table->set_reaper(reaper);
  // sudo (sudo_socket.h) only as PID 1 of a sandbox and root there: elsewhere there is no pid namespace
  // of our own to scope the socket to.
  if (::getpid() == 1 && ::geteuid() == 0) {
    if (Status sudo = StartSudoServer(&args.config, table); !sudo.ok())
      std::fprintf(stderr, "kiln-envd: sudo is unavailable: %s\n", sudo.ToString().c_str());
  }
  auto server = EnvdServer::Create(args.config, table);
  if (!server.ok()) {
    std::fprintf(stderr, "kiln-envd: %s\n", server.status().ToString().c_str());
    return 1;
  }
  SandboxEvents().Add("info", "envd started", {{"pid", std::to_string(::getpid())}});
  Status served = (*server)->Serve(std::move(listen_fd));
  if (!served.ok()) std::fprintf(stderr, "kiln-envd: serve: %s\n", served.ToString().c_str());
  return served.ok() ? 0 : 1;
}

// `--args-fd N`: more arguments, NUL-separated, read from fd N (then closed), in place of the two words.
// The host passes secrets this way (the access token, the sandbox's environment variables): a command line
// is readable by every user of the host in /proc/PID/cmdline, and by the sandbox's own code in /proc/1.
kiln::Status ExpandArgsFd(std::vector<std::string>& args) {
  auto at = std::find(args.begin(), args.end(), "--args-fd");
  if (at == args.end()) return kiln::Status::Ok();
  if (at + 1 == args.end()) return kiln::InvalidArgument("--args-fd needs a descriptor number");
  int fd = std::atoi((at + 1)->c_str());
  std::string bytes;
  char buf[65536];
  for (off_t offset = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return kiln::ErrnoStatus("reading --args-fd " + *(at + 1), errno);
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  ::close(fd);
  std::vector<std::string> extra;
  for (size_t start = 0; start < bytes.size();) {
    size_t end = bytes.find('\0', start);
    if (end == std::string::npos) end = bytes.size();
    extra.emplace_back(bytes, start, end - start);
    start = end + 1;
  }
  at = args.erase(at, at + 2);
  args.insert(at, extra.begin(), extra.end());
  return kiln::Status::Ok();
}

}  // namespace
}  // namespace kiln::envd

#if defined(__SANITIZE_ADDRESS__)
// Under scripts/test.sh --sanitize: this runs inside a sandbox, where LeakSanitizer cannot stop the world
// (it needs ptrace, which the sandbox's seccomp filter denies); memory errors are still reported.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0";
}
#endif

int main(int argc, char** argv) {
  using namespace kiln::envd;
  std::vector<std::string> args(argv + 1, argv + argc);
  // Bound at /opt/kiln/bin/sudo in every sandbox, this binary is also `sudo`.
  if (argc > 0) {
    std::string_view name = argv[0];
    if (name.substr(name.rfind('/') + 1) == "sudo") return RunSudoShim(args);
  }
  if (kiln::Status expanded = ExpandArgsFd(args); !expanded.ok()) {
    std::fprintf(stderr, "kiln-envd: %s\n", expanded.message().c_str());
    return 2;
  }
  auto cl = ParseCommandLine(args);
  // The inherited listening socket must never reach user programs: mark it close-on-exec first thing.
  if (cl.ok() && cl->mode == CommandLine::Mode::kServe && cl->serve.listen_fd >= 0)
    ::fcntl(cl->serve.listen_fd, F_SETFD, FD_CLOEXEC);
  if (!cl.ok()) {
    std::fprintf(stderr, "kiln-envd: %s\n%s", cl.status().message().c_str(), kUsage);
    return 2;
  }
  EnsureStdio();
  if (cl->mode == CommandLine::Mode::kExec) return RunExec(cl->exec);
  return RunServe(cl->serve);
}
