// Black-box tests of `kiln check-docs` on the documents in testdata/docs, in real sandboxes.
#include <gtest/gtest.h>

#include <string>

#include "shell_test_util.h"

namespace {

using kiln::cli::testing::Outcome;
using kiln::cli::testing::Shell;

const std::string kKiln = KILN_BINARY;
const std::string kDocs = KILN_TESTDATA;

Outcome CheckDocs(const std::string& args) {
  return Shell(kKiln + " check-docs " + args + " 2>&1");
}

TEST(CheckDocsCli, AWorkingDocumentAndModulePassWithExitZero) {
  Outcome o = CheckDocs(kDocs + "/good.md " + kDocs + "/module.py");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("12 checked, 11 passed, 0 failed, 1 skipped"), std::string::npos) << o.out;
}

TEST(CheckDocsCli, EveryFailureIsReportedAtItsFileAndLineAndTheExitIsOne) {
  Outcome o = CheckDocs(kDocs + "/bad.md");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  const std::string bad = kDocs + "/bad.md";
  for (const std::string& want :
       {bad + ":3: FAIL " + bad + ":3 (python): JSONDecodeError",
        bad + ":9: FAIL " + bad + ":9 (python): timed out after 1 s",
        bad + ":14: FAIL " + bad + ":14 (bash): ExitStatus: 2 from `ls /no/such/dir`",
        bad + ":19: FAIL " + bad + ":19 (python): output differs (expected output at line 22)",
        bad + ":26: FAIL " + bad + ":26 (doctest): expected KeyError, got IndexError",
        std::string("6 checked, 1 passed, 5 failed, 0 skipped")})
    EXPECT_NE(o.out.find(want), std::string::npos) << want << "\n" << o.out;
}

TEST(CheckDocsCli, JunitIsWellFormedXmlWithOneSuitePerFile) {
  Outcome o = Shell(kKiln + " check-docs --format junit " + kDocs + "/bad.md " + kDocs +
                    "/good.md 2>/dev/null | python3 -c \"import sys, xml.dom.minidom as m; d = "
                    "m.parseString(sys.stdin.read()); s = d.getElementsByTagName('testsuite'); print(len(s), "
                    "[x.getAttribute('failures') for x in s], len(d.getElementsByTagName('skipped')))\"");
  EXPECT_EQ(o.out, "2 ['5', '0'] 1\n");
}

TEST(CheckDocsCli, GithubFormatWritesOneErrorAnnotationPerFailure) {
  Outcome o = Shell(kKiln + " check-docs --format github " + kDocs + "/bad.md 2>/dev/null");
  EXPECT_EQ(o.exit_code, 1);
  int errors = 0;
  for (size_t at = o.out.find("::error file="); at != std::string::npos;
       at = o.out.find("::error file=", at + 1))
    ++errors;
  EXPECT_EQ(errors, 5) << o.out;
  EXPECT_NE(o.out.find("::error file=" + kDocs + "/bad.md,line=9,"), std::string::npos) << o.out;
}

TEST(CheckDocsCli, DirectoriesAreSearchedSkippingHiddenOnes) {
  Outcome o = CheckDocs(kDocs + "/tree --jobs 2");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("tree/a.md: 1 snippets"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("tree/sub/b.md: 1 snippets"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find(".hidden"), std::string::npos) << o.out;
}

TEST(CheckDocsCli, BadArgumentsAreKilnErrorsNamingWhatWasWrong) {
  Outcome format = CheckDocs("--format xml " + kDocs + "/good.md");
  EXPECT_EQ(format.exit_code, 125);
  EXPECT_NE(format.out.find("unknown format 'xml' (text, junit or github)"), std::string::npos) << format.out;
  Outcome missing = CheckDocs(kDocs + "/no-such.md");
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_NE(missing.out.find("no-such.md: no such file or directory"), std::string::npos) << missing.out;
  Outcome kind = CheckDocs(kDocs + "/tree/sub/notes.txt");
  EXPECT_EQ(kind.exit_code, 1);
  EXPECT_NE(kind.out.find("not a Markdown (.md, .markdown) or Python (.py) file"), std::string::npos)
      << kind.out;
}

}  // namespace
