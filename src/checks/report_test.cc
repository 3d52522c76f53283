#include "kiln/checks/report.h"

#include <gtest/gtest.h>

namespace kiln::checks {
namespace {

Report Sample() {
  Report r;
  r.tool = "kiln check-docs";
  r.seconds = 1.5;
  r.cases.push_back({"a.md", "a.md:3 (python)", "a.md", 3, Outcome::kPassed, "", "", 0.1});
  r.cases.push_back({"a.md", "a.md:9 (bash)", "a.md", 9, Outcome::kFailed, "ExitStatus: 1 from `false`",
                     "output:\n<x> & \"y\"\n", 0.2});
  r.cases.push_back({"b.md", "b.md:1 (javascript)", "b.md", 1, Outcome::kSkipped, "no node, sorry", "", 0});
  return r;
}

TEST(Report, TextNamesEachFailureByFileAndLine) {
  std::string text = Render(Sample(), Format::kText);
  EXPECT_NE(text.find("a.md:9: FAIL a.md:9 (bash): ExitStatus: 1 from `false`\n    output:\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("a.md:3:"), std::string::npos);
  EXPECT_NE(text.find("3 checked, 1 passed, 1 failed, 1 skipped in 1.500 s"), std::string::npos);
}

TEST(Report, JunitGroupsByFileAndEscapes) {
  std::string xml = Render(Sample(), Format::kJunit);
  EXPECT_NE(xml.find("<testsuites name=\"kiln check-docs\" tests=\"3\" failures=\"1\" skipped=\"1\""),
            std::string::npos);
  EXPECT_NE(xml.find("<testsuite name=\"a.md\" tests=\"2\" failures=\"1\""), std::string::npos);
  EXPECT_NE(
      xml.find("<failure message=\"ExitStatus: 1 from `false`\">output:\n&lt;x&gt; &amp; &quot;y&quot;"),
      std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<skipped message=\"no node, sorry\"/>"), std::string::npos);
  EXPECT_EQ(XmlEscape(std::string("a\x01") + "b"), "ab");
}

TEST(Report, GithubAnnotationsEscapeDataAndProperties) {
  std::string gh = Render(Sample(), Format::kGithub);
  EXPECT_NE(gh.find("::error file=a.md,line=9,title=kiln check-docs%3A a.md%3A9 (bash)::ExitStatus: 1 from "
                    "`false`%0Aoutput:%0A<x> & \"y\"%0A\n"),
            std::string::npos)
      << gh;
  EXPECT_NE(gh.find("::notice file=b.md,line=1,"), std::string::npos);
}

TEST(Report, FormatNamesAreCheckedAndCounted) {
  EXPECT_TRUE(ParseFormat("junit").ok());
  EXPECT_NE(ParseFormat("xml").status().message().find("text, junit or github"), std::string::npos);
  EXPECT_TRUE(Sample().Failed());
  EXPECT_EQ(Sample().Count(Outcome::kSkipped), 1);
}

}  // namespace
}  // namespace kiln::checks
