// Stand-in for sandbox_executor.cc in builds without kiln_runtime: every Execute() is Unavailable.
#include "kiln/agent/executor.h"

namespace kiln::agent {
namespace {

class NoSandboxExecutor : public Executor {
 public:
  Result<Execution> Execute(const ExecRequest&) override {
    return Unavailable(
        "this kiln build has no sandbox runtime (kiln_runtime was not linked); cannot run code");
  }
};

}  // namespace

std::unique_ptr<Executor> MakeSandboxExecutor() {
  return std::make_unique<NoSandboxExecutor>();
}
bool HaveSandboxRuntime() {
  return false;
}

}  // namespace kiln::agent
