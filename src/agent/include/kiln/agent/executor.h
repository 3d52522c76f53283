// agent::Executor: runs one program to completion somewhere isolated and reports what happened.
//
// The coding loop only ever talks to this interface, so it does not care whether code runs in a one-shot
// sandbox (SandboxExecutor over runtime::Run), in a persistent code-interpreter context, or in a test fake.
// Thread-safety: implementations must allow concurrent Execute() calls (the benchmark runs jobs in
// parallel); each call is independent.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::agent {

struct ExecRequest {
  std::string code;                          // the whole program's source
  std::string language = "python";           // "python" (others as executors support them)
  int64_t timeout_ms = 30'000;               // wall clock for the whole run; 0 = the executor's default
  int64_t memory_mb = 512;                   // memory limit; 0 = the executor's default
  std::string stdin_data;                    // fed to the program's stdin, then EOF
  std::map<std::string, std::string> files;  // extra files next to the program: relative path -> content
};

// What the program did. A program that fails is still an Execution; only the executor's own failures
// (cannot create the sandbox, ...) are errors.
struct Execution {
  int exit_code = 0;  // 128+N when killed by signal N
  int signal = 0;     // the signal that killed it, or 0
  std::string stdout_data;
  std::string stderr_data;
  bool timed_out = false;
  bool oom_killed = false;
  bool truncated = false;  // output beyond the executor's cap was discarded
  int64_t duration_ms = 0;
  std::string sandbox_id;  // where it ran, for logs; may be empty
};

nlohmann::json ToJson(const Execution& e);

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs request.code. Success: the Execution, whatever the program did. Failure: InvalidArgument for an
  // unsupported language, or the executor's own error (Unavailable, Internal, ...) with its reason.
  virtual Result<Execution> Execute(const ExecRequest& request) = 0;
};

// The production executor: a fresh sandbox per call through runtime::Run. Python code is written to
// /home/user/main.py and run as `python3 main.py` in /home/user (bash: main.sh / `bash main.sh`,
// javascript: main.js / `node main.js`); `files` land under /home/user. Unavailable when this build has
// no sandbox runtime (kiln_runtime was not linked).
std::unique_ptr<Executor> MakeSandboxExecutor();

// True when MakeSandboxExecutor() runs real sandboxes in this build.
bool HaveSandboxRuntime();

// An executor that calls a function: the fake for tests, and an adapter for other back ends. Thread-safe
// iff `fn` is.
class FunctionExecutor : public Executor {
 public:
  using Fn = std::function<Result<Execution>(const ExecRequest&)>;
  explicit FunctionExecutor(Fn fn) : fn_(std::move(fn)) {}
  Result<Execution> Execute(const ExecRequest& request) override { return fn_(request); }

 private:
  Fn fn_;
};

}  // namespace kiln::agent
