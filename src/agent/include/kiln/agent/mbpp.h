// MBPP (sanitized) for the HumanEval harness: each problem becomes a HumanEvalProblem, so that `kiln bench
// mbpp` shares the agent loop, the canonical pseudo-model, the scoring and the report with `kiln bench
// humaneval`.
//
// The sanitized set (Google Research, CC BY 4.0, 427 problems) is a JSON array; each problem has task_id,
// prompt (the task in English), code (a reference solution), test_imports and test_list (assert statements).
// The model sees the task and the first assert (which names the function and its arguments, as MBPP's own
// prompts do); a solution passes when test_imports, the solution and every assert run without an exception.
// Pure functions: thread-safe.
#pragma once

#include <string>
#include <vector>

#include "kiln/agent/humaneval.h"

namespace kiln::agent {

// Parses a sanitized-MBPP JSON array (gzip-compressed or not). task_id becomes "Mbpp/N"; prompt is a
// docstring with the task and the first assert; canonical_solution the reference code; test is the imports
// and asserts (at module level) and a check(candidate) that does nothing more; entry_point the function the
// first assert calls. NotFound if unreadable; InvalidArgument naming the problem (its index and task_id) for
// a missing field or an assert that calls no function.
Result<std::vector<HumanEvalProblem>> LoadMbpp(const std::string& path);

// Kiln's bundled copy: DataDir()/mbpp/sanitized-mbpp.json.gz (base/install_paths.h).
std::string DefaultMbppPath();

}  // namespace kiln::agent
