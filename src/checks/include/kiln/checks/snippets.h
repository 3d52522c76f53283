// Snippets: the runnable pieces of a document, as `kiln check-docs` finds them.
//
// Markdown: fenced code blocks (``` or ~~~, three or more, at any indentation so that fences inside list
// items count; a closing fence is the same character at least as many times with nothing after it; CRLF line
// ends are accepted). The first word of the info string names the language: python/py/python3, bash/sh/
// shell/zsh (run by bash), javascript/js/node. Blocks of other languages are not snippets. A python (or
// pycon, or unlabelled) block whose first line starts with `>>>` is a doctest block, and `>>>` examples
// outside any fence (paragraphs, indented code) are doctests too, as `python -m doctest FILE.md` reads them.
//
// Directives: an HTML comment on a line of its own before a block, only blank lines or other directives in
// between: `<!-- kiln: WORD ... -->` with the words
//   skip                 do not run the block
//   expect-error[=TYPE]  the block must fail (raise TYPE, e.g. ValueError; any error without =TYPE);
//                        a bash block fails with a non-zero status (TYPE `ExitStatus`), a hang with
//                        TimeoutError
//   timeout=SECONDS      this block's time limit instead of the run's default
//   lang=LANGUAGE        run the block as LANGUAGE whatever its info string says
//   new-context          run the block (and the following ones of its language) in a fresh context
//   output               this block is the expected output of the block before it
// A block with info string `output` right after a snippet (blank lines between allowed) is its expected
// output too. An unknown word, a directive followed by no block and an unterminated fence are errors of
// the document, reported at their line (Snippet::error).
//
// Python files: the triple-quoted strings (docstrings and others) are searched for doctest examples; the
// module's own source runs first (Document::python_prelude) so that examples see its definitions. String
// escapes are not interpreted, as if every docstring were raw.
//
// Doctest examples: `>>> ` then `... ` continuation lines, the expected output up to a blank line or the next
// `>>>`, `<BLANKLINE>` for an empty line, a `Traceback (most recent call last):` output for an expected
// exception (its last line `Type: message` is compared), and the `# doctest:` options +SKIP, +ELLIPSIS and
// +NORMALIZE_WHITESPACE.
//
// Pure functions over text: thread-safe, no I/O, every input accepted (the fuzz target's contract).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::checks {

struct Directives {
  bool skip = false;
  bool new_context = false;
  std::optional<std::string> expect_error;  // "" = any error, else the error type's name
  int64_t timeout_ms = 0;                   // 0 = the run's default
  std::string language;                     // "" = the block's own
};

struct Snippet {
  enum class Kind { kCode, kDoctest };
  Kind kind = Kind::kCode;
  std::string language;  // "python", "bash" or "javascript" (doctests: "python")
  std::string code;
  int line = 0;  // 1-based: the opening fence of a block, the `>>>` line of an example
  // What the snippet must print. Doctests always have one ("" = nothing); blocks only when an expected
  // output block follows them.
  std::optional<std::string> expected_output;
  int expected_line = 0;
  bool ellipsis = false;              // doctest +ELLIPSIS: `...` in the expected output matches anything
  bool normalize_whitespace = false;  // doctest +NORMALIZE_WHITESPACE
  Directives directives;
  // Not empty: the document is wrong here (see the header comment); the snippet is not run and fails.
  std::string error;
};

struct Document {
  std::string path;
  std::vector<Snippet> snippets;  // in document order
  std::string python_prelude;     // Python files: the module's source, run before the first snippet
};

// The canonical name of a fenced block's language, or "" when kiln does not run it.
std::string NormalizeLanguage(std::string_view info_word);

Document ParseMarkdown(std::string_view text, std::string path);
Document ParsePythonFile(std::string_view text, std::string path);
// Doctest examples in `text`, whose first line is line `first_line` of the document.
std::vector<Snippet> ParseDoctests(std::string_view text, int first_line);

// True when `actual` is what `expected` asks for: lines compared without trailing whitespace, CR and
// trailing blank lines ignored, with the doctest options of `snippet`.
bool OutputMatches(const Snippet& snippet, std::string_view expected, std::string_view actual);

}  // namespace kiln::checks
