#include "kiln/chat/markdown.h"

#include <cctype>

namespace kiln::chat {
namespace {

constexpr std::string_view kBold = "\x1b[1m", kNoBold = "\x1b[22m";
constexpr std::string_view kItalic = "\x1b[3m", kNoItalic = "\x1b[23m";
constexpr std::string_view kUnderline = "\x1b[4m", kNoUnderline = "\x1b[24m";
constexpr std::string_view kCode = "\x1b[36m", kNoCode = "\x1b[39m";
constexpr std::string_view kDim = "\x1b[2m", kReset = "\x1b[0m";
constexpr std::string_view kBar = "\u2502 ";
constexpr std::string_view kBullet = "\u2022 ";

std::string Dim(std::string_view text) {
  return std::string(kDim) + std::string(text) + std::string(kReset);
}

std::string Rule(size_t width) {
  std::string out;
  for (size_t i = 0; i < width; ++i) out += "\u2500";
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t';
}
bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

size_t Indent(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && IsSpace(line[n])) ++n;
  return n;
}

std::string_view TrimEnd(std::string_view s) {
  while (!s.empty() && (IsSpace(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A run of `c` starting at `at`.
size_t RunLength(std::string_view s, size_t at, char c) {
  size_t n = 0;
  while (at + n < s.size() && s[at + n] == c) ++n;
  return n;
}

// `code` spans: the closing run of backticks must have the opening's length. Sets *end past it.
bool CodeSpan(std::string_view s, size_t at, std::string* out, size_t* end) {
  size_t ticks = RunLength(s, at, '`');
  for (size_t j = s.find('`', at + ticks); j != std::string_view::npos;
       j = s.find('`', j + RunLength(s, j, '`'))) {
    if (RunLength(s, j, '`') != ticks) continue;
    *out += std::string(kCode) + std::string(s.substr(at + ticks, j - at - ticks)) + std::string(kNoCode);
    *end = j + ticks;
    return true;
  }
  return false;
}

// **strong** / __strong__ and *emphasis* / _emphasis_: the content neither starts nor ends with a space,
// and underscores do not open or close inside a word (snake_case stays as written).
bool Emphasis(std::string_view s, size_t at, std::string* out, size_t* end) {
  char c = s[at];
  size_t width = RunLength(s, at, c) >= 2 ? 2 : 1;
  size_t from = at + width;
  if (from >= s.size() || IsSpace(s[from])) return false;
  if (c == '_' && at > 0 && IsWordChar(s[at - 1])) return false;
  std::string_view marker = s.substr(at, width);
  for (size_t j = s.find(marker, from + 1); j != std::string_view::npos; j = s.find(marker, j + 1)) {
    if (IsSpace(s[j - 1])) continue;
    if (width == 1 && RunLength(s, j, c) > 1) {  // part of a ** inside: not this one's end
      j += RunLength(s, j, c) - 1;
      continue;
    }
    if (c == '_' && j + width < s.size() && IsWordChar(s[j + width])) continue;
    std::string inner = RenderInline(s.substr(from, j - from));
    *out += width == 2 ? std::string(kBold) + inner + std::string(kNoBold)
                       : std::string(kItalic) + inner + std::string(kNoItalic);
    *end = j + width;
    return true;
  }
  return false;
}

// [text](address): the text underlined, the address dimmed after it.
bool Link(std::string_view s, size_t at, std::string* out, size_t* end) {
  size_t close = s.find("](", at + 1);
  if (close == std::string_view::npos || close == at + 1) return false;
  size_t paren = s.find(')', close + 2);
  if (paren == std::string_view::npos) return false;
  std::string_view text = s.substr(at + 1, close - at - 1);
  if (text.find('[') != std::string_view::npos) return false;
  *out += std::string(kUnderline) + RenderInline(text) + std::string(kNoUnderline) + " " +
          Dim("(" + std::string(s.substr(close + 2, paren - close - 2)) + ")");
  *end = paren + 1;
  return true;
}

// A list item's marker: "- ", "* ", "+ " (bullet) or "12. ", "3) " (numbered). Its length, 0 when none.
size_t ListMarker(std::string_view s, bool* numbered) {
  *numbered = false;
  if (s.size() >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && IsSpace(s[1])) return 2;
  size_t digits = 0;
  while (digits < s.size() && digits < 9 && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0 || digits + 1 >= s.size()) return 0;
  if ((s[digits] == '.' || s[digits] == ')') && IsSpace(s[digits + 1])) {
    *numbered = true;
    return digits + 2;
  }
  return 0;
}

// ---, ***, ___ (three or more of one, spaces between allowed).
bool ThematicBreak(std::string_view s) {
  if (s.empty() || (s[0] != '-' && s[0] != '*' && s[0] != '_')) return false;
  size_t count = 0;
  for (char c : s) {
    if (c == s[0]) {
      ++count;
    } else if (!IsSpace(c)) {
      return false;
    }
  }
  return count >= 3;
}

// The opening fence of a code block (``` or ~~~, 3 or more), or 0.
size_t FenceLength(std::string_view s) {
  if (s.empty() || (s[0] != '`' && s[0] != '~')) return 0;
  size_t n = RunLength(s, 0, s[0]);
  if (n < 3) return 0;
  if (s[0] == '`' && s.find('`', n) != std::string_view::npos) return 0;  // `` ```a``` `` is inline code
  return n;
}

}  // namespace

std::string RenderInline(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    size_t end = 0;
    if (c == '\\' && i + 1 < s.size() && std::ispunct(static_cast<unsigned char>(s[i + 1]))) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    bool styled = (c == '`' && CodeSpan(s, i, &out, &end)) ||
                  ((c == '*' || c == '_') && Emphasis(s, i, &out, &end)) ||
                  (c == '[' && Link(s, i, &out, &end));
    if (styled) {
      i = end;
      continue;
    }
    // An unmatched run is written as it is, whole (so ``` or ** is not retried a character at a time).
    size_t run = (c == '`' || c == '*' || c == '_') ? RunLength(s, i, c) : 1;
    out += s.substr(i, run);
    i += run;
  }
  return out;
}

std::string MarkdownRenderer::RenderCodeFence(std::string_view info) {
  std::string language(TrimEnd(info.substr(Indent(info))));
  return Dim("\u250c" + Rule(2) + (language.empty() ? "" : " " + language));
}

std::string MarkdownRenderer::RenderLine(std::string_view raw) {
  std::string_view line = TrimEnd(raw);
  size_t indent = Indent(line);
  std::string_view body = line.substr(indent);
  if (in_code_) {
    if (indent <= 3 && body.size() >= fence_.size() && body.substr(0, fence_.size()) == fence_ &&
        RunLength(body, 0, fence_[0]) == body.size()) {
      in_code_ = false;
      return Dim("\u2514" + Rule(2));
    }
    return Dim(kBar) + std::string(line);
  }
  if (indent <= 3) {
    if (size_t fence = FenceLength(body); fence > 0) {
      in_code_ = true;
      fence_.assign(fence, body[0]);
      return RenderCodeFence(body.substr(fence));
    }
    if (size_t level = RunLength(body, 0, '#');
        level >= 1 && level <= 6 && (level == body.size() || IsSpace(body[level]))) {
      std::string_view text = body.substr(level);
      text = text.substr(Indent(text));
      while (!text.empty() && text.back() == '#') text.remove_suffix(1);
      text = TrimEnd(text);
      return std::string(kBold) + (level == 1 ? std::string(kUnderline) : "") + RenderInline(text) +
             std::string(kReset);
    }
    if (ThematicBreak(body)) return Dim(Rule(40));
    if (!body.empty() && body[0] == '>') {
      std::string_view quoted = body.substr(1);
      if (!quoted.empty() && IsSpace(quoted[0])) quoted.remove_prefix(1);
      return Dim(kBar) + std::string(kDim) + RenderInline(quoted) + std::string(kReset);
    }
  }
  bool numbered = false;
  if (size_t marker = ListMarker(body, &numbered); marker > 0) {
    std::string lead(line.substr(0, indent));
    std::string_view rest = body.substr(marker);
    if (numbered)
      return lead + std::string(kBold) + std::string(body.substr(0, marker - 1)) + std::string(kNoBold) +
             " " + RenderInline(rest);
    return lead + std::string(kBullet) + RenderInline(rest);
  }
  return RenderInline(line);
}

std::string MarkdownRenderer::Feed(std::string_view delta) {
  pending_.append(delta);
  std::string out;
  size_t start = 0;
  for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
    out += RenderLine(std::string_view(pending_).substr(start, nl - start));
    out += '\n';
  }
  pending_.erase(0, start);
  return out;
}

std::string MarkdownRenderer::Finish() {
  std::string out = pending_.empty() ? "" : RenderLine(pending_);
  pending_.clear();
  in_code_ = false;
  fence_.clear();
  return out;
}

std::string RenderMarkdown(std::string_view text) {
  MarkdownRenderer renderer;
  std::string out = renderer.Feed(text);
  return out + renderer.Finish();
}

}  // namespace kiln::chat
