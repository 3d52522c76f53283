#include "kiln/checks/project_tests.h"

#include <expat.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "kiln/base/strings.h"

namespace kiln::checks {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Contains(const fs::path& file, std::string_view needle) {
  std::error_code ec;
  return fs::is_regular_file(file, ec) && ReadFile(file).find(needle) != std::string::npos;
}

bool HasPythonTests(const fs::path& dir) {
  for (const fs::path& where : {dir, dir / "tests", dir / "test"}) {
    std::error_code ec;
    for (fs::directory_iterator it(where, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (it->path().extension() == ".py" &&
          (StartsWith(name, "test_") ||
           (name.size() > 8 && name.compare(name.size() - 8, 8, "_test.py") == 0)))
        return true;
    }
  }
  return false;
}

const std::string kUnittest = "python3 -m unittest discover -v";
const std::string kPytest = std::string(
                                "if python3 -c 'import pytest' 2>/dev/null; then python3 -m pytest -v "
                                "--junitxml=") +
                            kJunitPath +
                            "; else echo 'kiln test: no pytest in the sandbox, running unittest' >&2; " +
                            kUnittest + "; fi";

bool NpmHasTestScript(const fs::path& package_json) {
  std::string text = ReadFile(package_json);
  size_t scripts = text.find("\"scripts\"");
  return scripts != std::string::npos && text.find("\"test\"", scripts) != std::string::npos;
}

bool IgnoredDirectory(const std::string& name) {
  return name == ".git" || name == "node_modules" || name == "build" || name == "__pycache__";
}

}  // namespace

Result<TestCommand> DetectTestCommand(const std::string& dir) {
  fs::path d(dir);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) return NotFound(dir + ": not a directory");
  if (fs::exists(d / "package.json") && NpmHasTestScript(d / "package.json"))
    return TestCommand{"npm", "npm test"};
  if (fs::exists(d / "pytest.ini") || fs::exists(d / "conftest.py") ||
      Contains(d / "pyproject.toml", "[tool.pytest") || Contains(d / "setup.cfg", "[tool:pytest]") ||
      Contains(d / "tox.ini", "[pytest]"))
    return TestCommand{"pytest", kPytest};
  if (fs::exists(d / "CMakeLists.txt"))
    return TestCommand{"ctest",
                       std::string("cmake -S . -B /tmp/kiln-build && cmake --build /tmp/kiln-build -j2 && "
                                   "ctest --test-dir /tmp/kiln-build --output-on-failure --output-junit ") +
                           kJunitPath};
  for (const char* makefile : {"Makefile", "makefile", "GNUmakefile"}) {
    std::string text = ReadFile(d / makefile);
    if (StartsWith(text, "test:") || text.find("\ntest:") != std::string::npos)
      return TestCommand{"make", "make test"};
  }
  if (HasPythonTests(d)) return TestCommand{"unittest", kUnittest};
  return NotFound(dir +
                  ": no test command found (looked for package.json scripts.test, pytest configuration, "
                  "CMakeLists.txt, a Makefile test target, test_*.py files); give one with --cmd");
}

Result<ProjectSnapshot> SnapshotProject(const std::string& dir, int64_t max_bytes) {
  ProjectSnapshot snap;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return NotFound(dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Unavailable(dir + ": " + ec.message());
    const fs::directory_entry& e = *it;
    if (e.is_symlink(ec)) continue;
    if (e.is_directory(ec)) {
      if (IgnoredDirectory(e.path().filename().string())) it.disable_recursion_pending();
      continue;
    }
    if (!e.is_regular_file(ec)) continue;
    std::string rel = fs::relative(e.path(), dir, ec).string();
    snap.bytes += static_cast<int64_t>(e.file_size(ec));
    if (snap.bytes > max_bytes || snap.files.size() >= 20000)
      return ResourceExhausted(dir + ": more than " + std::to_string(max_bytes >> 20) +
                               " MiB or 20000 files to copy into the sandbox");
    snap.files[rel] = ReadFile(e.path());
    if ((e.status(ec).permissions() & fs::perms::owner_exec) != fs::perms::none)
      snap.executables.push_back(rel);
  }
  return snap;
}

namespace {

struct JunitState {
  std::vector<CaseResult> cases;
  std::vector<std::string> suites;  // enclosing <testsuite> names
  bool in_case = false, in_detail = false;
};

std::string Attr(const XML_Char** attrs, std::string_view name) {
  for (int i = 0; attrs[i] != nullptr; i += 2)
    if (name == attrs[i]) return attrs[i + 1];
  return "";
}

void OnStart(void* data, const XML_Char* element, const XML_Char** attrs) {
  auto* s = static_cast<JunitState*>(data);
  std::string_view name = element;
  if (name == "testsuite") {
    s->suites.push_back(Attr(attrs, "name"));
  } else if (name == "testcase") {
    CaseResult c;
    c.suite = Attr(attrs, "classname");
    if (c.suite.empty() && !s->suites.empty()) c.suite = s->suites.back();
    c.name = Attr(attrs, "name");
    c.file = Attr(attrs, "file");
    c.line = std::atoi(Attr(attrs, "line").c_str());
    c.seconds = std::atof(Attr(attrs, "time").c_str());
    s->cases.push_back(std::move(c));
    s->in_case = true;
  } else if (s->in_case && (name == "failure" || name == "error" || name == "skipped")) {
    CaseResult& c = s->cases.back();
    c.outcome = name == "skipped" ? Outcome::kSkipped : Outcome::kFailed;
    c.message = Attr(attrs, "message");
    if (c.message.empty()) c.message = name == "skipped" ? "skipped" : std::string(name);
    s->in_detail = true;
  } else if (s->in_case && (name == "system-out" || name == "system-err")) {
    s->in_detail = true;
  }
}

void OnEnd(void* data, const XML_Char* element) {
  auto* s = static_cast<JunitState*>(data);
  std::string_view name = element;
  if (name == "testsuite" && !s->suites.empty()) s->suites.pop_back();
  if (name == "testcase") s->in_case = false;
  if (name == "failure" || name == "error" || name == "skipped" || name == "system-out" ||
      name == "system-err")
    s->in_detail = false;
}

void OnText(void* data, const XML_Char* text, int len) {
  auto* s = static_cast<JunitState*>(data);
  if (s->in_case && s->in_detail && s->cases.back().details.size() < (1 << 20))
    s->cases.back().details.append(text, static_cast<size_t>(len));
}

}  // namespace

Result<std::vector<CaseResult>> ParseJunit(std::string_view xml) {
  if (xml.size() > (64u << 20)) return InvalidArgument("JUnit XML: larger than 64 MiB");
  std::unique_ptr<XML_ParserStruct, void (*)(XML_Parser)> parser(XML_ParserCreate("UTF-8"), XML_ParserFree);
  if (!parser) return Internal("JUnit: cannot create an XML parser");
  JunitState state;
  XML_SetUserData(parser.get(), &state);
  XML_SetElementHandler(parser.get(), OnStart, OnEnd);
  XML_SetCharacterDataHandler(parser.get(), OnText);
  if (XML_Parse(parser.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE) != XML_STATUS_OK) {
    return InvalidArgument("JUnit XML: " + std::string(XML_ErrorString(XML_GetErrorCode(parser.get()))) +
                           " at line " + std::to_string(XML_GetCurrentLineNumber(parser.get())));
  }
  return std::move(state.cases);
}

}  // namespace kiln::checks
