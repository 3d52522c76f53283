// Code handling for the coding loop: extracting the program from a model's reply, and assembling the
// program that runs (the code, optionally completed from a stub, with the task's tests appended).
//
// All functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace kiln::agent {

struct ExtractedCode {
  enum class Source { kPythonBlock, kOtherBlock, kWholeReply, kNone };
  std::string code;      // the program text; empty iff source == kNone
  std::string language;  // the fence's info word, lower-case ("python", "py", "" for unlabeled)
  Source source = Source::kNone;
};

std::string_view SourceName(ExtractedCode::Source s);  // "python_block", "other_block", "whole_reply", "none"

// Extracts code from a model reply:
//   1. the first fenced block labelled python, py, python3 or py3 (any case);
//   2. else the first fenced block of any language, or unlabeled;
//   3. else, when the reply has no fence at all and no line of prose, the whole reply. A prose line is
//      unindented, not a comment, does not start with a Python keyword, has 3 words or more and none of
//      ()[]{}=<>*/%&|^~@"`\; : "Sorry, I cannot write that program." A reply with prose and no fence is
//      not a program, so running it would only waste a sandbox on a SyntaxError.
// Fences are CommonMark-style: a line of 3+ backticks or tildes (up to 3 spaces of indent), closed by a
// line of the same character at least as long; an unclosed fence runs to the end of the reply (a reply cut
// off by the token limit keeps its code). Surrounding blank lines are trimmed; a block or reply that is
// empty or only whitespace yields Source::kNone.
ExtractedCode ExtractCode(std::string_view reply);

// True when `code` defines `name` at top level (a line starting "def NAME(" or "async def NAME(").
bool DefinesFunction(std::string_view code, std::string_view name);

// Completes a code-completion answer (HumanEval style): a model may return the whole function or only its
// body. When `code` does not define `entry_point`, returns `stub` + `code` (an unindented body is indented
// by 4 spaces first); otherwise returns `code`, preceded by the stub's top-level import lines that `code`
// does not contain (a whole-function answer often drops the stub's `from typing import List`).
std::string CompleteFromStub(std::string_view code, std::string_view stub, std::string_view entry_point);

// The program that runs and how to read its results. With tests, the program is
//   <code>\n\n<tests>\n<sentinel print>
// so the tests run in the same process after the code; `code_lines` tells the judge which traceback lines
// belong to the tests. The sentinel proves the tests ran to the end (code that calls sys.exit(0) early must
// not pass).
struct Program {
  std::string source;
  int code_lines = 0;  // lines 1..code_lines of `source` are the code; later lines are the tests
  bool has_tests = false;
};

inline constexpr std::string_view kTestsPassedSentinel = "__KILN_TESTS_PASSED_7f3a__";

Program AssembleProgram(std::string_view code, std::string_view tests);

// Removes the line holding the sentinel from captured stdout (so users never see it). Returns whether it
// was present.
bool StripSentinel(std::string* stdout_data);

}  // namespace kiln::agent
