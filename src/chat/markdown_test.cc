// The terminal rendering of a model's Markdown answer: each construct styled, the plain text kept, and the
// same result whether the answer arrives whole or a character at a time.
#include "kiln/chat/markdown.h"

#include <gtest/gtest.h>

namespace kiln::chat {
namespace {

// The escapes as readable tags, so that expectations say what is styled.
std::string Tags(std::string s) {
  const std::pair<std::string, std::string> names[] = {
      {"\x1b[1m", "<b>"}, {"\x1b[22m", "</b>"}, {"\x1b[3m", "<i>"},  {"\x1b[23m", "</i>"},
      {"\x1b[4m", "<u>"}, {"\x1b[24m", "</u>"}, {"\x1b[36m", "<c>"}, {"\x1b[39m", "</c>"},
      {"\x1b[2m", "<d>"}, {"\x1b[0m", "</>"},
  };
  for (const auto& [escape, tag] : names)
    for (size_t at = s.find(escape); at != std::string::npos; at = s.find(escape, at + tag.size()))
      s.replace(at, escape.size(), tag);
  return s;
}

std::string Render(const std::string& text) {
  return Tags(RenderMarkdown(text));
}

TEST(MarkdownTest, HeadingsAreBoldAndLoseTheirHashes) {
  EXPECT_EQ(Render("# Results\n"), "<b><u>Results</>\n");
  EXPECT_EQ(Render("### The `mean` ###\n"), "<b>The <c>mean</c></>\n");
  EXPECT_EQ(Render("#hashtag\n"), "#hashtag\n");
  EXPECT_EQ(Render("####### seven\n"), "####### seven\n");
}

TEST(MarkdownTest, InlineBoldItalicCodeAndLinks) {
  EXPECT_EQ(Render("a **bold** and __strong__ word"), "a <b>bold</b> and <b>strong</b> word");
  EXPECT_EQ(Render("an *italic* and _slanted_ one"), "an <i>italic</i> and <i>slanted</i> one");
  EXPECT_EQ(Render("**bold with *italic* inside**"), "<b>bold with <i>italic</i> inside</b>");
  EXPECT_EQ(Render("run `df.describe()` now"), "run <c>df.describe()</c> now");
  EXPECT_EQ(Render("``a ` tick``"), "<c>a ` tick</c>");
  EXPECT_EQ(Render("`**not bold**`"), "<c>**not bold**</c>");
  EXPECT_EQ(Render("see [the docs](https://example.com/x)"),
            "see <u>the docs</u> <d>(https://example.com/x)</>");
}

TEST(MarkdownTest, UnmatchedMarkersAndWordsWithUnderscoresStayAsWritten) {
  EXPECT_EQ(Render("2 * 3 * 4 = 24"), "2 * 3 * 4 = 24");
  EXPECT_EQ(Render("call my_long_function_name"), "call my_long_function_name");
  EXPECT_EQ(Render("a lone ` tick and ** stars"), "a lone ` tick and ** stars");
  EXPECT_EQ(Render("[not a link] (x)"), "[not a link] (x)");
  EXPECT_EQ(Render("\\*literal\\*"), "*literal*");
}

TEST(MarkdownTest, FencedCodeIsSetOffAndNotStyled) {
  EXPECT_EQ(Render("Here:\n```python\nx = **2**\n  print(`x`)\n```\nDone.\n"),
            "Here:\n<d>\u250c\u2500\u2500 python</>\n<d>\u2502 </>x = **2**\n<d>\u2502 </>  print(`x`)\n"
            "<d>\u2514\u2500\u2500</>\nDone.\n");
  // A ~~~ block is closed by ~~~ only, and a longer fence by one at least as long.
  EXPECT_EQ(Render("~~~~\n```\n~~~~\n"),
            "<d>\u250c\u2500\u2500</>\n<d>\u2502 </>```\n<d>\u2514\u2500\u2500</>\n");
  // ```a``` on one line is inline code, not a fence.
  EXPECT_EQ(Render("```a```\n"), "<c>a</c>\n");
}

TEST(MarkdownTest, ListsQuotesAndRules) {
  EXPECT_EQ(Render("- one\n* two\n  + **nested**\n"), "\u2022 one\n\u2022 two\n  \u2022 <b>nested</b>\n");
  EXPECT_EQ(Render("1. first\n10) tenth\n"), "<b>1.</b> first\n<b>10)</b> tenth\n");
  EXPECT_EQ(Render("> quoted *text*\n"), "<d>\u2502 </><d>quoted <i>text</i></>\n");
  std::string rule;
  for (int i = 0; i < 40; ++i) rule += "\u2500";
  EXPECT_EQ(Render("---\n* * *\n"), "<d>" + rule + "</>\n<d>" + rule + "</>\n");
}

TEST(MarkdownTest, StreamedOneCharacterAtATimeMatchesWhole) {
  const std::string answer =
      "# Summary\nThe **mean** is `3.5`.\n\n```python\ndf.describe()\n```\n- a\n- b with *style*\nlast line";
  MarkdownRenderer renderer;
  std::string streamed;
  for (char c : answer) {
    std::string piece = renderer.Feed(std::string_view(&c, 1));
    // Nothing of a line is shown before its newline.
    if (!piece.empty()) {
      EXPECT_EQ(piece.back(), '\n');
    }
    streamed += piece;
  }
  streamed += renderer.Finish();
  EXPECT_EQ(streamed, RenderMarkdown(answer));
  EXPECT_NE(Tags(streamed).find("last line"), std::string::npos);
  // Finish resets: a new answer does not start inside the old code block.
  EXPECT_EQ(renderer.Feed("```\n"), RenderMarkdown("```\n"));
  EXPECT_EQ(renderer.Finish(), "");
  EXPECT_EQ(Tags(renderer.Feed("plain\n")), "plain\n");
}

}  // namespace
}  // namespace kiln::chat
