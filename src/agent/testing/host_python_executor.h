// Test helper: an agent::Executor that runs code with the host's python3, unsandboxed.
//
// Only for tests that run trusted programs (canonical HumanEval solutions, scripted demo code) before the
// sandbox runtime is available. Never use it for model-written code outside tests. Thread-safe.
#pragma once

#include <string>

#include "kiln/agent/executor.h"

namespace kiln::agent::testing {

class HostPythonExecutor : public Executor {
 public:
  // `python`: the interpreter; empty picks /usr/bin/python3, else python3 on PATH.
  explicit HostPythonExecutor(std::string python = "");
  // Writes the code to main.py in a fresh temporary directory and runs `python3 main.py` there with a
  // process-group kill at request.timeout_ms. memory_mb is not enforced.
  Result<Execution> Execute(const ExecRequest& request) override;
  // True when a python3 interpreter was found.
  bool available() const { return !python_.empty(); }

 private:
  std::string python_;
};

// Path of a repository file (KILN_SOURCE_DIR + "/" + rel).
std::string RepoPath(const std::string& rel);

}  // namespace kiln::agent::testing
