#include "kiln/agent/judge.h"

#include <gtest/gtest.h>

namespace kiln::agent {
namespace {

constexpr char kNameError[] =
    "some log line\n"
    "Traceback (most recent call last):\n"
    "  File \"/home/user/main.py\", line 5, in <module>\n"
    "    main()\n"
    "  File \"/home/user/main.py\", line 3, in main\n"
    "    print(x)\n"
    "          ^\n"
    "NameError: name 'x' is not defined\n";

TEST(ParsePythonTraceback, NameError) {
  auto err = ParsePythonTraceback(kNameError);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->name, "NameError");
  EXPECT_EQ(err->value, "name 'x' is not defined");
  ASSERT_EQ(err->frames.size(), 2u);
  EXPECT_EQ(err->frames[0].file, "/home/user/main.py");
  EXPECT_EQ(err->frames[0].line, 5);
  EXPECT_EQ(err->frames[0].function, "<module>");
  EXPECT_EQ(err->frames[0].source, "main()");
  EXPECT_EQ(err->frames[1].source, "print(x)");
  EXPECT_EQ(err->offset, std::string("some log line\n").size());
  EXPECT_EQ(err->traceback.rfind("Traceback (most recent call last):", 0), 0u);
}

TEST(ParsePythonTraceback, SyntaxErrorWithoutHeader) {
  auto err = ParsePythonTraceback(
      "  File \"/home/user/main.py\", line 2\n"
      "    print(\"a\"\n"
      "         ^\n"
      "SyntaxError: '(' was never closed\n");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->name, "SyntaxError");
  EXPECT_EQ(err->value, "'(' was never closed");
  ASSERT_EQ(err->frames.size(), 1u);
  EXPECT_EQ(err->frames[0].line, 2);
  EXPECT_TRUE(err->frames[0].function.empty());
}

TEST(ParsePythonTraceback, ChainedExceptionsLastWinsAndDottedNames) {
  auto err = ParsePythonTraceback(
      "Traceback (most recent call last):\n"
      "  File \"main.py\", line 1, in <module>\n"
      "KeyError: 'a'\n"
      "\n"
      "During handling of the above exception, another exception occurred:\n"
      "\n"
      "Traceback (most recent call last):\n"
      "  File \"main.py\", line 3, in <module>\n"
      "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->name, "json.decoder.JSONDecodeError");
  EXPECT_EQ(err->value, "Expecting value: line 1 column 1 (char 0)");
}

TEST(ParsePythonTraceback, BareExceptionAndImportError) {
  auto err = ParsePythonTraceback(
      "Traceback (most recent call last):\n  File \"t.py\", line 9, in <module>\n"
      "    assert f(1) == 2\nAssertionError\n");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->name, "AssertionError");
  EXPECT_EQ(err->value, "");
  err = ParsePythonTraceback(
      "Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\n"
      "    import numpyy\nModuleNotFoundError: No module named 'numpyy'\n");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->name, "ModuleNotFoundError");
  EXPECT_EQ(err->value, "No module named 'numpyy'");
}

TEST(ParsePythonTraceback, NoneInOrdinaryOutput) {
  EXPECT_FALSE(ParsePythonTraceback("").has_value());
  EXPECT_FALSE(ParsePythonTraceback("warning: something\nall good\n").has_value());
}

TEST(TailBounded, KeepsTheEndWithinLineAndByteLimits) {
  std::string text;
  for (int i = 1; i <= 100; ++i) text += "line " + std::to_string(i) + "\n";
  std::string tail = TailBounded(text, 2048, 3);
  EXPECT_EQ(tail, "[... 97 lines omitted]\nline 98\nline 99\nline 100");
  tail = TailBounded(text, 10, 40);
  EXPECT_LE(tail.size(), 10u + 64u);
  EXPECT_NE(tail.find("line 100"), std::string::npos);
  EXPECT_NE(tail.find("partly"), std::string::npos);
  EXPECT_EQ(TailBounded("short\n"), "short");
}

TEST(TailBounded, NeverCutsUtf8Sequences) {
  const std::string text = std::string(100, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9";  // "ééé"
  const std::string tail = TailBounded(text, 5, 40);
  const std::string kept = tail.substr(tail.find('\n') + 1);
  EXPECT_EQ(kept, "\xc3\xa9\xc3\xa9");  // 5 bytes would split the first é: 4 kept
}

Execution Exec(int exit_code, std::string err, std::string out = "") {
  Execution e;
  e.exit_code = exit_code;
  e.stderr_data = std::move(err);
  e.stdout_data = std::move(out);
  return e;
}

TEST(Judge, Verdicts) {
  const Program plain = AssembleProgram("print(1)\n", "");
  EXPECT_EQ(Judge(Exec(0, ""), plain, false).kind, VerdictKind::kPassed);
  Verdict v = Judge(Exec(1, kNameError), plain, false);
  EXPECT_EQ(v.kind, VerdictKind::kError);
  EXPECT_EQ(v.error_name, "NameError");
  EXPECT_EQ(v.summary, "NameError: name 'x' is not defined");
  EXPECT_EQ(Judge(Exec(3, "bye\n"), plain, false).kind, VerdictKind::kNonZeroExit);
  Execution killed = Exec(137, "");
  killed.signal = 9;
  EXPECT_NE(Judge(killed, plain, false).summary.find("signal 9"), std::string::npos);
  Execution slow = Exec(137, "");
  slow.timed_out = true;
  EXPECT_EQ(Judge(slow, plain, false).kind, VerdictKind::kTimeout);
  Execution fat = Exec(137, "");
  fat.oom_killed = true;
  EXPECT_EQ(Judge(fat, plain, false).kind, VerdictKind::kOutOfMemory);
}

TEST(Judge, TestsFailWhenATracebackFrameIsInTheTestsOrTheSentinelIsMissing) {
  const Program p = AssembleProgram("def f(x):\n    return x\n", "assert f(1) == 2\n");  // code: lines 1-2
  Verdict v =
      Judge(Exec(1,
                 "Traceback (most recent call last):\n  File \"/home/user/main.py\", line 4, in <module>\n"
                 "    assert f(1) == 2\nAssertionError\n"),
            p, false);
  EXPECT_EQ(v.kind, VerdictKind::kTestsFailed);
  EXPECT_EQ(v.summary, "tests failed: AssertionError at `assert f(1) == 2`");
  // An error in the code itself (line 2) while the tests call it is still the tests failing.
  v = Judge(Exec(1,
                 "Traceback (most recent call last):\n  File \"/home/user/main.py\", line 4, in <module>\n"
                 "    assert f(1) == 2\n  File \"/home/user/main.py\", line 2, in f\n"
                 "ZeroDivisionError: division by zero\n"),
            p, false);
  EXPECT_EQ(v.kind, VerdictKind::kTestsFailed);
  // An error before the tests (line 1 at module level) is an error.
  v = Judge(Exec(1,
                 "Traceback (most recent call last):\n  File \"/home/user/main.py\", line 1, in <module>\n"
                 "NameError: name 'y' is not defined\n"),
            p, false);
  EXPECT_EQ(v.kind, VerdictKind::kError);
  // Exit 0 without the sentinel: the program left before the tests finished.
  EXPECT_EQ(Judge(Exec(0, ""), p, false).kind, VerdictKind::kTestsFailed);
  EXPECT_EQ(Judge(Exec(0, ""), p, true).kind, VerdictKind::kPassed);
}

TEST(BuildFeedback, NamesTheErrorAndBoundsEverySection) {
  std::string noisy;
  for (int i = 0; i < 500; ++i) noisy += "noise " + std::to_string(i) + "\n";
  const Execution e = Exec(1, noisy + kNameError, noisy);
  const Verdict v = Judge(e, AssembleProgram("print(x)\n", ""), false);
  const std::string fb = BuildFeedback(v, &e, ExecRequest{}, FeedbackLimits{2048, 40});
  EXPECT_NE(fb.find("NameError: name 'x' is not defined"), std::string::npos);
  EXPECT_NE(fb.find("Traceback (end)"), std::string::npos);
  EXPECT_NE(fb.find("Standard error (end)"), std::string::npos);
  EXPECT_NE(fb.find("noise 499"), std::string::npos);
  EXPECT_EQ(fb.find("noise 10\n"), std::string::npos);  // early lines dropped
  EXPECT_NE(fb.find("omitted"), std::string::npos);
  EXPECT_NE(fb.find("```python block"), std::string::npos);
  EXPECT_LT(fb.size(), 3 * 2048u + 1024u);
}

TEST(BuildFeedback, NoCodeAndTimeout) {
  EXPECT_NE(BuildFeedback(NoCodeVerdict(), nullptr, ExecRequest{}).find("no code"), std::string::npos);
  Execution slow = Exec(137, "");
  slow.timed_out = true;
  ExecRequest req;
  req.timeout_ms = 5000;
  const std::string fb = BuildFeedback(Judge(slow, AssembleProgram("x", ""), false), &slow, req);
  EXPECT_NE(fb.find("within 5.0 s"), std::string::npos);
}

}  // namespace
}  // namespace kiln::agent
