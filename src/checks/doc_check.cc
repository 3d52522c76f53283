#include "kiln/checks/doc_check.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kiln/base/strings.h"

namespace kiln::checks {
namespace {

// Ends a bash block's output: the status of its first failed command and that command.
constexpr std::string_view kBashStatusMark = "\036kiln-check-docs-status ";

std::string PyLiteral(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A doctest example runs as doctest runs it: compiled in 'single' mode, so that an expression's repr is
// printed (None is not).
std::string DoctestCell(const Snippet& s, const std::string& name) {
  return "def __kiln_doctest(src, name):\n"
         "    import sys\n"
         "    def show(value):\n"
         "        if value is not None:\n"
         "            print(repr(value))\n"
         "    saved, sys.displayhook = sys.displayhook, show\n"
         "    try:\n"
         "        exec(compile(src, name, 'single'), globals())\n"
         "    finally:\n"
         "        sys.displayhook = saved\n"
         "__kiln_doctest(" +
         PyLiteral(s.code) + ", " + PyLiteral(name) + ")\n";
}

std::string PythonPreludeCell(const Document& doc) {
  std::string module = std::filesystem::path(doc.path).stem().string();
  return "__kiln_saved_name = __name__\n__name__ = " + PyLiteral(module) + "\ntry:\n    exec(compile(" +
         PyLiteral(doc.python_prelude) + ", " + PyLiteral(doc.path) +
         ", 'exec'), globals())\nfinally:\n    __name__ = __kiln_saved_name\n";
}

// The ERR trap records the first failing command; the block's own traps on ERR are its business.
std::string BashCell(const std::string& code) {
  return "__kiln_rc=0; __kiln_cmd=\n"
         "trap '__kiln_s=$?; if [ \"$__kiln_rc\" = 0 ]; then __kiln_rc=$__kiln_s; __kiln_cmd=$BASH_COMMAND; "
         "fi' "
         "ERR\n" +
         code + "\ntrap - ERR\nprintf '" + std::string("\\036kiln-check-docs-status ") +
         "%s %s\\036' \"$__kiln_rc\" \"$__kiln_cmd\"\n";
}

struct Observed {
  std::string output;  // stdout, then the value's text
  std::string stderr_text;
  std::optional<client::ExecutionError> error;
};

Observed Observe(const Snippet& s, const client::Execution& run) {
  Observed o;
  o.output = run.Stdout();
  o.stderr_text = run.Stderr();
  o.error = run.error;
  if (s.language == "bash") {
    size_t mark = o.output.rfind(kBashStatusMark);
    if (mark != std::string::npos) {
      std::string status = o.output.substr(mark + kBashStatusMark.size());
      if (!status.empty() && status.back() == '\036') status.pop_back();
      o.output.resize(mark);
      std::string code = status.substr(0, status.find(' '));
      std::string command = status.find(' ') == std::string::npos ? "" : status.substr(status.find(' ') + 1);
      if (code != "0" && !o.error)
        o.error = client::ExecutionError{"ExitStatus", code + " from `" + command + "`", ""};
    }
  } else if (s.kind == Snippet::Kind::kCode) {
    std::string text = run.Text();
    if (!text.empty()) o.output += text + (text.back() == '\n' ? "" : "\n");
  }
  return o;
}

std::string ErrorLine(const client::ExecutionError& e) {
  return e.value.empty() ? e.name : e.name + ": " + e.value;
}

// "pkg.mod.Error: msg" -> "Error: msg": Python 3 prints qualified names, envd reports the bare one.
std::string WithoutModule(std::string_view line) {
  size_t colon = line.find(':');
  std::string_view type = line.substr(0, colon);
  size_t dot = type.rfind('.');
  return dot == std::string_view::npos ? std::string(line) : std::string(line.substr(dot + 1));
}

void Fail(CaseResult& r, std::string message, std::string details) {
  r.outcome = Outcome::kFailed;
  r.message = std::move(message);
  r.details = std::move(details);
}

std::string Labelled(const std::string& label, const std::string& text) {
  if (text.empty()) return "";
  return label + ":\n" + text + (text.back() == '\n' ? "" : "\n");
}

void Judge(const Snippet& s, const Observed& o, int64_t timeout_ms, CaseResult& r) {
  std::string shown = Labelled("output", o.output) + Labelled("stderr", o.stderr_text);
  const std::optional<std::string>& expect = s.directives.expect_error;
  if (o.error && o.error->name == "TimeoutError" && !(expect && *expect == "TimeoutError")) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", timeout_ms / 1000.0);
    return Fail(r, "timed out after " + std::string(limit) + " s", shown);
  }
  if (o.error && !expect) {
    return Fail(r, ErrorLine(*o.error), shown + Labelled("traceback", o.error->traceback));
  }
  if (expect) {
    if (!o.error)
      return Fail(r, "expected " + (expect->empty() ? "an error" : *expect) + ", nothing was raised", shown);
    if (!expect->empty() && o.error->name != *expect)
      return Fail(r, "expected " + *expect + ", got " + ErrorLine(*o.error),
                  shown + Labelled("traceback", o.error->traceback));
    if (s.kind == Snippet::Kind::kDoctest && s.expected_output &&
        !OutputMatches(s, WithoutModule(*s.expected_output), ErrorLine(*o.error)))
      return Fail(r, "wrong exception",
                  Labelled("expected", *s.expected_output) + Labelled("got", ErrorLine(*o.error)));
    return;
  }
  if (s.expected_output && !OutputMatches(s, *s.expected_output, o.output)) {
    std::string where =
        s.expected_line > 0 ? " (expected output at line " + std::to_string(s.expected_line) + ")" : "";
    return Fail(r, "output differs" + where,
                Labelled("expected", *s.expected_output) +
                    (o.output.empty() ? "got nothing\n" : Labelled("got", o.output)) +
                    Labelled("stderr", o.stderr_text));
  }
}

CaseResult NewCase(const Document& doc, const Snippet& s) {
  CaseResult r;
  r.suite = doc.path;
  r.file = doc.path;
  r.line = s.line;
  std::string kind = s.kind == Snippet::Kind::kDoctest ? "doctest"
                     : s.language.empty()              ? "document"
                                                       : s.language;
  r.name = doc.path + ":" + std::to_string(s.line) + " (" + kind + ")";
  return r;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The result of one snippet; `prelude_error` (a failed module import) fails every doctest of the file.
CaseResult CheckSnippet(const Document& doc, const Snippet& s, SnippetExecutor& executor,
                        const CheckOptions& options, const std::string& prelude_error) {
  CaseResult r = NewCase(doc, s);
  auto start = std::chrono::steady_clock::now();
  if (!s.error.empty()) {
    Fail(r, s.error, "");
    return r;
  }
  if (s.directives.skip) {
    r.outcome = Outcome::kSkipped;
    r.message = "skipped by a directive";
    return r;
  }
  if (std::string why = executor.Unavailable(s.language); !why.empty()) {
    r.outcome = Outcome::kSkipped;
    r.message = why;
    return r;
  }
  if (!prelude_error.empty()) {
    Fail(r, "the module failed to load: " + prelude_error, "");
    return r;
  }
  if (s.directives.new_context) {
    if (Status st = executor.NewContext(s.language); !st.ok()) {
      Fail(r, "cannot start a new context: " + st.message(), "");
      return r;
    }
  }
  int64_t timeout_ms = s.directives.timeout_ms > 0 ? s.directives.timeout_ms : options.default_timeout_ms;
  std::string code = s.kind == Snippet::Kind::kDoctest ? DoctestCell(s, r.name)
                     : s.language == "bash"            ? BashCell(s.code)
                                                       : s.code;
  Result<client::Execution> run = executor.Execute(s.language, code, timeout_ms);
  r.seconds = SecondsSince(start);
  if (!run.ok()) {
    Fail(r,
         run.status().code() == Code::kDeadlineExceeded ? "timed out: " + run.status().message()
                                                        : run.status().message(),
         "");
    return r;
  }
  Judge(s, Observe(s, *run), timeout_ms, r);
  return r;
}

}  // namespace

std::vector<CaseResult> CheckDocument(const Document& doc, SnippetExecutor& executor,
                                      const CheckOptions& options) {
  std::vector<CaseResult> results;
  std::string prelude_error;
  if (!doc.python_prelude.empty()) {
    Result<client::Execution> loaded =
        executor.Execute("python", PythonPreludeCell(doc), options.default_timeout_ms);
    if (!loaded.ok())
      prelude_error = loaded.status().message();
    else if (loaded->error)
      prelude_error = ErrorLine(*loaded->error);
  }
  for (const Snippet& s : doc.snippets)
    results.push_back(CheckSnippet(doc, s, executor, options, prelude_error));
  return results;
}

Result<Document> LoadDocument(const std::string& path) {
  std::string ext = ToLower(std::filesystem::path(path).extension().string());
  bool markdown = ext == ".md" || ext == ".markdown" || ext == ".mdx";
  if (!markdown && ext != ".py")
    return InvalidArgument(path + ": not a Markdown (.md, .markdown) or Python (.py) file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return markdown ? ParseMarkdown(text.str(), path) : ParsePythonFile(text.str(), path);
}

Result<std::vector<std::string>> ExpandPaths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      if (!fs::exists(path, ec)) return NotFound(path + ": no such file or directory");
      files.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) return NotFound(path + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return Unavailable(path + ": " + ec.message());
      std::string name = it->path().filename().string();
      if (it->is_directory(ec)) {
        if (StartsWith(name, ".") || name == "build" || name == "node_modules")
          it.disable_recursion_pending();
        continue;
      }
      std::string ext = ToLower(it->path().extension().string());
      if (ext == ".md" || ext == ".markdown" || ext == ".py") found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace kiln::checks
