// Fuzz target: the Markdown, Python-docstring and doctest parsers of `kiln check-docs` on arbitrary bytes.
// Beyond not crashing, every snippet must point at a line of the input and no code may be longer than it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kiln/checks/snippets.h"

namespace {

void CheckInvariants(const kiln::checks::Document& doc, std::string_view text) {
  int lines = 1;
  for (char c : text) lines += c == '\n';
  for (const kiln::checks::Snippet& s : doc.snippets) {
    if (s.line < 1 || s.line > lines) std::abort();
    if (s.code.size() > text.size() + static_cast<size_t>(lines)) std::abort();
    if (s.expected_output) (void)kiln::checks::OutputMatches(s, *s.expected_output, s.code);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckInvariants(kiln::checks::ParseMarkdown(text, "fuzz.md"), text);
  CheckInvariants(kiln::checks::ParsePythonFile(text, "fuzz.py"), text);
  (void)kiln::checks::ParseDoctests(text, 1);
  return 0;
}
