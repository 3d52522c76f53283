// kiln-kernel-bridge --language LANGUAGE
//
// A kiln-envd code-context runner (runner_channel.h) for any language with a Jupyter kernelspec in the
// sandbox: it starts that kernel (kernel.h) and turns each execute request into an execute_request, its
// iopub messages into /execute items (items.h). SIGINT from envd (timeout, gone client) interrupts the
// running cell. It exits 0 when envd closes the channel and 1 when the kernel dies, so envd reports
// ContextDied and starts a fresh bridge on the next execution.
//
// Dynamically linked (libzmq, libcrypto): the sandbox root must provide them, which the host's /usr does.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "kiln/kernel_bridge/kernel.h"
#include "kiln/kernel_bridge/runner_channel.h"

namespace kiln::kernel_bridge {
namespace {

constexpr int kRequestFd = 3;
constexpr int kEventFd = 4;

void Note(const std::string& text) {
  std::string line = "kiln-kernel-bridge: " + text + "\n";
  (void)!::write(2, line.data(), line.size());
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

Result<std::unique_ptr<Kernel>> StartKernel(const std::string& language) {
  std::vector<std::string> dirs = KernelSearchDirs(Env("JUPYTER_PATH"), Env("HOME"));
  KILN_ASSIGN_OR_RETURN(KernelSpec spec, FindKernelSpec(language, dirs, HostKernelSpecFs()));
  return Kernel::Start(spec, KernelOptions{});
}

std::vector<std::pair<std::string, std::string>> EnvVars(const Json& request) {
  std::vector<std::pair<std::string, std::string>> out;
  const Json& env = request.value("env_vars", Json::object());
  if (env.is_object())
    for (const auto& [k, v] : env.items())
      if (v.is_string()) out.emplace_back(k, v.get<std::string>());
  return out;
}

// Runs one request. Returns false when the kernel died (the bridge must exit without "done").
bool RunRequest(const Json& request, const std::string& language, std::unique_ptr<Kernel>& kernel,
                RunnerChannel& channel) {
  std::string token = request.value("token", "");
  if (!kernel) {  // start-up failed before (or the kernel was installed since): try again
    auto started = StartKernel(language);
    if (!started.ok()) {
      (void)channel.SendEvent({{"type", "error"},
                               {"name", "ContextStartError"},
                               {"value", started.status().ToString()},
                               {"traceback", ""}});
      (void)channel.FinishCell(token);
      return true;
    }
    kernel = std::move(started).value();
  }
  Status ran = kernel->Execute(request.value("code", ""), EnvVars(request),
                               [&channel](Json item) { (void)channel.SendEvent(item); });
  if (!ran.ok()) {
    Note(ran.message());
    return false;
  }
  (void)channel.FinishCell(token);
  return true;
}

int Serve(const std::string& language) {
  RunnerChannel channel(kRequestFd, kEventFd);
  auto started = StartKernel(language);
  std::unique_ptr<Kernel> kernel;
  if (started.ok()) kernel = std::move(started).value();  // else: reported on the first request
  for (;;) {
    pollfd fds[2] = {{kRequestFd, POLLIN, 0}, {kernel ? kernel->signal_fd() : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return 1;
    if (kernel && fds[1].revents) {
      Status alive = kernel->HandleSignals(false);
      if (!alive.ok()) {
        Note(alive.message());
        return 1;
      }
    }
    if (!fds[0].revents) continue;
    Result<Json> request = channel.ReadRequest();
    if (!request.ok()) return request.status().code() == Code::kUnavailable ? 0 : 1;
    if (!RunRequest(*request, language, kernel, channel)) return 1;
  }
}

}  // namespace
}  // namespace kiln::kernel_bridge

#if defined(__SANITIZE_ADDRESS__)
// Under scripts/test.sh --sanitize: this runs inside a sandbox, where LeakSanitizer cannot stop the world
// (it needs ptrace, which the sandbox's seccomp filter denies); memory errors are still reported.
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0";
}
#endif

int main(int argc, char** argv) {
  using namespace kiln::kernel_bridge;
  if (argc != 3 || std::strcmp(argv[1], "--language") != 0) {
    std::fprintf(stderr, "usage: kiln-kernel-bridge --language LANGUAGE  (run by kiln-envd, fds 3 and 4)\n");
    return 2;
  }
  kiln::Status blocked = BlockKernelSignals();
  if (!blocked.ok()) {
    std::fprintf(stderr, "kiln-kernel-bridge: %s\n", blocked.ToString().c_str());
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  // The kernel must not inherit the channel: envd learns of the bridge's death from these fds closing.
  for (int fd : {3, 4})
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      std::fprintf(stderr, "kiln-kernel-bridge: fd %d is not open: run by kiln-envd only\n", fd);
      return 2;
    }
  return Serve(argv[2]);
}
