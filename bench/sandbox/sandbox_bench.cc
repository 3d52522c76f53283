// Sandbox start-up benchmarks, side by side with bubblewrap (issue: Foundation, figures 1-4).
//
//   build/bin/kiln_sandbox_bench [--iterations N] [--cycle-seconds S]
//
// Prints p50/p99 per figure and the kiln/bwrap ratio. Run as root on an idle machine.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kiln/base/clock.h"
#include "kiln/protocol/connect.h"
#include "kiln/protocol/http_client.h"
#include "kiln/runtime/run.h"
#include "kiln/runtime/runtime.h"

extern char** environ;

namespace kiln::bench {
namespace {

struct Stats {
  double p50 = 0, p99 = 0;
};

Stats Measure(int iterations, const std::function<bool()>& once) {
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    int64_t t0 = MonotonicNanos();
    if (!once()) {
      std::fprintf(stderr, "iteration %d failed\n", i);
      std::exit(1);
    }
    ms.push_back((MonotonicNanos() - t0) / 1e6);
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

// bubblewrap with the isolation Kiln applies: every namespace, uid 1000, read-only /usr, private /proc,
// /dev and tmpfs home and /tmp, no capabilities, a new session, killed with its parent.
std::vector<std::string> BwrapArgv(const std::vector<std::string>& command) {
  std::vector<std::string> a = {"bwrap",
                                "--unshare-all",
                                "--uid",
                                "1000",
                                "--gid",
                                "1000",
                                "--die-with-parent",
                                "--new-session",
                                "--cap-drop",
                                "ALL",
                                "--hostname",
                                "sandbox",
                                "--ro-bind",
                                "/usr",
                                "/usr",
                                "--symlink",
                                "usr/bin",
                                "/bin",
                                "--symlink",
                                "usr/lib",
                                "/lib",
                                "--symlink",
                                "usr/lib64",
                                "/lib64",
                                "--symlink",
                                "usr/sbin",
                                "/sbin",
                                "--ro-bind",
                                "/etc/ld.so.cache",
                                "/etc/ld.so.cache",
                                "--ro-bind",
                                "/etc/alternatives",
                                "/etc/alternatives",
                                "--proc",
                                "/proc",
                                "--dev",
                                "/dev",
                                "--tmpfs",
                                "/tmp",
                                "--tmpfs",
                                "/home/user",
                                "--chdir",
                                "/home/user",
                                "--setenv",
                                "HOME",
                                "/home/user"};
  a.insert(a.end(), command.begin(), command.end());
  return a;
}

bool SpawnAndWait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool KilnRun(const std::vector<std::string>& argv) {
  runtime::RunRequest req;
  req.argv = argv;
  Result<runtime::RunResult> r = runtime::Run(req);
  return r.ok() && r->exit_code == 0;
}

void Row(const char* name, Stats kiln, Stats peer) {
  std::printf(
      "%-38s kiln p50 %7.2f ms p99 %7.2f ms | bwrap p50 %7.2f ms p99 %7.2f ms | ratio p50 %.2f p99 %.2f\n",
      name, kiln.p50, kiln.p99, peer.p50, peer.p99, kiln.p50 / peer.p50, kiln.p99 / peer.p99);
}

// Process Start of `argv` through envd's socket until the end of the stream.
bool StartProcess(const std::string& socket, const std::vector<std::string>& argv) {
  std::string json = "{\"process\":{\"cmd\":\"" + argv[0] + "\",\"args\":[";
  for (size_t i = 1; i < argv.size(); ++i) json += (i > 1 ? ",\"" : "\"") + argv[i] + "\"";
  json += "]}}";
  http::Headers h;
  h.Set("Content-Type", "application/connect+json");
  h.Set("Connect-Protocol-Version", "1");
  http::Client client = http::Client::Unix(socket);
  Result<http::Response> r =
      client.Do("POST", "/process.Process/Start", h, connect::EncodeEnvelope(0, json), 10000);
  return r.ok() && r->status == 200 && r->body.find("\"end\"") != std::string::npos;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  using namespace kiln;
  using namespace kiln::bench;
  int iterations = 200;
  double cycle_seconds = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--iterations")) iterations = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cycle-seconds")) cycle_seconds = std::atof(argv[i + 1]);
  }
  const std::vector<std::string> kTrue = {"/bin/true"}, kPython = {"python3", "-c", "print(1)"};
  KilnRun(kTrue);  // warm-up: probes, seccomp compilation
  std::printf("1. fresh sandbox, one program, to exit (%d runs each)\n", iterations);
  Row("   /bin/true", Measure(iterations, [&] { return KilnRun(kTrue); }),
      Measure(iterations, [&] { return SpawnAndWait(BwrapArgv(kTrue)); }));
  Row("   python3 -c 'print(1)'", Measure(iterations, [&] { return KilnRun(kPython); }),
      Measure(iterations, [&] { return SpawnAndWait(BwrapArgv(kPython)); }));

  auto rt = runtime::Runtime::Create();
  if (!rt.ok()) {
    std::fprintf(stderr, "%s\n", rt.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> to_kill;
  Stats ready = Measure(iterations, [&] {
    auto info = (*rt)->CreateSandbox({});
    if (!info.ok()) return false;
    http::Client c = http::Client::Unix(info->socket_path);
    auto r = c.Do("GET", "/health", {}, {}, 5000);
    to_kill.push_back(info->id);
    return r.ok() && r->status == 204;
  });
  for (const auto& id : to_kill) (void)(*rt)->Kill(id);
  std::printf("2. create sandbox -> envd /health answered: p50 %.2f ms p99 %.2f ms (goal p50 <= 10 ms)\n",
              ready.p50, ready.p99);

  auto info = (*rt)->CreateSandbox({});
  Stats start = Measure(iterations * 5, [&] { return StartProcess(info->socket_path, kTrue); });
  (void)(*rt)->Kill(info->id);
  std::printf(
      "3. ready sandbox, process Start of true -> end event: p50 %.3f ms p99 %.3f ms (goal p50 <= 2 ms)\n",
      start.p50, start.p99);

  std::atomic<int> cycles{0}, failures{0};
  int64_t deadline = MonotonicMillis() + static_cast<int64_t>(cycle_seconds * 1000);
  std::vector<std::thread> workers;
  unsigned threads = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (MonotonicMillis() < deadline) {
        auto sb = (*rt)->CreateSandbox({});
        bool ok = sb.ok() && StartProcess(sb->socket_path, kPython);
        if (sb.ok()) (void)(*rt)->Kill(sb->id);
        ok ? ++cycles : ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  std::printf(
      "4. create -> run python3 -c 'print(1)' -> kill, %u threads, %.0f s: %.1f cycles/s (%d failures; goal "
      ">= 100/s)\n",
      threads, cycle_seconds, cycles / cycle_seconds, failures.load());
  return failures ? 1 : 0;
}
