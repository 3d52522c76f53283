// CheckDocument on documents written for the test, in real sandboxes.
#include "kiln/checks/doc_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "kiln/runtime/runtime.h"

namespace kiln::checks {
namespace {

class DocCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<runtime::Runtime>> made = runtime::Runtime::Create();
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    runtime_ = std::move(*made).release();
  }
  static void TearDownTestSuite() {
    delete runtime_;
    runtime_ = nullptr;
  }

  // Outcome and message of each snippet, by line.
  std::map<int, CaseResult> Check(const Document& doc, int64_t timeout_ms = 20'000) {
    std::unique_ptr<SnippetExecutor> executor = NewSandboxExecutor(runtime_);
    CheckOptions options;
    options.default_timeout_ms = timeout_ms;
    std::map<int, CaseResult> by_line;
    for (CaseResult& r : CheckDocument(doc, *executor, options)) by_line[r.line] = r;
    return by_line;
  }

  static runtime::Runtime* runtime_;
};
runtime::Runtime* DocCheckTest::runtime_ = nullptr;

std::string Describe(const std::map<int, CaseResult>& results) {
  std::string s;
  for (const auto& [line, r] : results)
    s += std::to_string(line) + ": " + std::to_string(static_cast<int>(r.outcome)) + " " + r.message + "\n" +
         r.details;
  return s;
}

TEST_F(DocCheckTest, BlocksOfAFileShareOneContextAndAreJudgedByErrorAndOutput) {
  const char* md =
      "```python\nx = 20\ndef double(v):\n    return 2 * v\n```\n"             // 1
      "```python\nprint(double(x) + 2)\n```\n```output\n42\n```\n"             // 6
      "```python\nprint('wrong')\n```\n```output\nright\n```\n"                // 12
      "```python\nint('nope')\n```\n"                                          // 18
      "<!-- kiln: expect-error=ValueError -->\n```python\nint('nope')\n```\n"  // 22
      "<!-- kiln: expect-error=KeyError -->\n```python\nint('nope')\n```\n"    // 26
      "<!-- kiln: expect-error -->\n```python\npass\n```\n"                    // 30
      "<!-- kiln: new-context -->\n```python\nprint(x)\n```\n"                 // 34
      "```python\nx\n```\n```output\n20\n```\n";                               // 37
  std::map<int, CaseResult> r = Check(ParseMarkdown(md, "doc.md"));
  SCOPED_TRACE(Describe(r));
  EXPECT_EQ(r.at(1).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(6).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(12).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(12).message.find("output differs (expected output at line 15)"), std::string::npos);
  EXPECT_NE(r.at(12).details.find("got:\nwrong"), std::string::npos);
  EXPECT_EQ(r.at(18).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(18).message.find("ValueError"), std::string::npos);
  EXPECT_EQ(r.at(22).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(26).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(26).message.find("expected KeyError, got ValueError"), std::string::npos);
  EXPECT_EQ(r.at(30).outcome, Outcome::kFailed);
  EXPECT_EQ(r.at(34).outcome, Outcome::kFailed);  // the new context has no x
  EXPECT_NE(r.at(34).message.find("NameError"), std::string::npos);
  EXPECT_EQ(r.at(37).outcome, Outcome::kFailed);  // and it stays in use
}

TEST_F(DocCheckTest, BashBlocksFailOnAnyFailedCommandAndKeepTheirState) {
  const char* md =
      "```bash\nexport GREETING=hello\ncd /tmp\n```\n"                                                 // 1
      "```sh\necho \"$GREETING from $(pwd)\"\n```\n```output\nhello from /tmp\n```\n"                  // 5
      "```bash\nfalse\necho after\n```\n"                                                              // 11
      "<!-- kiln: expect-error=ExitStatus -->\n```bash\nexit_code() { return 3; }\nexit_code\n```\n";  // 15
  std::map<int, CaseResult> r = Check(ParseMarkdown(md, "doc.md"));
  SCOPED_TRACE(Describe(r));
  EXPECT_EQ(r.at(1).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(5).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(11).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(11).message.find("ExitStatus: 1 from `false`"), std::string::npos);
  EXPECT_NE(r.at(11).details.find("after"), std::string::npos);
  EXPECT_EQ(r.at(16).outcome, Outcome::kPassed);
}

TEST_F(DocCheckTest, AHangingSnippetTimesOutAndTheNextOneStillRuns) {
  const char* md =
      "<!-- kiln: timeout=1 -->\n```python\nwhile True: pass\n```\n"  // 2
      "<!-- kiln: timeout=1 expect-error=TimeoutError -->\n```python\nimport time; time.sleep(60)\n```\n"  // 6
      "<!-- kiln: timeout=1 -->\n```bash\nsleep 60\n```\n"        // 10
      "```python\nprint('alive')\n```\n```output\nalive\n```\n";  // 13
  std::map<int, CaseResult> r = Check(ParseMarkdown(md, "doc.md"));
  SCOPED_TRACE(Describe(r));
  EXPECT_EQ(r.at(2).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(2).message.find("timed out after 1 s"), std::string::npos);
  EXPECT_EQ(r.at(6).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(10).outcome, Outcome::kFailed);
  EXPECT_EQ(r.at(13).outcome, Outcome::kPassed);
}

TEST_F(DocCheckTest, ASnippetReadingTheHostsFilesSeesNothing) {
  char dir[] = "/tmp/kiln-doccheck-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string secret = std::string(dir) + "/secret.txt";
  std::ofstream(secret) << "host secret\n";
  std::string md = "<!-- kiln: expect-error=FileNotFoundError -->\n```python\nopen('" + secret +
                   "').read()\n```\n```bash\ntest ! -e '" + secret +
                   "' && ! grep -rqs 'host secret' /tmp\n```\n";
  std::map<int, CaseResult> r = Check(ParseMarkdown(md, "doc.md"));
  SCOPED_TRACE(Describe(r));
  EXPECT_EQ(r.at(2).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(5).outcome, Outcome::kPassed);
  std::remove(secret.c_str());
  rmdir(dir);
}

TEST_F(DocCheckTest, DoctestsInMarkdownAndPythonDocstrings) {
  const char* md =
      ">>> squares = [n * n for n in range(4)]\n>>> squares\n[0, 1, 4, 9]\n>>> 'text'\n'text'\n"
      ">>> print(None)\nNone\n>>> None\n>>> squares[9]\nTraceback (most recent call last):\n  ...\n"
      "IndexError: list index out of range\n>>> len(squares)\n5\n";
  std::map<int, CaseResult> r = Check(ParseMarkdown(md, "doc.md"));
  SCOPED_TRACE(Describe(r));
  for (int line : {1, 2, 4, 6, 8, 9}) EXPECT_EQ(r.at(line).outcome, Outcome::kPassed) << line;
  EXPECT_EQ(r.at(13).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(13).details.find("expected:\n5\ngot:\n4"), std::string::npos);

  const char* py =
      "def add(a, b):\n    \"\"\"\n    >>> add(2, 3)\n    5\n    >>> add('a', 1)\n    Traceback (most recent "
      "call last):\n    TypeError: can only concatenate str (not \"int\") to str\n    >>> add(1, 1)\n    3\n "
      "   "
      "\"\"\"\n    return a + b\n\nif __name__ == '__main__':\n    raise SystemExit('not as a script')\n";
  std::map<int, CaseResult> p = Check(ParsePythonFile(py, "/somewhere/adder.py"));
  SCOPED_TRACE(Describe(p));
  EXPECT_EQ(p.at(3).outcome, Outcome::kPassed);
  EXPECT_EQ(p.at(5).outcome, Outcome::kPassed);
  EXPECT_EQ(p.at(8).outcome, Outcome::kFailed);
}

TEST_F(DocCheckTest, JavascriptRunsWhereNodeIsElseIsSkippedSayingWhy) {
  const char* md =
      "```js\nconst n = 6 * 7\n```\n```javascript\nconsole.log(n)\n```\n```output\n42\n```\n"
      "```js\nthrow new RangeError('bad')\n```\n";
  std::map<int, CaseResult> r = Check(ParseMarkdown(md, "doc.md"));
  SCOPED_TRACE(Describe(r));
  if (r.at(1).outcome == Outcome::kSkipped) {
    EXPECT_NE(r.at(1).message.find("javascript: no node in the sandbox"), std::string::npos);
    GTEST_SKIP() << "no node here: " << r.at(1).message;
  }
  EXPECT_EQ(r.at(1).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(4).outcome, Outcome::kPassed);
  EXPECT_EQ(r.at(10).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(10).message.find("RangeError"), std::string::npos);
}

TEST_F(DocCheckTest, DocumentErrorsAndSkipsRunNothing) {
  const char* md = "<!-- kiln: skip -->\n```bash\nexit 1\n```\n<!-- kiln: bogus -->\n```python\nx\n```\n";
  std::map<int, CaseResult> r = Check(ParseMarkdown(md, "doc.md"));
  SCOPED_TRACE(Describe(r));
  EXPECT_EQ(r.at(2).outcome, Outcome::kSkipped);
  EXPECT_EQ(r.at(5).outcome, Outcome::kFailed);
  EXPECT_NE(r.at(5).message.find("unknown directive 'bogus'"), std::string::npos);
}

}  // namespace
}  // namespace kiln::checks
