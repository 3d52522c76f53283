// Report: the results of a check run (`kiln check-docs`, `kiln test`) and the three ways they are printed.
//
//   text    one line per failure `FILE:LINE: LANGUAGE block failed: MESSAGE` with its details indented below,
//           then a summary line (what passed, failed and was skipped, and the time)
//   junit   JUnit XML as CI systems read it (<testsuites>, one <testsuite> per file, <testcase> with
//           <failure> or <skipped>, <system-out> for the details)
//   github  GitHub Actions workflow commands: `::error file=F,line=L,title=T::MESSAGE` per failure (values
//           escaped as the runner expects: %25, %0D, %0A, and %3A/%2C in properties), `::notice` per skip
//           reason, then the summary line
//
// Plain values and pure functions: thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::checks {

enum class Outcome { kPassed, kFailed, kSkipped };

struct CaseResult {
  std::string suite;  // the file (check-docs) or the test suite (kiln test)
  std::string name;   // e.g. "README.md:12 (python)"
  std::string file;   // for annotations; may be empty
  int line = 0;       // 0 = unknown
  Outcome outcome = Outcome::kPassed;
  std::string message;  // one line: why it failed or was skipped
  std::string details;  // several lines: output, traceback, diff
  double seconds = 0;
};

struct Report {
  std::string tool;  // "kiln check-docs"
  std::vector<CaseResult> cases;
  double seconds = 0;  // wall time of the whole run

  int Count(Outcome outcome) const;
  bool Failed() const { return Count(Outcome::kFailed) > 0; }
};

enum class Format { kText, kJunit, kGithub };

// "text", "junit" or "github"; InvalidArgument naming the choices otherwise.
Result<Format> ParseFormat(std::string_view name);

std::string Render(const Report& report, Format format);

// XML character data / attribute value escaping (also drops characters XML 1.0 cannot carry).
std::string XmlEscape(std::string_view text);

}  // namespace kiln::checks
