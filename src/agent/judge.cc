#include "kiln/agent/judge.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "kiln/base/strings.h"

namespace kiln::agent {
namespace {

constexpr std::string_view kTracebackHeader = "Traceback (most recent call last):";
constexpr std::string_view kFramePrefix = "  File \"";
constexpr size_t kMaxErrorValue = 1000;

struct Line {
  std::string_view text;
  size_t offset;
};

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(start, end - start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.push_back({l, start});
    start = end + 1;
  }
  return out;
}

// '  File "main.py", line 3, in f' -> frame. False when the line is not a frame line.
bool ParseFrame(std::string_view line, PythonError::Frame* frame) {
  if (!StartsWith(line, kFramePrefix)) return false;
  line.remove_prefix(kFramePrefix.size());
  const size_t quote = line.find("\", line ");
  if (quote == std::string_view::npos) return false;
  frame->file = std::string(line.substr(0, quote));
  line.remove_prefix(quote + 8);
  frame->line = 0;
  size_t i = 0;
  for (; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i) {
    frame->line = frame->line * 10 + (line[i] - '0');
  }
  line.remove_prefix(i);
  frame->function = StartsWith(line, ", in ") ? std::string(line.substr(5)) : "";
  return true;
}

bool IsDottedIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') return false;
  }
  return !std::isdigit(static_cast<unsigned char>(s[0]));
}

void ParseExceptionLine(std::string_view line, PythonError* err) {
  const size_t colon = line.find(": ");
  if (colon != std::string_view::npos && IsDottedIdentifier(line.substr(0, colon))) {
    err->name = std::string(line.substr(0, colon));
    err->value = std::string(line.substr(colon + 2));
  } else if (IsDottedIdentifier(Trim(line))) {
    err->name = std::string(Trim(line));
  } else {
    err->value = std::string(line);
  }
}

// Index of the line where the last traceback starts, or -1.
int FindTracebackStart(const std::vector<Line>& lines) {
  for (int i = static_cast<int>(lines.size()) - 1; i >= 0; --i) {
    if (StartsWith(lines[i].text, kTracebackHeader)) return i;
  }
  // Header-less form (SyntaxError in the main script): its single location line.
  for (int i = static_cast<int>(lines.size()) - 1; i >= 0; --i) {
    PythonError::Frame f;
    if (ParseFrame(lines[i].text, &f) && f.function.empty()) return i;
  }
  return -1;
}

std::string CountedLines(size_t n) {
  return std::to_string(n) + (n == 1 ? " line" : " lines");
}

}  // namespace

std::optional<PythonError> ParsePythonTraceback(std::string_view text) {
  const std::vector<Line> lines = SplitLines(text);
  const int start = FindTracebackStart(lines);
  if (start < 0) return std::nullopt;
  PythonError err;
  err.offset = lines[start].offset;
  err.traceback = std::string(Trim(text.substr(err.offset)));
  bool have_exception = false;
  for (size_t i = start; i < lines.size(); ++i) {
    const std::string_view l = lines[i].text;
    PythonError::Frame frame;
    if (have_exception) {  // a multi-line exception value
      if (err.value.size() < kMaxErrorValue) err.value += "\n" + std::string(l);
    } else if (ParseFrame(l, &frame)) {
      err.frames.push_back(std::move(frame));
    } else if (l.empty() || l[0] == ' ' || l[0] == '\t' || StartsWith(l, kTracebackHeader)) {
      const std::string_view src = Trim(l);
      const bool caret = !src.empty() && src.find_first_not_of("^~ ") == std::string_view::npos;
      if (!err.frames.empty() && err.frames.back().source.empty() && !caret) err.frames.back().source = src;
    } else {
      ParseExceptionLine(l, &err);
      have_exception = true;
    }
  }
  if (!have_exception) return std::nullopt;  // a frame-like line with no exception after it
  err.value = std::string(Trim(err.value)).substr(0, kMaxErrorValue);
  return err;
}

std::string TailBounded(std::string_view text, size_t max_bytes, size_t max_lines) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  size_t start = end, seen = 0;
  while (start > 0) {
    if (text[start - 1] == '\n' && ++seen == max_lines) break;
    --start;
  }
  if (end - start > max_bytes) {
    start = end - max_bytes;
    while (start < end && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
  }
  std::string out;
  if (start > 0) {
    const auto dropped = static_cast<size_t>(std::count(text.begin(), text.begin() + start, '\n'));
    const bool cut = text[start - 1] != '\n';
    out = "[... " + CountedLines(dropped + (cut ? 1 : 0)) + (cut ? " (the last one partly)" : "") +
          " omitted]\n";
  }
  out.append(text.substr(start, end - start));
  return out;
}

std::string_view VerdictName(VerdictKind kind) {
  static constexpr std::string_view kNames[] = {"passed",  "no_code",       "error",       "nonzero_exit",
                                                "timeout", "out_of_memory", "tests_failed"};
  return kNames[static_cast<int>(kind)];
}

nlohmann::json ToJson(const Verdict& v) {
  nlohmann::json j = {{"verdict", VerdictName(v.kind)}, {"passed", v.passed()}, {"summary", v.summary}};
  if (!v.error_name.empty()) j["error_name"] = v.error_name;
  if (!v.error_value.empty()) j["error_value"] = v.error_value;
  return j;
}

Verdict NoCodeVerdict() {
  return {VerdictKind::kNoCode, "no code: the reply contained no program (empty or whitespace only)", "", ""};
}

namespace {

Verdict FromTraceback(const PythonError& err, const Program& program) {
  Verdict v{VerdictKind::kError, "", err.name, err.value};
  const std::string main_file = err.frames.empty() ? "" : err.frames.front().file;
  const PythonError::Frame* test_frame = nullptr;
  for (const auto& f : err.frames) {
    if (program.has_tests && !f.function.empty() && f.file == main_file && f.line > program.code_lines) {
      test_frame = &f;
    }
  }
  std::string what = err.name.empty() ? err.value : err.name + (err.value.empty() ? "" : ": " + err.value);
  if (const size_t nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl) + " ...";
  if (test_frame == nullptr) {
    v.summary = what;
    return v;
  }
  v.kind = VerdictKind::kTestsFailed;
  v.summary = "tests failed: " + what;
  if (err.value.empty() && !test_frame->source.empty()) v.summary += " at `" + test_frame->source + "`";
  return v;
}

std::string SignalText(int sig) {
  const char* name = ::strsignal(sig);
  return "killed by signal " + std::to_string(sig) + (name ? " (" + std::string(name) + ")" : "");
}

}  // namespace

Verdict Judge(const Execution& e, const Program& program, bool sentinel_seen) {
  if (e.timed_out) {
    return {VerdictKind::kTimeout, "timed out: killed after " + std::to_string(e.duration_ms) + " ms", "",
            ""};
  }
  if (e.oom_killed) return {VerdictKind::kOutOfMemory, "out of memory: killed at the memory limit", "", ""};
  if (e.exit_code != 0 || e.signal != 0) {
    if (auto err = ParsePythonTraceback(e.stderr_data)) return FromTraceback(*err, program);
    return {VerdictKind::kNonZeroExit,
            e.signal != 0 ? SignalText(e.signal) : "exited with code " + std::to_string(e.exit_code), "", ""};
  }
  if (program.has_tests && !sentinel_seen) {
    return {VerdictKind::kTestsFailed, "tests failed: the program exited before the tests ran to the end", "",
            ""};
  }
  return {VerdictKind::kPassed, "passed", "", ""};
}

namespace {

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string Headline(const Verdict& v, const ExecRequest& request) {
  const std::string error = v.error_name.empty()
                                ? v.error_value
                                : v.error_name + (v.error_value.empty() ? "" : ": " + v.error_value);
  switch (v.kind) {
    case VerdictKind::kNoCode:
      return "Your reply contained no code.";
    case VerdictKind::kError:
      return "Your program raised an exception: " + error;
    case VerdictKind::kTestsFailed:
      return "Your program ran, but the tests failed: " + v.summary.substr(v.summary.find(':') + 2);
    case VerdictKind::kNonZeroExit:
      return "Your program failed: " + v.summary + ".";
    case VerdictKind::kTimeout:
      return "Your program did not finish within " + Seconds(request.timeout_ms) +
             " s and was killed. Look for an infinite loop or slow algorithm; do not wait for input (stdin "
             "is "
             "empty).";
    case VerdictKind::kOutOfMemory:
      return "Your program exceeded the memory limit (" + std::to_string(request.memory_mb) +
             " MB) and was killed. Use less memory.";
    case VerdictKind::kPassed:
      break;
  }
  return "Your program passed.";
}

void AppendSection(std::string* out, std::string_view title, std::string_view body,
                   const FeedbackLimits& limits) {
  if (Trim(body).empty()) return;
  *out += "\n" + std::string(title) + ":\n```text\n" + TailBounded(body, limits.max_bytes, limits.max_lines) +
          "\n```\n";
}

}  // namespace

std::string BuildFeedback(const Verdict& verdict, const Execution* execution, const ExecRequest& request,
                          const FeedbackLimits& limits) {
  std::string out = Headline(verdict, request) + "\n";
  if (execution != nullptr) {
    std::string_view other_stderr = execution->stderr_data;
    if (auto err = ParsePythonTraceback(execution->stderr_data)) {
      AppendSection(&out, "Traceback (end)", err->traceback, limits);
      other_stderr = other_stderr.substr(0, err->offset);
    }
    AppendSection(&out, "Standard error (end)", other_stderr, limits);
    AppendSection(&out, "Standard output (end)", execution->stdout_data, limits);
  }
  out += "\nFix the problem and reply with the complete corrected program in a single ```python block.";
  return out;
}

}  // namespace kiln::agent
