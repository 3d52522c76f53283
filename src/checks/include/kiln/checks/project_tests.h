// Project tests: what `kiln test DIR` needs around runtime::Run: the project's files as a sandbox sees them,
// its test command, and the JUnit XML its runner may write.
//
// Pure functions apart from SnapshotProject's reads of DIR (which it never writes): thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/checks/report.h"

namespace kiln::checks {

// Where the runner is asked to write JUnit XML inside the sandbox ($KILN_JUNIT).
inline constexpr char kJunitPath[] = "/tmp/kiln-junit.xml";

struct TestCommand {
  std::string runner;   // "pytest", "unittest", "npm", "make", "ctest" or "custom"
  std::string command;  // a bash command line run in the project's copy
};

// The test command of the project in `dir`, by what it contains, first match wins: package.json with a
// scripts.test (npm test); pytest configuration (pytest.ini, conftest.py, [tool.pytest...] in pyproject.toml,
// [tool:pytest] in setup.cfg or [pytest] in tox.ini): pytest, or unittest where the sandbox has no pytest;
// CMakeLists.txt (configure, build, ctest); a Makefile with a `test:` target (make test); test_*.py or
// *_test.py files at the top or under tests/ (unittest discover). NotFound naming what was looked for when
// nothing matches. pytest and ctest are told to write JUnit XML to kJunitPath.
Result<TestCommand> DetectTestCommand(const std::string& dir);

// The project's regular files, path relative to `dir` -> content, for SandboxSpec::files; directories
// `.git`, `node_modules`, `build` and `__pycache__` and symbolic links are left out. `executables` gets the
// files with an execute bit (the sandbox's copies are made without modes). ResourceExhausted past
// `max_bytes` in all or 20000 files.
struct ProjectSnapshot {
  std::map<std::string, std::string> files;
  std::vector<std::string> executables;
  int64_t bytes = 0;
};
Result<ProjectSnapshot> SnapshotProject(const std::string& dir, int64_t max_bytes);

// The test cases of a JUnit XML document (pytest, ctest, surefire and most runners): one CaseResult per
// <testcase>, suite from its classname (else its <testsuite>'s name), failed when it has <failure> or
// <error>, skipped with <skipped>. InvalidArgument with expat's message and line for malformed XML.
Result<std::vector<CaseResult>> ParseJunit(std::string_view xml);

}  // namespace kiln::checks
