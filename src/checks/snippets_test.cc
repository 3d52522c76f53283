#include "kiln/checks/snippets.h"

#include <gtest/gtest.h>

namespace kiln::checks {
namespace {

std::vector<Snippet> Md(std::string_view text) {
  return ParseMarkdown(text, "doc.md").snippets;
}

TEST(MarkdownSnippets, FindsRunnableFencesWithTheirLanguageAndLine) {
  auto s =
      Md("# Title\n\n```python\nx = 1\n```\n\ntext\n\n```sh\necho hi\n```\n```js\nconsole.log(1)\n```\n"
         "```text\nnot run\n```\n```\nplain\n```\n");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].language, "python");
  EXPECT_EQ(s[0].code, "x = 1\n");
  EXPECT_EQ(s[0].line, 3);
  EXPECT_EQ(s[1].language, "bash");
  EXPECT_EQ(s[1].line, 9);
  EXPECT_EQ(s[2].language, "javascript");
  EXPECT_EQ(s[2].code, "console.log(1)\n");
}

TEST(MarkdownSnippets, TildeFencesAndLongerBacktickFencesNestOtherFences) {
  auto s =
      Md("~~~python\nprint('~')\n~~~\n\n````markdown\n```python\nnot a block\n```\n````\n\n~~~~ bash\n"
         "cat <<X\n~~~\nX\n~~~~\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].code, "print('~')\n");
  EXPECT_EQ(s[1].language, "bash");
  EXPECT_EQ(s[1].code, "cat <<X\n~~~\nX\n");
}

TEST(MarkdownSnippets, FencesIndentedInListItemsLoseTheirIndentation) {
  auto s =
      Md("1. Install:\n\n   ```bash\n   echo one\n     indented\n   ```\n\n- item\n    ```python\n    x = 2\n"
         "    ```\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].code, "echo one\n  indented\n");
  EXPECT_EQ(s[0].line, 3);
  EXPECT_EQ(s[1].code, "x = 2\n");
}

TEST(MarkdownSnippets, CrlfLineEndsAreAccepted) {
  auto s = Md("```python\r\nprint(1)\r\n```\r\n```output\r\n1\r\n```\r\n");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].code, "print(1)\n");
  ASSERT_TRUE(s[0].expected_output);
  EXPECT_EQ(*s[0].expected_output, "1\n");
  EXPECT_EQ(s[0].expected_line, 4);
}

TEST(MarkdownSnippets, UnterminatedFenceIsAnErrorAtItsLine) {
  auto s = Md("```python\nprint(1)\n```\n\ntext\n```bash\necho never closed\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(s[0].error.empty());
  EXPECT_EQ(s[1].line, 6);
  EXPECT_NE(s[1].error.find("unterminated"), std::string::npos);
}

TEST(MarkdownSnippets, InlineTripleBackticksAreNotFences) {
  EXPECT_TRUE(Md("Use ```python``` fences.\n").empty());
}

TEST(MarkdownSnippets, DirectivesApplyToTheNextBlock) {
  auto s =
      Md("<!-- kiln: skip -->\n```bash\nrm -rf /\n```\n<!-- kiln: expect-error=ValueError timeout=2.5 -->\n\n"
         "```python\nraise ValueError\n```\n<!-- kiln: new-context -->\n<!-- kiln: lang=python -->\n```text\n"
         "y = 1\n```\n<!-- kiln: expect-error -->\n```sh\nfalse\n```\n");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_TRUE(s[0].directives.skip);
  EXPECT_EQ(s[1].directives.expect_error, "ValueError");
  EXPECT_EQ(s[1].directives.timeout_ms, 2500);
  EXPECT_FALSE(s[1].directives.skip);
  EXPECT_EQ(s[2].language, "python");
  EXPECT_TRUE(s[2].directives.new_context);
  EXPECT_EQ(s[3].directives.expect_error, "");
}

TEST(MarkdownSnippets, OrdinaryHtmlCommentsHideTheirContent) {
  auto s = Md("<!--\n```python\nhidden\n```\n-->\n```python\nshown\n```\n");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].code, "shown\n");
}

TEST(MarkdownSnippets, BadDirectivesAreErrorsNamingTheProblem) {
  auto s =
      Md("<!-- kiln: frobnicate -->\n```python\nx\n```\n<!-- kiln: timeout=soon -->\n```python\nx\n```\n"
         "<!-- kiln: skip -->\nsome text\n```python\nx\n```\n<!-- kiln: lang=cobol -->\n```\nx\n```\n"
         "<!-- kiln: skip -->\n");
  std::vector<std::string> errors;
  for (const Snippet& x : s)
    if (!x.error.empty()) errors.push_back(std::to_string(x.line) + " " + x.error);
  ASSERT_EQ(errors.size(), 5u) << ::testing::PrintToString(errors);
  EXPECT_NE(errors[0].find("1 kiln directive: unknown directive 'frobnicate'"), std::string::npos);
  EXPECT_NE(errors[1].find("timeout: 'soon'"), std::string::npos);
  EXPECT_NE(errors[2].find("9 kiln directive not followed by a code block"), std::string::npos);
  EXPECT_NE(errors[3].find("cobol"), std::string::npos);
  EXPECT_NE(errors[4].find("18 kiln directive not followed"), std::string::npos);
}

TEST(MarkdownSnippets, ExpectedOutputBlocksAttachToTheBlockBefore) {
  auto s =
      Md("```python\nprint(2)\n```\n\n```output\n2\n```\n<!-- kiln: output -->\n```text\nstray\n```\n"
         "```bash\necho a\n```\nprose between\n```output\na\n```\n");
  ASSERT_EQ(s.size(), 4u);
  ASSERT_TRUE(s[0].expected_output);
  EXPECT_EQ(*s[0].expected_output, "2\n");
  EXPECT_NE(s[1].error.find("expected-output block with no code block"), std::string::npos);
  EXPECT_FALSE(s[2].expected_output);
  EXPECT_NE(s[3].error.find("expected-output block"), std::string::npos);
}

TEST(MarkdownSnippets, DoctestsInFencesAndProse) {
  auto s =
      Md("```pycon\n>>> 1 + 1\n2\n>>> print('a')\na\n```\n\nSome text.\n\n    >>> x = 3\n    >>> x * 2\n    "
         "6\n");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].kind, Snippet::Kind::kDoctest);
  EXPECT_EQ(s[0].code, "1 + 1\n");
  EXPECT_EQ(*s[0].expected_output, "2\n");
  EXPECT_EQ(s[0].line, 2);
  EXPECT_EQ(s[1].line, 4);
  EXPECT_EQ(s[2].line, 10);
  EXPECT_EQ(*s[2].expected_output, "");
  EXPECT_EQ(s[3].code, "x * 2\n");
  EXPECT_EQ(*s[3].expected_output, "6\n");
}

TEST(Doctests, ContinuationLinesBlanklineOptionsAndExceptions) {
  auto s = ParseDoctests(
      ">>> def f():\n...     return 'a\\n\\nb'\n>>> print(f())\na\n<BLANKLINE>\nb\n"
      ">>> list(range(20))  # doctest: +ELLIPSIS\n[0, 1, ..., 19]\n>>> 1/0\nTraceback (most recent call "
      "last):\n"
      "  ...\nZeroDivisionError: division by zero\n>>> import os  # doctest: +SKIP\n",
      10);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].code, "def f():\n    return 'a\\n\\nb'\n");
  EXPECT_EQ(*s[1].expected_output, "a\n\nb\n");
  EXPECT_EQ(s[1].line, 12);
  EXPECT_TRUE(s[2].ellipsis);
  EXPECT_EQ(s[3].directives.expect_error, "ZeroDivisionError");
  EXPECT_EQ(*s[3].expected_output, "ZeroDivisionError: division by zero\n");
  EXPECT_TRUE(s[4].directives.skip);
}

TEST(PythonFiles, DocstringsAreSearchedAndTheModuleIsThePrelude) {
  std::string src =
      "# >>> not in a comment\n"
      "def add(a, b):\n"
      "    \"\"\"Adds.\n\n    >>> add(1, 2)\n    3\n    \"\"\"\n"
      "    return a + b\n"
      "s = '>>> not a docstring'\n"
      "class C:\n    '''\n    >>> C().x\n    5\n    '''\n    x = 5\n";
  Document doc = ParsePythonFile(src, "m.py");
  ASSERT_EQ(doc.snippets.size(), 2u);
  EXPECT_EQ(doc.snippets[0].code, "add(1, 2)\n");
  EXPECT_EQ(doc.snippets[0].line, 5);
  EXPECT_EQ(*doc.snippets[0].expected_output, "3\n");
  EXPECT_EQ(doc.snippets[1].line, 12);
  EXPECT_EQ(doc.python_prelude, src);
  EXPECT_TRUE(ParsePythonFile("x = 1\n", "n.py").python_prelude.empty());
}

TEST(OutputMatching, TrailingWhitespaceAndCrAreIgnoredEllipsisAndWhitespaceOptions) {
  Snippet plain;
  EXPECT_TRUE(OutputMatches(plain, "a\nb\n", "a  \r\nb\n\n"));
  EXPECT_FALSE(OutputMatches(plain, "a\nb\n", "a\nc\n"));
  EXPECT_FALSE(OutputMatches(plain, "", "something\n"));
  Snippet ellipsis;
  ellipsis.ellipsis = true;
  EXPECT_TRUE(OutputMatches(ellipsis, "[0, 1, ..., 19]", "[0, 1, 2, 3, 19]\n"));
  EXPECT_FALSE(OutputMatches(ellipsis, "[0, 1, ..., 19]", "[0, 2, 19]\n"));
  EXPECT_TRUE(OutputMatches(ellipsis, "<object at ...>", "<object at 0x7f>"));
  Snippet ws;
  ws.normalize_whitespace = true;
  EXPECT_TRUE(OutputMatches(ws, "[1,  2,\n 3]", "[1, 2, 3]"));
}

}  // namespace
}  // namespace kiln::checks
