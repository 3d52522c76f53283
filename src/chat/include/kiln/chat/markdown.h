// MarkdownRenderer: the Markdown-ish styling of a model's answer for a terminal (ANSI SGR escapes), fed the
// answer as it streams. It works line by line: a line is rendered once its newline arrives (Finish() renders
// the last, unterminated one), so a styled answer appears a line at a time.
//
// What it styles: ATX headings (`# Title`: bold, level 1 also underlined, the #s dropped), **bold** and
// __bold__, *italic* and _italic_, `inline code` (cyan, nothing styled inside), [links](url) (the text
// underlined, the address dimmed after it), fenced code blocks (``` or ~~~, with an optional language: set
// off by a dim rule naming the language and a dim bar before each line, the code itself unstyled), bullet
// lists (-, *, + become a bullet at the same indent), numbered lists (kept), block quotes (a dim bar) and
// thematic breaks (---, ***, ___: a rule). Everything else passes through unchanged; an unmatched marker
// (a lone * or `) is left as it was written.
//
// Plain output (stdout not a terminal, NO_COLOR set) does not use this class at all: the answer is printed
// as the model wrote it.
//
// Thread-safety: one renderer per answer stream, used from one thread.
#pragma once

#include <string>
#include <string_view>

namespace kiln::chat {

class MarkdownRenderer {
 public:
  // The styled text of the lines completed by `delta` (may be empty).
  std::string Feed(std::string_view delta);
  // The styled rest (a line without its newline, a code block left open) and a reset to the start state.
  std::string Finish();

 private:
  std::string RenderLine(std::string_view line);
  std::string RenderCodeFence(std::string_view info);

  std::string pending_;   // the current line, not yet ended
  bool in_code_ = false;  // inside a fenced code block
  std::string fence_;     // the fence that opened it ("```", "~~~~", ...)
};

// `text` rendered whole (Feed then Finish).
std::string RenderMarkdown(std::string_view text);

// The inline styling of one line of text (bold, italic, code, links), as used for paragraphs, list items,
// headings and quotes.
std::string RenderInline(std::string_view text);

}  // namespace kiln::chat
