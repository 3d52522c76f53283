#include "kiln/checks/snippets.h"

#include <cstdlib>
#include <sstream>

#include "kiln/base/strings.h"

namespace kiln::checks {
namespace {

struct Line {
  std::string_view text;  // without '\n' and a trailing '\r'
  int number;             // 1-based
};

std::vector<Line> SplitLines(std::string_view text, int first_line) {
  std::vector<Line> lines;
  size_t start = 0;
  int number = first_line;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (nl == std::string_view::npos && line.empty() && start == text.size() && start != 0) break;
    lines.push_back({line, number++});
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

size_t LeadingSpaces(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && (s[n] == ' ' || s[n] == '\t')) ++n;
  return n;
}

std::string_view StripIndent(std::string_view s, size_t indent) {
  size_t n = 0;
  while (n < indent && n < s.size() && (s[n] == ' ' || s[n] == '\t')) ++n;
  return s.substr(n);
}

struct Fence {
  size_t indent = 0;
  char mark = 0;
  size_t length = 0;
  std::string info;
};

std::optional<Fence> OpeningFence(std::string_view line) {
  Fence f;
  f.indent = LeadingSpaces(line);
  std::string_view rest = line.substr(f.indent);
  if (rest.empty() || (rest[0] != '`' && rest[0] != '~')) return std::nullopt;
  f.mark = rest[0];
  while (f.length < rest.size() && rest[f.length] == f.mark) ++f.length;
  if (f.length < 3) return std::nullopt;
  std::string_view info = Trim(rest.substr(f.length));
  if (f.mark == '`' && info.find('`') != std::string_view::npos) return std::nullopt;  // inline code
  f.info = std::string(info);
  return f;
}

bool ClosesFence(std::string_view line, const Fence& open) {
  std::string_view rest = line.substr(LeadingSpaces(line));
  size_t n = 0;
  while (n < rest.size() && rest[n] == open.mark) ++n;
  return n >= open.length && Trim(rest.substr(n)).empty();
}

std::string FirstWord(std::string_view info) {
  size_t start = 0;
  while (start < info.size() && (info[start] == '{' || info[start] == '.')) ++start;
  size_t end = start;
  while (end < info.size() && info[end] != ' ' && info[end] != '\t' && info[end] != '}' && info[end] != ',')
    ++end;
  return ToLower(info.substr(start, end - start));
}

// Parses the words of a `<!-- kiln: ... -->` comment into `d`; returns "" or what was wrong.
std::string ParseDirectiveWords(std::string_view words, Directives& d, bool& is_output) {
  std::istringstream in{std::string(words)};
  std::string word;
  while (in >> word) {
    size_t eq = word.find('=');
    std::string key = word.substr(0, eq), value = eq == std::string::npos ? "" : word.substr(eq + 1);
    if (key == "skip" && eq == std::string::npos) {
      d.skip = true;
    } else if (key == "new-context" && eq == std::string::npos) {
      d.new_context = true;
    } else if (key == "output" && eq == std::string::npos) {
      is_output = true;
    } else if (key == "expect-error") {
      d.expect_error = value;
    } else if (key == "timeout" && !value.empty()) {
      char* end = nullptr;
      double seconds = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(seconds > 0) || seconds > 86400)
        return "timeout: '" + value + "' is not a number of seconds in (0, 86400]";
      d.timeout_ms = static_cast<int64_t>(seconds * 1000 + 0.5);
    } else if (key == "lang" && !value.empty()) {
      if (NormalizeLanguage(value).empty())
        return "lang: kiln does not run '" + value + "' (python, bash or javascript)";
      d.language = NormalizeLanguage(value);
    } else {
      return "unknown directive '" + word +
             "' (skip, expect-error[=TYPE], timeout=SECONDS, lang=LANGUAGE, new-context, output)";
    }
  }
  return "";
}

Snippet ErrorAt(int line, std::string message) {
  Snippet s;
  s.line = line;
  s.error = std::move(message);
  return s;
}

bool IsDoctestStart(std::string_view line) {
  std::string_view rest = line.substr(LeadingSpaces(line));
  return StartsWith(rest, ">>>") && (rest.size() == 3 || rest[3] == ' ');
}

void ApplyDoctestOptions(Snippet& s) {
  size_t at = s.code.find("doctest:");
  if (at == std::string::npos) return;
  std::string_view opts = std::string_view(s.code).substr(at + 8);
  opts = opts.substr(0, opts.find('\n'));
  if (opts.find("+SKIP") != std::string_view::npos) s.directives.skip = true;
  if (opts.find("+ELLIPSIS") != std::string_view::npos) s.ellipsis = true;
  if (opts.find("+NORMALIZE_WHITESPACE") != std::string_view::npos) s.normalize_whitespace = true;
}

// An expected `Traceback (most recent call last):` output becomes expect_error (the type) and the
// expected output "Type: message".
void ApplyExpectedException(Snippet& s) {
  std::string& out = *s.expected_output;
  if (!StartsWith(out, "Traceback (most recent call last):") &&
      !StartsWith(out, "Traceback (innermost last):"))
    return;
  std::string exception;
  bool in_exception = false;
  size_t start = out.find('\n');
  while (start != std::string::npos && start < out.size()) {
    size_t end = out.find('\n', start + 1);
    std::string line = out.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1);
    if (!in_exception && !line.empty() && line[0] != ' ' && line[0] != '\t' && line != "...")
      in_exception = true;
    if (in_exception) exception += (exception.empty() ? "" : "\n") + line;
    start = end;
  }
  std::string type = exception.substr(0, exception.find(':'));
  if (size_t dot = type.rfind('.'); dot != std::string::npos) type = type.substr(dot + 1);
  s.directives.expect_error = Trim(type);
  out = exception;
}

class MarkdownParser {
 public:
  explicit MarkdownParser(std::string_view text) : lines_(SplitLines(text, 1)) {}

  std::vector<Snippet> Parse() {
    for (size_t i = 0; i < lines_.size();) i = Step(i);
    FlushProse();
    if (have_pending_) out_.push_back(ErrorAt(pending_line_, "kiln directive not followed by a code block"));
    return std::move(out_);
  }

 private:
  size_t Step(size_t i) {
    std::string_view line = lines_[i].text, trimmed = Trim(line);
    if (std::optional<Fence> fence = OpeningFence(line)) return Block(i, *fence);
    if (StartsWith(trimmed, "<!--")) return Comment(i);
    if (!trimmed.empty()) {
      if (have_pending_) {
        out_.push_back(ErrorAt(pending_line_, "kiln directive not followed by a code block (text at line " +
                                                  std::to_string(lines_[i].number) + ")"));
        ResetPending();
      }
      last_snippet_ = -1;
    }
    if (prose_.empty()) prose_start_ = lines_[i].number;
    prose_ += std::string(line) + "\n";
    return i + 1;
  }

  size_t Comment(size_t i) {
    FlushProse();
    size_t end = i;
    std::string body;
    while (end < lines_.size()) {
      body += std::string(lines_[end].text) + "\n";
      if (lines_[end].text.find("-->") != std::string_view::npos) break;
      ++end;
    }
    std::string_view inner = Trim(std::string_view(body).substr(body.find("<!--") + 4));
    if (size_t close = inner.find("-->"); close != std::string_view::npos) inner = inner.substr(0, close);
    inner = Trim(inner);
    if (StartsWith(inner, "kiln:")) {
      if (!have_pending_) pending_line_ = lines_[i].number;
      have_pending_ = true;
      std::string error = ParseDirectiveWords(inner.substr(5), pending_, pending_output_);
      if (!error.empty()) out_.push_back(ErrorAt(lines_[i].number, "kiln directive: " + error));
    }
    return end + 1;
  }

  size_t Block(size_t i, const Fence& fence) {
    FlushProse();
    size_t j = i + 1;
    while (j < lines_.size() && !ClosesFence(lines_[j].text, fence)) ++j;
    int line = lines_[i].number;
    if (j >= lines_.size()) {
      out_.push_back(ErrorAt(line, "unterminated code fence (" + std::string(fence.length, fence.mark) +
                                       " opened here is never closed)"));
      ResetPending();
      return lines_.size();
    }
    std::string content;
    for (size_t k = i + 1; k < j; ++k)
      content += std::string(StripIndent(lines_[k].text, fence.indent)) + "\n";
    Directives directives = pending_;
    bool output = pending_output_;
    ResetPending();
    std::string word = FirstWord(fence.info);
    if (output || word == "output") {
      Output(line, std::move(content));
    } else {
      Code(line, word, directives, std::move(content));
    }
    return j + 1;
  }

  void Output(int line, std::string content) {
    if (last_snippet_ < 0 || out_[last_snippet_].expected_output) {
      out_.push_back(ErrorAt(line, "expected-output block with no code block right before it"));
      return;
    }
    out_[last_snippet_].expected_output = std::move(content);
    out_[last_snippet_].expected_line = line;
    last_snippet_ = -1;
  }

  void Code(int line, const std::string& word, const Directives& directives, std::string content) {
    last_snippet_ = -1;
    std::string language = directives.language.empty() ? NormalizeLanguage(word) : directives.language;
    bool pythonish = language == "python" || word == "pycon" || (word.empty() && directives.language.empty());
    std::string_view first = Trim(content);
    if (pythonish && IsDoctestStart(first.substr(0, first.find('\n')))) {
      std::vector<Snippet> examples = ParseDoctests(content, line + 1);
      for (size_t k = 0; k < examples.size(); ++k) {
        Snippet& s = examples[k];
        s.directives.skip = s.directives.skip || directives.skip;
        s.directives.timeout_ms = directives.timeout_ms;
        s.directives.new_context = k == 0 && directives.new_context;
        out_.push_back(std::move(s));
      }
      return;
    }
    if (language.empty()) return;
    Snippet s;
    s.language = language;
    s.code = std::move(content);
    s.line = line;
    s.directives = directives;
    s.directives.language.clear();
    out_.push_back(std::move(s));
    last_snippet_ = static_cast<int>(out_.size()) - 1;
  }

  void FlushProse() {
    if (prose_.find(">>>") != std::string::npos) {
      for (Snippet& s : ParseDoctests(prose_, prose_start_)) out_.push_back(std::move(s));
      last_snippet_ = -1;
    }
    prose_.clear();
  }

  void ResetPending() {
    pending_ = Directives{};
    pending_output_ = false;
    have_pending_ = false;
  }

  std::vector<Line> lines_;
  std::vector<Snippet> out_;
  std::string prose_;
  int prose_start_ = 1;
  int last_snippet_ = -1;  // index of the code block an output block may follow
  Directives pending_;
  bool pending_output_ = false, have_pending_ = false;
  int pending_line_ = 0;
};

// The end of the string literal that starts at `i` (a quote), past its closing quote.
size_t SkipString(std::string_view text, size_t i, std::string_view quote) {
  size_t j = i + quote.size();
  while (j < text.size()) {
    if (text[j] == '\\') {
      j += 2;
    } else if (text.compare(j, quote.size(), quote) == 0) {
      return j + quote.size();
    } else if (quote.size() == 1 && text[j] == '\n') {
      return j;
    } else {
      ++j;
    }
  }
  return text.size();
}

}  // namespace

std::string NormalizeLanguage(std::string_view info_word) {
  std::string w = ToLower(info_word);
  if (w == "python" || w == "py" || w == "python3") return "python";
  if (w == "bash" || w == "sh" || w == "shell" || w == "zsh") return "bash";
  if (w == "javascript" || w == "js" || w == "node" || w == "mjs") return "javascript";
  return "";
}

std::vector<Snippet> ParseDoctests(std::string_view text, int first_line) {
  std::vector<Line> lines = SplitLines(text, first_line);
  std::vector<Snippet> out;
  for (size_t i = 0; i < lines.size();) {
    if (!IsDoctestStart(lines[i].text)) {
      ++i;
      continue;
    }
    size_t indent = LeadingSpaces(lines[i].text);
    Snippet s;
    s.kind = Snippet::Kind::kDoctest;
    s.language = "python";
    s.line = lines[i].number;
    auto source_of = [indent](std::string_view l) {
      return l.size() > indent + 4 ? l.substr(indent + 4) : "";
    };
    s.code = std::string(source_of(lines[i].text)) + "\n";
    for (++i; i < lines.size(); ++i) {
      std::string_view rest = StripIndent(lines[i].text, indent);
      if (!StartsWith(rest, "...") || (rest.size() > 3 && rest[3] != ' ')) break;
      s.code += std::string(source_of(lines[i].text)) + "\n";
    }
    std::string expected;
    for (; i < lines.size() && !Trim(lines[i].text).empty() && !IsDoctestStart(lines[i].text); ++i) {
      std::string_view l = StripIndent(lines[i].text, indent);
      expected += (Trim(l) == "<BLANKLINE>" ? std::string() : std::string(l)) + "\n";
    }
    s.expected_output = std::move(expected);
    ApplyDoctestOptions(s);
    ApplyExpectedException(s);
    out.push_back(std::move(s));
  }
  return out;
}

Document ParseMarkdown(std::string_view text, std::string path) {
  Document doc;
  doc.path = std::move(path);
  doc.snippets = MarkdownParser(text).Parse();
  return doc;
}

Document ParsePythonFile(std::string_view text, std::string path) {
  Document doc;
  doc.path = std::move(path);
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      bool triple = text.compare(i, 3, std::string(3, c)) == 0;
      size_t end = SkipString(text, i, triple ? std::string_view(text.data() + i, 3) : text.substr(i, 1));
      if (triple) {
        std::string_view body = text.substr(i + 3, end >= i + 6 ? end - i - 6 : text.size() - i - 3);
        if (body.find(">>>") != std::string_view::npos)
          for (Snippet& s : ParseDoctests(body, line)) doc.snippets.push_back(std::move(s));
      }
      for (size_t k = i; k < end; ++k) line += text[k] == '\n';
      i = end;
      continue;
    } else {
      ++i;
    }
    if (c == '\n') ++line;
  }
  if (!doc.snippets.empty()) doc.python_prelude = std::string(text);
  return doc;
}

namespace {

std::vector<std::string> NormalizedLines(std::string_view text) {
  std::vector<std::string> out;
  for (const Line& l : SplitLines(text, 1)) {
    std::string_view t = l.text;
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r')) t.remove_suffix(1);
    out.emplace_back(t);
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

std::string CollapseWhitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// doctest's ELLIPSIS: the pieces of `expected` between `...` appear in `actual` in order, the first at the
// start and the last at the end.
bool EllipsisMatch(std::string_view expected, std::string_view actual) {
  std::vector<std::string_view> pieces;
  for (size_t start = 0;;) {
    size_t at = expected.find("...", start);
    pieces.push_back(
        expected.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 3;
  }
  if (pieces.size() == 1) return expected == actual;
  if (!StartsWith(actual, pieces.front())) return false;
  size_t pos = pieces.front().size();
  const std::string_view last = pieces.back();
  if (actual.size() < pos + last.size() || actual.substr(actual.size() - last.size()) != last) return false;
  size_t end = actual.size() - last.size();
  for (size_t k = 1; k + 1 < pieces.size(); ++k) {
    size_t at = actual.find(pieces[k], pos);
    if (at == std::string_view::npos || at + pieces[k].size() > end) return false;
    pos = at + pieces[k].size();
  }
  return true;
}

}  // namespace

bool OutputMatches(const Snippet& snippet, std::string_view expected, std::string_view actual) {
  std::string want = Joined(NormalizedLines(expected)), got = Joined(NormalizedLines(actual));
  if (snippet.normalize_whitespace) {
    want = CollapseWhitespace(want);
    got = CollapseWhitespace(got);
  }
  return snippet.ellipsis ? EllipsisMatch(want, got) : want == got;
}

}  // namespace kiln::checks
