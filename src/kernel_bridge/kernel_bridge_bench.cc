// Round trip of `x = 1` through /execute on a warm context: envd's own python runner vs ipykernel driven
// by kiln-kernel-bridge, in the same sandbox.
//
//   build/bin/kiln_kernel_bridge_bench [ITERATIONS]   (as root, like the sandbox tests)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kiln/base/clock.h"
#include "kiln/client/code_client.h"
#include "kiln/runtime/runtime.h"

namespace kiln {
namespace {

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "kiln_kernel_bridge_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

// p50 and p99 in ms of `iterations` executions of `x = 1` after a warm-up.
std::pair<double, double> RoundTrip(const client::CodeClient& code, const std::string& context_id,
                                    int iterations) {
  client::ExecuteOptions options;
  options.context_id = context_id;
  std::vector<double> ms;
  for (int i = -20; i < iterations; ++i) {
    int64_t t0 = MonotonicNanos();
    Result<client::Execution> done = code.Execute("x = 1", options);
    if (!done.ok()) Die("execute", done.status());
    if (done->error) Die("execute", Internal(done->error->name + ": " + done->error->value));
    if (i >= 0) ms.push_back((MonotonicNanos() - t0) / 1e6);
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

int Main(int iterations) {
  auto rt = runtime::Runtime::Create();
  if (!rt.ok()) Die("runtime", rt.status());
  runtime::CreateOptions options;
  options.spec.limits.timeout_ms = 0;
  options.spec.files["/home/user/.local/share/jupyter/kernels/ipython/kernel.json"] =
      R"json({"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"})json";
  auto info = (*rt)->CreateSandbox(options);
  if (!info.ok()) Die("sandbox", info.status());
  client::CodeClient code(info->socket_path, info->access_token);
  std::printf("%-34s %10s %10s\n", "x = 1 round trip (warm context)", "p50 ms", "p99 ms");
  for (const char* language : {"python", "ipython"}) {
    auto context = code.CreateContext(language);
    if (!context.ok()) Die("context", context.status());
    auto [p50, p99] = RoundTrip(code, context->id, iterations);
    std::printf(
        "%-34s %10.3f %10.3f\n",
        std::string(language) == "python" ? "python (envd runner)" : "ipykernel via kiln-kernel-bridge", p50,
        p99);
  }
  return 0;
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  return kiln::Main(argc > 1 ? std::atoi(argv[1]) : 500);
}
