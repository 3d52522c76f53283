// Code-interpreter benchmarks, kiln (envd's /execute through the sandbox socket) side by side with an
// ipykernel driven by jupyter_client on the same machine (issue: Code interpreter, figures 1-4).
//
//   build/bin/kiln_interp_bench [--iterations N] [--ipykernel-json FILE]
//   build/bin/kiln_interp_bench --print-runs N   (only figure 4, N times; also as 200000 short prints)
//
// FILE is what bench/interp/ipykernel_bench.py printed; run.sh runs both. Prints one table. Run as root.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/clock.h"
#include "kiln/client/code_client.h"
#include "kiln/runtime/pool.h"
#include "kiln/runtime/runtime.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

struct Percentiles {
  double p50 = 0, p99 = 0;
};

Percentiles Summarize(std::vector<double> ms) {
  if (ms.empty()) return {};
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

double MillisSince(int64_t start_ns) {
  return (MonotonicNanos() - start_ns) / 1e6;
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "kiln_interp_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

void MustExecute(const client::CodeClient& code, const std::string& source) {
  Result<client::Execution> done = code.Execute(source);
  if (!done.ok()) Die("execute", done.status());
  if (done->error) Die("execute", Internal(done->error->name + ": " + done->error->value));
}

// Figure 1: `x = 1` until end_of_execution, on a warm context.
Percentiles RoundTrip(const client::CodeClient& code, int iterations) {
  for (int i = 0; i < 50; ++i) MustExecute(code, "x = 1");
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    int64_t t0 = MonotonicNanos();
    MustExecute(code, "x = 1");
    ms.push_back(MillisSince(t0));
  }
  return Summarize(ms);
}

// Figure 2a: Acquire() from a full pool plus the first execute.
Percentiles PooledFirstExecute(runtime::Runtime* rt, int samples) {
  runtime::PoolOptions options;
  options.size = 2;
  Result<std::unique_ptr<runtime::WarmPool>> pool = runtime::WarmPool::Create(rt, options);
  if (!pool.ok()) Die("pool", pool.status());
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    Status full = (*pool)->WaitUntilFull(120'000);
    if (!full.ok()) Die("pool fill", full);
    int64_t t0 = MonotonicNanos();
    Result<runtime::PooledSandbox> got = (*pool)->Acquire();
    if (!got.ok()) Die("acquire", got.status());
    MustExecute(client::CodeClient(got->info.socket_path, got->info.access_token), "x = 1");
    ms.push_back(MillisSince(t0));
    (void)(*pool)->Release(got->info.id);
  }
  return Summarize(ms);
}

// Figure 2b: a new sandbox, then the first execute on its default python context.
Percentiles ColdFirstExecute(runtime::Runtime* rt, int samples) {
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    int64_t t0 = MonotonicNanos();
    runtime::CreateOptions create;
    create.spec.limits.timeout_ms = 0;
    Result<runtime::SandboxInfo> info = rt->CreateSandbox(create);
    if (!info.ok()) Die("create", info.status());
    MustExecute(client::CodeClient(info->socket_path, info->access_token), "x = 1");
    ms.push_back(MillisSince(t0));
    (void)rt->Kill(info->id);
  }
  return Summarize(ms);
}

std::vector<int> CgroupPids(const std::string& id) {
  for (const char* root :
       {"/sys/fs/cgroup/pids/kiln/", "/sys/fs/cgroup/memory/kiln/", "/sys/fs/cgroup/kiln/"}) {
    std::ifstream procs(std::string(root) + id + "/cgroup.procs");
    std::vector<int> pids;
    for (int pid; procs >> pid;) pids.push_back(pid);
    if (!pids.empty()) return pids;
  }
  return {};
}

std::string Cmdline(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

double PssMiB(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  for (std::string key; in >> key;) {
    long kb = 0;
    if (key == "Pss:" && in >> kb) return kb / 1024.0;
  }
  return 0;
}

// Figure 3: PSS of the processes that run the idle default python context (found in the sandbox's cgroup
// by their command line), and of the other processes (envd) for reference.
std::pair<double, double> IdleContextPss(const runtime::SandboxInfo& info) {
  double python = 0, others = 0;
  for (int pid : CgroupPids(info.id)) {
    std::string cmd = Cmdline(pid);
    (cmd.find("python") != std::string::npos ? python : others) += PssMiB(pid);
  }
  return {python, others};
}

// Figure 4: a cell printing 10 MB, until end_of_execution: one write, or (`lines`) 200000 prints of 50 bytes.
double PrintThroughput(const client::CodeClient& code, bool lines = false) {
  constexpr int kBytes = 10'000'000;
  size_t received = 0;
  client::ExecuteCallbacks cb;
  cb.on_stdout = [&](const std::string& t) { received += t.size(); };
  int64_t t0 = MonotonicNanos();
  Result<client::Execution> done = code.Execute(
      lines ? "for _ in range(" + std::to_string(kBytes / 50) + "): print('x' * 49)"
            : "import sys\nsys.stdout.write('x' * " + std::to_string(kBytes) + ")\nsys.stdout.flush()",
      {}, cb);
  double seconds = MillisSince(t0) / 1000;
  if (!done.ok()) Die("print 10 MB", done.status());
  if (received < kBytes) std::fprintf(stderr, "print 10 MB: only %zu bytes arrived\n", received);
  return received / 1e6 / seconds;
}

void Row(const char* figure, const std::string& kiln, const std::string& ipykernel, const std::string& note) {
  std::printf("| %-44s | %-16s | %-16s | %-26s |\n", figure, kiln.c_str(), ipykernel.c_str(), note.c_str());
}

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

double Get(const json& j, const char* key) {
  return j.contains(key) ? j[key].get<double>() : -1;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  using namespace kiln;
  using namespace kiln::bench;
  int iterations = 2000;
  int print_runs = 0;
  std::string ipy_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--ipykernel-json") == 0) ipy_path = argv[i + 1];
    if (std::strcmp(argv[i], "--print-runs") == 0) print_runs = std::atoi(argv[i + 1]);
  }
  json ipy = json::object();
  if (!ipy_path.empty()) ipy = json::parse(std::ifstream(ipy_path), nullptr, false);
  if (ipy.is_discarded()) ipy = json::object();

  Result<std::unique_ptr<runtime::Runtime>> rt = runtime::Runtime::Create();
  if (!rt.ok()) Die("runtime", rt.status());
  runtime::CreateOptions create;
  create.spec.limits.timeout_ms = 0;
  Result<runtime::SandboxInfo> info = (*rt)->CreateSandbox(create);
  if (!info.ok()) Die("create", info.status());
  client::CodeClient code(info->socket_path, info->access_token);
  if (print_runs > 0) {
    MustExecute(code, "x = 1");
    for (int i = 0; i < print_runs; ++i)
      std::printf("print 10 MB: %.1f MB/s; as 200000 lines: %.1f MB/s\n", PrintThroughput(code),
                  PrintThroughput(code, true));
    (void)(*rt)->Kill(info->id);
    return 0;
  }

  Percentiles rtt = RoundTrip(code, iterations);
  auto [pss_python, pss_other] = IdleContextPss(*info);
  double mbps = PrintThroughput(code);
  (void)(*rt)->Kill(info->id);
  Percentiles pooled = PooledFirstExecute(rt->get(), 20);
  Percentiles cold = ColdFirstExecute(rt->get(), 10);

  double ipy_p50 = Get(ipy, "rtt_p50_ms"), ipy_p99 = Get(ipy, "rtt_p99_ms");
  Row("figure", "kiln", "ipykernel", "goal / ratio");
  Row("--------------------------------------------", "----------------", "----------------",
      "--------------------------");
  Row("1. `x = 1` round trip p50 (ms)", Fmt("%.3f", rtt.p50), Fmt("%.3f", ipy_p50),
      Fmt("<= 1 ms; %.1fx faster", ipy_p50 / rtt.p50));
  Row("1. `x = 1` round trip p99 (ms)", Fmt("%.3f", rtt.p99), Fmt("%.3f", ipy_p99),
      Fmt("%.1fx faster", ipy_p99 / rtt.p99));
  Row("2. first execute, pooled sandbox p50 (ms)", Fmt("%.1f", pooled.p50), "-", "<= 50 ms");
  Row("2. first execute, no pool p50 (ms)", Fmt("%.1f", cold.p50), Fmt("%.1f", Get(ipy, "cold_start_p50_ms")),
      "ipykernel: start -> reply");
  Row("3. PSS of an idle python context (MiB)", Fmt("%.1f", pss_python), Fmt("%.1f", Get(ipy, "pss_mib")),
      Fmt("<= 30 MiB; others %.1f MiB", pss_other));
  Row("4. print 10 MB (MB/s)", Fmt("%.1f", mbps), Fmt("%.1f", Get(ipy, "print_mb_per_s")),
      Fmt("%.1fx", mbps / Get(ipy, "print_mb_per_s")));
  std::printf("\n(%d round trips; pooled: 20 samples, pool size 2; no pool: 10 samples)\n", iterations);
  return 0;
}
