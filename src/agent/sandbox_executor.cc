// SandboxExecutor: one fresh sandbox per Execute() through runtime::Run. Compiled only when the build has
// kiln_runtime (see CMakeLists.txt); no_sandbox_executor.cc stands in otherwise.
#include <string_view>

#include "kiln/agent/executor.h"
#include "kiln/runtime/run.h"

namespace kiln::agent {
namespace {

struct LanguageRunner {
  std::string_view language;
  std::string_view file;  // under /home/user
  std::string_view interpreter;
};

constexpr LanguageRunner kRunners[] = {
    {"python", "main.py", "python3"},
    {"bash", "main.sh", "bash"},
    {"javascript", "main.js", "node"},
};

const LanguageRunner* FindRunner(std::string_view language) {
  for (const LanguageRunner& r : kRunners) {
    if (r.language == language) return &r;
  }
  return nullptr;
}

class SandboxExecutor : public Executor {
 public:
  Result<Execution> Execute(const ExecRequest& request) override {
    const LanguageRunner* runner = FindRunner(request.language);
    if (runner == nullptr)
      return InvalidArgument("sandbox executor: unsupported language '" + request.language + "'");
    runtime::RunRequest run;
    run.argv = {std::string(runner->interpreter), std::string(runner->file)};
    run.stdin_data = request.stdin_data;
    const std::string home = sandbox::kSandboxHome;
    for (const auto& [rel, content] : request.files) run.spec.files[home + "/" + rel] = content;
    run.spec.files[home + "/" + std::string(runner->file)] = request.code;
    if (request.timeout_ms > 0) run.spec.limits.timeout_ms = request.timeout_ms;
    if (request.memory_mb > 0) run.spec.limits.memory_bytes = request.memory_mb << 20;
    KILN_ASSIGN_OR_RETURN(runtime::RunResult r, runtime::Run(run));
    Execution e;
    e.exit_code = r.exit_code;
    e.signal = r.signal;
    e.stdout_data = std::move(r.stdout_data);
    e.stderr_data = std::move(r.stderr_data);
    e.timed_out = r.timed_out;
    e.oom_killed = r.oom_killed;
    e.truncated = r.truncated;
    e.duration_ms = r.duration_ms;
    e.sandbox_id = std::move(r.sandbox_id);
    return e;
  }
};

}  // namespace

std::unique_ptr<Executor> MakeSandboxExecutor() {
  return std::make_unique<SandboxExecutor>();
}
bool HaveSandboxRuntime() {
  return true;
}

}  // namespace kiln::agent
