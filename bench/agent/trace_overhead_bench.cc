// Overhead of tracing on a scripted agent run (goal: < 2 %).
//
// The demo model (examples/agent/demo.script: syntax error, import error, working code; 3 model calls and 3
// executions, 7 spans per run) runs N times with tracing off (the global provider disabled, as when no OTEL_*
// variable is set) and N times with tracing on (JSONL to a temp file + OTLP/HTTP to a local receiver in a
// child process), through the same code path as `kiln agent` (TracingObserver only when the global tracer is
// enabled). Off and on blocks alternate to cancel drift; the figure is the ratio of the medians.
//   main figure: a fake executor (instant, pretends to be Python) so sandbox noise does not hide the cost;
//   second figure: real sandboxes (SandboxExecutor), fewer runs.
//
// Build: cmake --build BUILD --target kiln_agent_trace_bench; run as root: BUILD/bin/kiln_agent_trace_bench
//        [--runs N (per block, fake executor)] [--blocks B] [--sandbox-runs M (0: skip)]
#include <httplib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/agent/agent.h"
#include "kiln/agent/tracing.h"
#include "kiln/base/clock.h"
#include "kiln/llm/script.h"
#include "kiln/trace/exporter.h"

namespace kiln::agent {
namespace {

struct Config {
  int runs = 300;  // agent runs per block (fake executor)
  int blocks = 9;  // alternating off/on blocks per mode
  int sandbox_runs = 5;
};

// Replays the demo's three replies, cyclically (every run makes exactly three calls). Thread-compatible.
class CyclingProvider : public llm::Provider {
 public:
  explicit CyclingProvider(std::vector<std::string> replies)
      : Provider("script", "script:demo.script", "script:demo.script"), replies_(std::move(replies)) {}

 protected:
  Result<llm::ChatResponse> ChatImpl(const llm::ChatRequest&, llm::CallInfo& info) override {
    info.attempts = 1;
    llm::ChatResponse r;
    r.text = replies_[next_++ % replies_.size()];
    r.usage.input_tokens = 600;
    r.usage.output_tokens = 150;
    r.finish = llm::Finish::kStop;
    r.finish_reason = "stop";
    return r;
  }

 private:
  std::vector<std::string> replies_;
  size_t next_ = 0;
};

// Pretends to be Python for the demo's three programs (as agent_test.cc does).
Result<Execution> FakePython(const ExecRequest& req) {
  Execution e;
  e.sandbox_id = "fake";
  if (req.code.find("import numpyy") != std::string::npos) {
    e.exit_code = 1;
    e.stderr_data =
        "Traceback (most recent call last):\n  File \"/home/user/main.py\", line 1, in <module>\n"
        "    import numpyy as np\nModuleNotFoundError: No module named 'numpyy'\n";
  } else if (req.code.find("for p in primes))") == std::string::npos) {
    e.exit_code = 1;
    e.stderr_data =
        "  File \"/home/user/main.py\", line 17\n    print(\", \".join(str(p) for p in primes)\n"
        "         ^\nSyntaxError: '(' was never closed\n";
  } else {
    e.stdout_data = "2, 3, 5, 7, 11, 13, 17, 19, 23, 29\n";
  }
  return e;
}

Result<std::vector<std::string>> DemoReplies() {
  std::ifstream in(KILN_DEMO_SCRIPT);
  if (!in) return NotFound(std::string("cannot read ") + KILN_DEMO_SCRIPT);
  std::stringstream ss;
  ss << in.rdbuf();
  KILN_ASSIGN_OR_RETURN(auto parsed, llm::ParseScript(ss.str()));
  std::vector<std::string> replies;
  for (const auto& r : parsed) replies.push_back(r.text);
  return replies;
}

// An OTLP collector in a child process (so its CPU is not the agent's): answers 200, counts nothing.
struct ReceiverProcess {
  pid_t pid = -1;
  int port = 0;
  ~ReceiverProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

void StartReceiver(ReceiverProcess* rx) {
  int fds[2];
  if (pipe(fds) != 0) return;
  rx->pid = fork();
  if (rx->pid == 0) {
    close(fds[0]);
    httplib::Server server;
    server.Post(".*", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{}", "application/json");
    });
    server.set_tcp_nodelay(true);
    int port = server.bind_to_any_port("127.0.0.1");
    (void)!write(fds[1], &port, sizeof port);
    close(fds[1]);
    server.listen_after_bind();
    _exit(0);
  }
  close(fds[1]);
  if (read(fds[0], &rx->port, sizeof rx->port) != sizeof rx->port) rx->port = 0;
  close(fds[0]);
}

// One `kiln agent`-like run: the tracing observer exists only when the global tracer is enabled.
bool RunOnce(llm::Provider& provider, Executor& executor) {
  std::optional<TracingObserver> tracing;
  if (trace::Tracer tracer = trace::GlobalTracer(); tracer.enabled())
    tracing.emplace(std::move(tracer), TracingInfoFor(provider));
  auto r = RunAgent(provider, executor, Task{"Print the first 10 prime numbers"}, {},
                    tracing ? &*tracing : nullptr);
  return r.ok() && r->success && r->attempts == 3;
}

int64_t CpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct Sample {
  double wall_us_per_run = 0;
  double cpu_us_per_run = 0;
};

Sample TimeBlock(llm::Provider& provider, Executor& executor, int runs, bool* ok) {
  const int64_t wall0 = MonotonicNanos(), cpu0 = CpuNanos();
  for (int i = 0; i < runs; ++i) *ok = RunOnce(provider, executor) && *ok;
  return {(MonotonicNanos() - wall0) / 1e3 / runs, (CpuNanos() - cpu0) / 1e3 / runs};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Tracing {
  std::shared_ptr<trace::Provider> provider;
  std::string jsonl;
};

Result<Tracing> MakeTracing(int port) {
  Tracing t;
  t.jsonl = "/tmp/kiln_agent_trace_bench_" + std::to_string(getpid()) + ".jsonl";
  trace::ProviderOptions po;
  trace::OtlpHttpOptions otlp;
  otlp.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  otlp.max_queue_size = 1 << 20;  // measure the full export cost: no span may be dropped
  KILN_ASSIGN_OR_RETURN(auto o, trace::MakeOtlpHttpExporter(otlp));
  KILN_ASSIGN_OR_RETURN(auto j, trace::MakeJsonlExporter(t.jsonl));
  po.exporters.push_back(std::move(o));
  po.exporters.push_back(std::move(j));
  t.provider = trace::Provider::Create(std::move(po));
  return t;
}

// Alternates off/on blocks; prints the medians and the ratio.
bool Compare(const char* label, llm::Provider& provider, Executor& executor, const Tracing& tracing, int runs,
             int blocks) {
  std::vector<double> wall[2], cpu[2];
  bool ok = true;
  (void)TimeBlock(provider, executor, std::max(1, runs / 4), &ok);  // warm-up
  for (int b = 0; b < blocks; ++b) {
    for (int on = 0; on < 2; ++on) {
      trace::SetGlobalProvider(on ? tracing.provider : nullptr);
      Sample s = TimeBlock(provider, executor, runs, &ok);
      wall[on].push_back(s.wall_us_per_run);
      cpu[on].push_back(s.cpu_us_per_run);
    }
  }
  trace::SetGlobalProvider(nullptr);
  const double off = Median(wall[0]), on = Median(wall[1]);
  std::printf("%s: %d blocks x %d runs per mode (7 spans per run)\n", label, blocks, runs);
  std::printf("  wall per run: off %.1f us, on %.1f us, ratio %.4f (%+.2f %%, %+.1f us per run)\n", off, on,
              on / off, 100.0 * (on / off - 1), on - off);
  std::printf("  process CPU per run (incl. exporter threads): off %.1f us, on %.1f us, ratio %.4f\n",
              Median(cpu[0]), Median(cpu[1]), Median(cpu[1]) / Median(cpu[0]));
  if (!ok) std::printf("  ERROR: some run did not solve the demo at attempt 3\n");
  return ok;
}

int Main(const Config& c) {
  auto replies = DemoReplies();
  if (!replies.ok()) return std::fprintf(stderr, "%s\n", replies.status().ToString().c_str()), 1;
  ReceiverProcess rx;
  StartReceiver(&rx);  // before any thread exists
  if (rx.port == 0) return std::fprintf(stderr, "cannot start the OTLP receiver\n"), 1;
  auto tracing = MakeTracing(rx.port);
  if (!tracing.ok()) return std::fprintf(stderr, "%s\n", tracing.status().ToString().c_str()), 1;

  CyclingProvider provider(*replies);
  FunctionExecutor fake(FakePython);
  bool ok = Compare("fake executor, JSONL + OTLP", provider, fake, *tracing, c.runs, c.blocks);
  // The instrumentation alone (observer, attributes, span records), without any encoding or I/O.
  Tracing memory{trace::Provider::Create({.exporters = {std::make_shared<trace::InMemoryExporter>()}}), ""};
  ok = Compare("fake executor, in-memory exporter (instrumentation only)", provider, fake, memory, c.runs,
               c.blocks) &&
       ok;
  if (c.sandbox_runs > 0 && HaveSandboxRuntime()) {
    auto sandbox = MakeSandboxExecutor();
    ok = Compare("real sandboxes, JSONL + OTLP", provider, *sandbox, *tracing, c.sandbox_runs, 3) && ok;
  }
  Status flushed = tracing->provider->Shutdown(std::chrono::milliseconds(10000));
  trace::ExporterStats st = tracing->provider->stats();
  std::printf(
      "exporters (otlp + jsonl): %llu span exports, %llu dropped, %llu failures; flush %s\n",
      static_cast<unsigned long long>(st.spans_exported), static_cast<unsigned long long>(st.spans_dropped),
      static_cast<unsigned long long>(st.export_failures), flushed.ok() ? "ok" : flushed.ToString().c_str());
  std::remove(tracing->jsonl.c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace kiln::agent

int main(int argc, char** argv) {
  kiln::agent::Config c;
  std::string command = argv[0];
  for (int i = 1; i < argc; ++i) {
    command += std::string(" ") + argv[i];
    auto next = [&](int* v) {
      if (i + 1 < argc) *v = std::atoi(argv[++i]), command += std::string(" ") + argv[i];
    };
    if (!std::strcmp(argv[i], "--runs"))
      next(&c.runs);
    else if (!std::strcmp(argv[i], "--blocks"))
      next(&c.blocks);
    else if (!std::strcmp(argv[i], "--sandbox-runs"))
      next(&c.sandbox_runs);
    else
      return std::fprintf(stderr, "usage: %s [--runs N] [--blocks B] [--sandbox-runs M]\n", argv[0]), 2;
  }
  std::printf("$ %s\n", command.c_str());
  return kiln::agent::Main(c);
}
