// Sandbox start-up benchmarks, side by side with bubblewrap (issue: Foundation, figures 1-4).
//
//   build/bin/kiln_sandbox_bench [--iterations N] [--cycle-seconds S]
//   build/bin/kiln_sandbox_bench --limits-breakdown [--iterations N]
//   build/bin/kiln_sandbox_bench --writable-root [--iterations N]
//     (kiln run /bin/true with the writable root and with spec.writable_root=false, interleaved)
//   build/bin/kiln_sandbox_bench --network [--iterations N]
//     (kiln run /bin/true with network on and off, interleaved)
//   build/bin/kiln_sandbox_bench --cycles-only [--cycle-true] [--cycle-seconds S]
//     (figure 4 alone, e.g. under perf; --cycle-true runs /bin/true instead of python to show Kiln's share)
//
// Prints p50/p99 per figure and the kiln/bwrap ratio. Run as root on an idle machine. --limits-breakdown
// instead runs python3 -c 'print(1)' with each cgroup limit switched off in turn (round robin, so that
// machine noise hits every variant alike) to show what each limit costs.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
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

bool KilnRun(const std::vector<std::string>& argv, const sandbox::Limits& limits = {},
             bool writable_root = true, bool network = false) {
  runtime::RunRequest req;
  req.argv = argv;
  req.spec.limits = limits;
  req.spec.writable_root = writable_root;
  req.spec.network = network;
  Result<runtime::RunResult> r = runtime::Run(req);
  return r.ok() && r->exit_code == 0;
}

void Row(const char* name, Stats kiln, Stats peer) {
  std::printf(
      "%-38s kiln p50 %7.2f ms p99 %7.2f ms | bwrap p50 %7.2f ms p99 %7.2f ms | ratio p50 %.2f p99 %.2f\n",
      name, kiln.p50, kiln.p99, peer.p50, peer.p99, kiln.p50 / peer.p50, kiln.p99 / peer.p99);
}

// Process Start of `argv` through envd's socket until the end of the stream. A kept client reuses its
// connection (as the E2B SDKs' HTTP agents do); a fresh one pays for connect and envd's connection thread.
bool StartProcess(http::Client& client, const std::vector<std::string>& argv) {
  std::string json = "{\"process\":{\"cmd\":\"" + argv[0] + "\",\"args\":[";
  for (size_t i = 1; i < argv.size(); ++i) json += (i > 1 ? ",\"" : "\"") + argv[i] + "\"";
  json += "]}}";
  http::Headers h;
  h.Set("Content-Type", "application/connect+json");
  h.Set("Connect-Protocol-Version", "1");
  Result<http::Response> r =
      client.Do("POST", "/process.Process/Start", h, connect::EncodeEnvelope(0, json), 10000);
  return r.ok() && r->status == 200 && r->body.find("\"end\"") != std::string::npos;
}

bool StartProcess(const std::string& socket, const std::vector<std::string>& argv) {
  http::Client client = http::Client::Unix(socket);
  return StartProcess(client, argv);
}

void LimitsBreakdown(int iterations, const std::vector<std::string>& argv) {
  struct Variant {
    const char* name;
    sandbox::Limits limits;
    std::vector<double> ms;
  };
  std::vector<Variant> variants(5);
  variants[0].name = "all limits (default)";
  variants[1].name = "no memory limit";
  variants[1].limits.memory_bytes = 0;
  variants[2].name = "no cpu limit";
  variants[2].limits.cpus = 0;
  variants[3].name = "no pids limit";
  variants[3].limits.pids = 0;
  variants[4].name = "no cgroup limits";
  variants[4].limits.memory_bytes = variants[4].limits.pids = 0;
  variants[4].limits.cpus = 0;
  for (int i = 0; i < iterations; ++i) {
    for (auto& v : variants) {
      int64_t t0 = MonotonicNanos();
      if (!KilnRun(argv, v.limits)) std::fprintf(stderr, "%s: run failed\n", v.name);
      v.ms.push_back((MonotonicNanos() - t0) / 1e6);
    }
  }
  for (auto& v : variants) {
    std::sort(v.ms.begin(), v.ms.end());
    std::printf("   %-24s p50 %7.2f ms p99 %7.2f ms\n", v.name, v.ms[v.ms.size() / 2],
                v.ms[std::min(v.ms.size() - 1, v.ms.size() * 99 / 100)]);
  }
}

// The start-up cost of the writable root (root tmpfs as disk, /usr as an overlay over an idmapped copy),
// against the read-only root, interleaved so both see the same load.
void WritableRootCost(int iterations) {
  std::vector<double> layered, readonly;
  for (int i = 0; i < iterations; ++i) {
    for (bool writable : {true, false}) {
      int64_t t0 = MonotonicNanos();
      if (!KilnRun({"/bin/true"}, {}, writable))
        std::fprintf(stderr, "writable_root=%d: run failed\n", writable);
      (writable ? layered : readonly).push_back((MonotonicNanos() - t0) / 1e6);
    }
  }
  std::sort(layered.begin(), layered.end());
  std::sort(readonly.begin(), readonly.end());
  auto p = [](const std::vector<double>& v, int pct) {
    return v[std::min(v.size() - 1, v.size() * pct / 100)];
  };
  std::printf("kiln run /bin/true, %d runs each\n", iterations);
  std::printf("   writable_root=true  p50 %7.2f ms p99 %7.2f ms\n", p(layered, 50), p(layered, 99));
  std::printf("   writable_root=false p50 %7.2f ms p99 %7.2f ms\n", p(readonly, 50), p(readonly, 99));
  std::printf("   cost of the writable root: p50 %+.2f ms\n", p(layered, 50) - p(readonly, 50));
}

// The start-up cost of the network on request (slirp4netns started and configured, egress routes
// installed) against no network, interleaved so both see the same load.
void NetworkCost(int iterations) {
  std::vector<double> on, off;
  for (int i = 0; i < iterations; ++i) {
    for (bool network : {true, false}) {
      int64_t t0 = MonotonicNanos();
      if (!KilnRun({"/bin/true"}, {}, true, network))
        std::fprintf(stderr, "network=%d: run failed\n", network);
      (network ? on : off).push_back((MonotonicNanos() - t0) / 1e6);
    }
  }
  std::sort(on.begin(), on.end());
  std::sort(off.begin(), off.end());
  auto p = [](const std::vector<double>& v, int pct) {
    return v[std::min(v.size() - 1, v.size() * pct / 100)];
  };
  std::printf("kiln run /bin/true, %d runs each\n", iterations);
  std::printf("   network=true  p50 %7.2f ms p99 %7.2f ms\n", p(on, 50), p(on, 99));
  std::printf("   network=false p50 %7.2f ms p99 %7.2f ms\n", p(off, 50), p(off, 99));
  std::printf("   cost of the network: p50 %+.2f ms\n", p(on, 50) - p(off, 50));
}

// Where the time of a python run goes: launch until python's code runs (the program prints its monotonic
// clock, which the host shares), and from there until the caller has its result (exit and teardown).
struct Phases {
  std::vector<double> to_code, to_result;
};

void AddPhases(Phases& p, int64_t t0, const std::string& printed) {
  int64_t in_code = std::atoll(printed.c_str()), t1 = MonotonicNanos();
  p.to_code.push_back((in_code - t0) / 1e6);
  p.to_result.push_back((t1 - in_code) / 1e6);
}

std::string SpawnCapture(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  std::vector<char*> args;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; rc == 0 && (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fds[0]);
  if (rc == 0) waitpid(pid, nullptr, 0);
  return out;
}

void PrintPhases(const char* name, Phases& p) {
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("   %-6s launch -> python code runs p50 %6.2f ms | python code -> result p50 %6.2f ms\n", name,
              median(p.to_code), median(p.to_result));
}

void PythonPhases(int iterations) {
  const std::vector<std::string> argv = {"python3", "-c", "import time; print(time.monotonic_ns())"};
  Phases kiln, bwrap;
  for (int i = 0; i < iterations; ++i) {
    runtime::RunRequest req;
    req.argv = argv;
    int64_t t0 = MonotonicNanos();
    auto r = runtime::Run(req);
    if (r.ok()) AddPhases(kiln, t0, r->stdout_data);
    t0 = MonotonicNanos();
    AddPhases(bwrap, t0, SpawnCapture(BwrapArgv(argv)));
  }
  PrintPhases("kiln", kiln);
  PrintPhases("bwrap", bwrap);
}

void Figure1(int iterations) {
  const std::vector<std::string> kTrue = {"/bin/true"}, kPython = {"python3", "-c", "print(1)"};
  std::printf("1. fresh sandbox, one program, to exit (%d runs each)\n", iterations);
  Row("   /bin/true", Measure(iterations, [&] { return KilnRun(kTrue); }),
      Measure(iterations, [&] { return SpawnAndWait(BwrapArgv(kTrue)); }));
  Row("   python3 -c 'print(1)'", Measure(iterations, [&] { return KilnRun(kPython); }),
      Measure(iterations, [&] { return SpawnAndWait(BwrapArgv(kPython)); }));
}

void Figures2And3(runtime::Runtime& rt, int iterations) {
  std::vector<std::string> to_kill;
  Stats ready = Measure(iterations, [&] {
    auto info = rt.CreateSandbox({});
    if (!info.ok()) return false;
    http::Client c = http::Client::Unix(info->socket_path);
    auto r = c.Do("GET", "/health", {}, {}, 5000);
    to_kill.push_back(info->id);
    return r.ok() && r->status == 204;
  });
  for (const auto& id : to_kill) (void)rt.Kill(id);
  std::printf("2. create sandbox -> envd /health answered: p50 %.2f ms p99 %.2f ms (goal p50 <= 10 ms)\n",
              ready.p50, ready.p99);

  auto info = rt.CreateSandbox({});
  if (!info.ok()) return;
  http::Client kept = http::Client::Unix(info->socket_path);
  Stats start = Measure(iterations * 5, [&] { return StartProcess(kept, {"/bin/true"}); });
  Stats fresh = Measure(iterations * 5, [&] { return StartProcess(info->socket_path, {"/bin/true"}); });
  (void)rt.Kill(info->id);
  // The floor: the same program started and waited for on the host, with no sandbox and no envd.
  Stats bare = Measure(iterations * 5, [] { return SpawnAndWait({"/bin/true"}); });
  std::printf(
      "3. ready sandbox, process Start of true -> end event: p50 %.3f ms p99 %.3f ms (goal p50 <= 2 ms)\n"
      "   on a fresh connection each time: p50 %.3f ms p99 %.3f ms\n"
      "   peer: posix_spawn + waitpid of /bin/true on the host, no sandbox: p50 %.3f ms p99 %.3f ms "
      "| ratio p50 %.2f\n",
      start.p50, start.p99, fresh.p50, fresh.p99, bare.p50, bare.p99, start.p50 / bare.p50);
}

double CpuMillis(int who) {
  rusage u{};
  getrusage(who, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

// Runs `once` on every core until `seconds` pass; returns {successes, failures}.
std::pair<int, int> RunOnEveryCore(double seconds, const std::function<bool()>& once) {
  std::atomic<int> ok{0}, failed{0};
  int64_t deadline = MonotonicMillis() + static_cast<int64_t>(seconds * 1000);
  std::vector<std::thread> workers;
  unsigned threads = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (MonotonicMillis() < deadline) once() ? ++ok : ++failed;
    });
  }
  for (auto& w : workers) w.join();
  return {ok.load(), failed.load()};
}

// Returns the number of failed cycles. Peers, same threads and duration: bwrap running the program, and
// the program with no sandbox at all (the ceiling: what the program itself costs).
int Figure4(runtime::Runtime& rt, double cycle_seconds, const std::vector<std::string>& program) {
  double self0 = CpuMillis(RUSAGE_SELF), children0 = CpuMillis(RUSAGE_CHILDREN);
  auto [cycles, failures] = RunOnEveryCore(cycle_seconds, [&] {
    auto sb = rt.CreateSandbox({});
    bool ok = sb.ok() && StartProcess(sb->socket_path, program);
    if (sb.ok()) (void)rt.Kill(sb->id);
    return ok;
  });
  double self = CpuMillis(RUSAGE_SELF) - self0, children = CpuMillis(RUSAGE_CHILDREN) - children0;
  std::printf("4. create -> run %s -> kill, %u threads, %.0f s: %.1f cycles/s (%d failures; goal >= 100/s)\n",
              program.size() > 1 ? "python3 -c 'print(1)'" : program[0].c_str(),
              std::max(2u, std::thread::hardware_concurrency()), cycle_seconds, cycles / cycle_seconds,
              failures);
  // CPU per cycle does not depend on what else the machine runs: sandboxes' processes are reaped into
  // RUSAGE_CHILDREN (kernel workers, e.g. network namespace teardown, are not counted).
  int n = std::max(1, cycles);
  std::printf("   CPU per cycle: %.2f ms (host side %.2f ms, in the sandbox %.2f ms)\n",
              (self + children) / n, self / n, children / n);
  auto [bwrap, bwrap_failures] =
      RunOnEveryCore(cycle_seconds, [&] { return SpawnAndWait(BwrapArgv(program)); });
  // The host's PATH may start with wrappers (pyenv shims); take the system's program, as the sandbox does.
  std::vector<std::string> system_program = program;
  if (system_program[0][0] != '/') system_program[0] = "/usr/bin/" + system_program[0];
  children0 = CpuMillis(RUSAGE_CHILDREN);
  auto [bare, bare_failures] = RunOnEveryCore(cycle_seconds, [&] { return SpawnAndWait(system_program); });
  children = CpuMillis(RUSAGE_CHILDREN) - children0;
  std::printf("   peers: bwrap %.1f runs/s; no sandbox at all %.1f runs/s (%.2f ms CPU per run)\n",
              bwrap / cycle_seconds, bare / cycle_seconds, children / std::max(1, bare));
  return failures + bwrap_failures + bare_failures;
}

// For profiling figure 3: Start `true` in one ready sandbox for `seconds` (its socket is printed first).
int StartLoop(runtime::Runtime& rt, double seconds) {
  auto info = rt.CreateSandbox({});
  if (!info.ok()) return 1;
  std::printf("envd socket %s\n", info->socket_path.c_str());
  http::Client kept = http::Client::Unix(info->socket_path);
  std::fflush(stdout);
  std::vector<double> ms;
  for (int64_t deadline = MonotonicMillis() + static_cast<int64_t>(seconds * 1000);
       MonotonicMillis() < deadline;) {
    int64_t t0 = MonotonicNanos();
    if (!StartProcess(kept, {"/bin/true"})) return 1;
    ms.push_back((MonotonicNanos() - t0) / 1e6);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%zu starts, p50 %.3f ms\n", ms.size(), ms[ms.size() / 2]);
  (void)rt.Kill(info->id);
  return 0;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  using namespace kiln;
  using namespace kiln::bench;
  int iterations = 200;
  double cycle_seconds = 30;
  bool breakdown = false, cycles_only = false, writable_root = false, network = false;
  double start_loop_seconds = 0;
  std::vector<std::string> cycle_program = {"python3", "-c", "print(1)"};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--limits-breakdown")) breakdown = true;
    if (!std::strcmp(argv[i], "--cycles-only")) cycles_only = true;
    if (!std::strcmp(argv[i], "--cycle-true")) cycle_program = {"/bin/true"};
    if (!std::strcmp(argv[i], "--writable-root")) writable_root = true;
    if (!std::strcmp(argv[i], "--network")) network = true;
    if (i + 1 == argc) break;
    if (!std::strcmp(argv[i], "--iterations")) iterations = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cycle-seconds")) cycle_seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--start-loop")) start_loop_seconds = std::atof(argv[i + 1]);
  }
  KilnRun({"/bin/true"});  // warm-up: probes, seccomp compilation
  if (writable_root) {
    WritableRootCost(iterations);
    return 0;
  }
  if (network) {
    NetworkCost(iterations);
    return 0;
  }
  if (breakdown) {
    std::printf("python3 -c 'print(1)' in a fresh sandbox, by cgroup limit (%d runs each)\n", iterations);
    LimitsBreakdown(iterations, {"python3", "-c", "print(1)"});
    PythonPhases(iterations);
    return 0;
  }
  if (!cycles_only && start_loop_seconds == 0) Figure1(iterations);
  auto rt = runtime::Runtime::Create();
  if (!rt.ok()) {
    std::fprintf(stderr, "%s\n", rt.status().ToString().c_str());
    return 1;
  }
  if (start_loop_seconds > 0) return StartLoop(**rt, start_loop_seconds);
  if (!cycles_only) Figures2And3(**rt, iterations);
  return Figure4(**rt, cycle_seconds, cycle_program) ? 1 : 0;
}
