// Judging one attempt: Python traceback parsing, the verdict on an execution, and the feedback text the
// model receives when an attempt fails.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/agent/code.h"
#include "kiln/agent/executor.h"

namespace kiln::agent {

// The last exception reported on a Python stderr.
struct PythonError {
  struct Frame {
    std::string file;
    int line = 0;
    std::string function;  // empty for a SyntaxError location line
    std::string source;    // the source line Python printed under the frame, trimmed; may be empty
  };
  std::string name;       // "NameError", "json.decoder.JSONDecodeError"
  std::string value;      // "name 'x' is not defined"; empty for a bare `raise AssertionError`
  std::string traceback;  // from the last "Traceback (most recent call last):" (or location line) to the end
  std::vector<Frame> frames;  // outermost first
  size_t offset = 0;          // where `traceback` starts in the parsed text
};

// Parses the last traceback in `stderr_text`: the ordinary "Traceback (most recent call last):" form
// (chained exceptions: the last one wins) and the header-less SyntaxError/IndentationError form
// ('  File "main.py", line 3' ... 'SyntaxError: ...'). nullopt when there is none.
std::optional<PythonError> ParsePythonTraceback(std::string_view stderr_text);

// The end of `text`: at most `max_lines` lines and `max_bytes` bytes (never cutting a UTF-8 sequence),
// prefixed by "[... N earlier lines omitted]\n" when something was dropped.
std::string TailBounded(std::string_view text, size_t max_bytes = 2048, size_t max_lines = 40);

enum class VerdictKind {
  kPassed,       // exit 0 (and, with tests, the tests ran to the end)
  kNoCode,       // the reply held no code; nothing ran
  kError,        // the program raised an exception (name/value parsed from the traceback)
  kNonZeroExit,  // exited non-zero (or was killed by a signal) without a Python traceback
  kTimeout,      // killed at the time limit
  kOutOfMemory,  // killed at the memory limit
  kTestsFailed,  // the code ran, but the tests raised (a failing assert) or did not run to the end
};

// Stable names for JSON: "passed", "no_code", "error", "nonzero_exit", "timeout", "out_of_memory",
// "tests_failed".
std::string_view VerdictName(VerdictKind kind);

struct Verdict {
  VerdictKind kind = VerdictKind::kPassed;
  std::string summary;     // one line for people, e.g. "NameError: name 'x' is not defined"
  std::string error_name;  // from the traceback, when there is one
  std::string error_value;
  bool passed() const { return kind == VerdictKind::kPassed; }
};

nlohmann::json ToJson(const Verdict& v);

// Judges `e` (stdout must already have had the sentinel stripped; pass whether it was present). Order:
// timeout, out of memory, then a non-zero exit (traceback -> error or tests_failed when a frame lies in the
// tests part of `program`; no traceback -> nonzero_exit), then a missing sentinel with tests ->
// tests_failed, else passed.
Verdict Judge(const Execution& e, const Program& program, bool sentinel_seen);

// The verdict for a reply without code.
Verdict NoCodeVerdict();

struct FeedbackLimits {
  size_t max_bytes = 2048;  // per section (traceback, stderr, stdout)
  size_t max_lines = 40;
};

// The message sent back to the model after a failed attempt: what went wrong (verdict, error name and
// value), the end of the traceback, the end of the rest of stderr and of stdout (each bounded by
// `limits`), and the request to reply with the complete corrected program in one ```python block.
std::string BuildFeedback(const Verdict& verdict, const Execution* execution, const ExecRequest& request,
                          const FeedbackLimits& limits = {});

}  // namespace kiln::agent
