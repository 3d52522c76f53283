#include "kiln/agent/code.h"

#include <algorithm>
#include <vector>

#include "kiln/base/strings.h"

namespace kiln::agent {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

bool IsBlank(std::string_view line) {
  return Trim(line).empty();
}

// Joins lines, dropping leading and trailing blank lines (indentation of the first line is kept: a body-only
// completion is indented).
std::string JoinTrimmed(const std::vector<std::string_view>& lines) {
  size_t begin = 0, end = lines.size();
  while (begin < end && IsBlank(lines[begin])) ++begin;
  while (end > begin && IsBlank(lines[end - 1])) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    out.append(lines[i]);
    out.push_back('\n');
  }
  return out;
}

struct Fence {
  char ch = 0;
  size_t length = 0;
  size_t indent = 0;
  std::string info;
};

// A line that opens (or, with an empty info string, may close) a fenced block.
bool ParseFence(std::string_view line, Fence* fence) {
  size_t indent = 0;
  while (indent < line.size() && indent < 3 && line[indent] == ' ') ++indent;
  line.remove_prefix(indent);
  if (line.empty() || (line[0] != '`' && line[0] != '~')) return false;
  const char ch = line[0];
  size_t n = 0;
  while (n < line.size() && line[n] == ch) ++n;
  if (n < 3) return false;
  const std::string_view info = Trim(line.substr(n));
  if (ch == '`' && info.find('`') != std::string_view::npos) return false;  // inline code, not a fence
  *fence = Fence{ch, n, indent, std::string(info)};
  return true;
}

bool ClosesFence(std::string_view line, const Fence& open) {
  Fence f;
  return ParseFence(line, &f) && f.ch == open.ch && f.length >= open.length && f.info.empty();
}

struct Block {
  std::string language;
  std::string body;
};

std::string LanguageOf(std::string_view info) {
  const size_t space = info.find_first_of(" \t{");
  return ToLower(info.substr(0, space));
}

std::vector<Block> FencedBlocks(std::string_view reply) {
  const std::vector<std::string_view> lines = Lines(reply);
  std::vector<Block> blocks;
  for (size_t i = 0; i < lines.size(); ++i) {
    Fence open;
    if (!ParseFence(lines[i], &open)) continue;
    std::vector<std::string_view> body;
    size_t j = i + 1;
    for (; j < lines.size() && !ClosesFence(lines[j], open); ++j) {
      std::string_view l = lines[j];
      size_t strip = 0;  // content of an indented fence loses that indent (CommonMark)
      while (strip < open.indent && strip < l.size() && l[strip] == ' ') ++strip;
      body.push_back(l.substr(strip));
    }
    blocks.push_back(Block{LanguageOf(open.info), JoinTrimmed(body)});
    i = j;  // past the closing fence (or the end)
  }
  return blocks;
}

bool IsPythonLabel(std::string_view lang) {
  return lang == "python" || lang == "py" || lang == "python3" || lang == "py3";
}

size_t CountLines(std::string_view text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) +
         (!text.empty() && text.back() != '\n' ? 1 : 0);
}

bool StartsWithPythonKeyword(std::string_view line) {
  static constexpr std::string_view kStatements[] = {
      "assert", "async",  "await",   "break", "class", "continue", "def",   "del",    "elif",
      "else",   "except", "finally", "for",   "from",  "global",   "if",    "import", "nonlocal",
      "pass",   "raise",  "return",  "try",   "while", "with",     "yield", "lambda", "print"};
  const std::string_view first = line.substr(0, line.find_first_of(" \t:("));
  for (std::string_view k : kStatements) {
    if (first == k) return true;
  }
  return false;
}

// A line of English, not of Python: unindented, not a comment or a statement keyword, three words or
// more, and none of the characters Python code is made of.
bool IsProseLine(std::string_view line) {
  if (line.empty() || line[0] == ' ' || line[0] == '\t' || line[0] == '#') return false;
  if (StartsWithPythonKeyword(line)) return false;
  if (line.find_first_of("()[]{}=<>*/%&|^~@\"`\\;") != std::string_view::npos) return false;
  int words = 0;
  bool in_word = false;
  for (char c : line) {
    const bool space = c == ' ' || c == '\t';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words >= 3;
}

bool HasProseLine(std::string_view reply) {
  for (std::string_view line : Lines(reply)) {
    if (IsProseLine(line)) return true;
  }
  return false;
}

}  // namespace

std::string_view SourceName(ExtractedCode::Source s) {
  switch (s) {
    case ExtractedCode::Source::kPythonBlock:
      return "python_block";
    case ExtractedCode::Source::kOtherBlock:
      return "other_block";
    case ExtractedCode::Source::kWholeReply:
      return "whole_reply";
    case ExtractedCode::Source::kNone:
      break;
  }
  return "none";
}

ExtractedCode ExtractCode(std::string_view reply) {
  const std::vector<Block> blocks = FencedBlocks(reply);
  ExtractedCode out;
  const auto with_code = [](const Block& b) { return !Trim(b.body).empty(); };
  auto python = std::find_if(blocks.begin(), blocks.end(),
                             [&](const Block& b) { return IsPythonLabel(b.language) && with_code(b); });
  auto any = std::find_if(blocks.begin(), blocks.end(), with_code);
  if (python != blocks.end()) {
    out = {python->body, python->language, ExtractedCode::Source::kPythonBlock};
  } else if (any != blocks.end()) {
    out = {any->body, any->language, ExtractedCode::Source::kOtherBlock};
  } else if (blocks.empty() && !Trim(reply).empty() && !HasProseLine(reply)) {
    out = {JoinTrimmed(Lines(reply)), "", ExtractedCode::Source::kWholeReply};
  }
  return out;
}

bool DefinesFunction(std::string_view code, std::string_view name) {
  for (std::string_view line : Lines(code)) {
    if (StartsWith(line, "async ")) line.remove_prefix(6);
    if (!StartsWith(line, "def ")) continue;
    line = Trim(line.substr(4));
    if (!StartsWith(line, name)) continue;
    line = Trim(line.substr(name.size()));
    if (!line.empty() && line[0] == '(') return true;
  }
  return false;
}

// The stub's top-level import lines that `code` lacks (a whole function answer often drops the stub's
// `from typing import List`).
std::string MissingImports(std::string_view code, std::string_view stub) {
  std::string out;
  for (std::string_view line : Lines(stub)) {
    if (!StartsWith(line, "import ") && !StartsWith(line, "from ")) continue;
    if (code.find(line) == std::string_view::npos) out.append(line).push_back('\n');
  }
  return out;
}

std::string CompleteFromStub(std::string_view code, std::string_view stub, std::string_view entry_point) {
  if (DefinesFunction(code, entry_point)) {
    const std::string imports = MissingImports(code, stub);
    return imports.empty() ? std::string(code) : imports + "\n" + std::string(code);
  }
  const std::vector<std::string_view> lines = Lines(code);
  auto first = std::find_if(lines.begin(), lines.end(), [](std::string_view l) { return !IsBlank(l); });
  const bool unindented = first != lines.end() && (*first)[0] != ' ' && (*first)[0] != '\t';
  std::string out(stub);
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i + 1 == lines.size() && lines[i].empty()) break;  // the split's trailing empty piece
    if (unindented && !IsBlank(lines[i])) out.append("    ");
    out.append(lines[i]);
    out.push_back('\n');
  }
  return out;
}

Program AssembleProgram(std::string_view code, std::string_view tests) {
  Program p;
  p.source = std::string(code);
  if (!p.source.empty() && p.source.back() != '\n') p.source.push_back('\n');
  p.code_lines = static_cast<int>(CountLines(p.source));
  if (Trim(tests).empty()) return p;
  p.has_tests = true;
  p.source += "\n";
  p.source += tests;
  if (p.source.back() != '\n') p.source.push_back('\n');
  // sys.__stdout__: the sentinel must get out even if the code replaced sys.stdout.
  p.source += "__import__('sys').__stdout__.write('\\n" + std::string(kTestsPassedSentinel) +
              "\\n'); __import__('sys').__stdout__.flush()\n";
  return p;
}

bool StripSentinel(std::string* stdout_data) {
  const std::string line = "\n" + std::string(kTestsPassedSentinel) + "\n";
  size_t pos = stdout_data->rfind(line);
  if (pos != std::string::npos) {
    stdout_data->erase(pos, line.size());
    return true;
  }
  pos = stdout_data->rfind(kTestsPassedSentinel);
  if (pos == std::string::npos) return false;
  stdout_data->erase(pos, kTestsPassedSentinel.size());
  return true;
}

}  // namespace kiln::agent
