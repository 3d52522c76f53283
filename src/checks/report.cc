#include "kiln/checks/report.h"

#include <cstdio>
#include <map>

namespace kiln::checks {
namespace {

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

std::string Indented(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    out += "    " + std::string(text.substr(start, end - start)) + "\n";
    start = end + 1;
  }
  return out;
}

std::string Location(const CaseResult& c) {
  std::string where = c.file.empty() ? c.suite : c.file;
  if (c.line > 0) where += ":" + std::to_string(c.line);
  return where;
}

std::string Summary(const Report& r) {
  std::string s = r.tool + ": " + std::to_string(r.cases.size()) + " checked, " +
                  std::to_string(r.Count(Outcome::kPassed)) + " passed, " +
                  std::to_string(r.Count(Outcome::kFailed)) + " failed, " +
                  std::to_string(r.Count(Outcome::kSkipped)) + " skipped in " + Seconds(r.seconds) + " s";
  return s + "\n";
}

std::string RenderText(const Report& r) {
  std::string out;
  for (const CaseResult& c : r.cases) {
    if (c.outcome != Outcome::kFailed) continue;
    out += Location(c) + ": FAIL " + c.name + ": " + c.message + "\n" + Indented(c.details);
  }
  return out + Summary(r);
}

std::string JunitCase(const CaseResult& c) {
  std::string out = "    <testcase classname=\"" + XmlEscape(c.suite) + "\" name=\"" + XmlEscape(c.name) +
                    "\" time=\"" + Seconds(c.seconds) + "\"";
  if (!c.file.empty()) out += " file=\"" + XmlEscape(c.file) + "\"";
  if (c.line > 0) out += " line=\"" + std::to_string(c.line) + "\"";
  out += ">\n";
  if (c.outcome == Outcome::kFailed) {
    out += "      <failure message=\"" + XmlEscape(c.message) + "\">" + XmlEscape(c.details) + "</failure>\n";
  } else if (c.outcome == Outcome::kSkipped) {
    out += "      <skipped message=\"" + XmlEscape(c.message) + "\"/>\n";
  }
  if (c.outcome != Outcome::kFailed && !c.details.empty())
    out += "      <system-out>" + XmlEscape(c.details) + "</system-out>\n";
  return out + "    </testcase>\n";
}

std::string RenderJunit(const Report& r) {
  std::map<std::string, std::vector<const CaseResult*>> suites;
  std::vector<std::string> order;
  for (const CaseResult& c : r.cases) {
    if (!suites.count(c.suite)) order.push_back(c.suite);
    suites[c.suite].push_back(&c);
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"" + XmlEscape(r.tool) +
                    "\" tests=\"" + std::to_string(r.cases.size()) + "\" failures=\"" +
                    std::to_string(r.Count(Outcome::kFailed)) + "\" skipped=\"" +
                    std::to_string(r.Count(Outcome::kSkipped)) + "\" time=\"" + Seconds(r.seconds) + "\">\n";
  for (const std::string& name : order) {
    const std::vector<const CaseResult*>& cases = suites[name];
    int failures = 0, skipped = 0;
    double time = 0;
    for (const CaseResult* c : cases) {
      failures += c->outcome == Outcome::kFailed;
      skipped += c->outcome == Outcome::kSkipped;
      time += c->seconds;
    }
    out += "  <testsuite name=\"" + XmlEscape(name) + "\" tests=\"" + std::to_string(cases.size()) +
           "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\" skipped=\"" +
           std::to_string(skipped) + "\" time=\"" + Seconds(time) + "\">\n";
    for (const CaseResult* c : cases) out += JunitCase(*c);
    out += "  </testsuite>\n";
  }
  return out + "</testsuites>\n";
}

// GitHub's workflow-command escaping: data escapes %, CR, LF; property values also ':' and ','.
std::string GithubEscape(std::string_view text, bool property) {
  std::string out;
  for (char c : text) {
    if (c == '%')
      out += "%25";
    else if (c == '\r')
      out += "%0D";
    else if (c == '\n')
      out += "%0A";
    else if (property && c == ':')
      out += "%3A";
    else if (property && c == ',')
      out += "%2C";
    else
      out += c;
  }
  return out;
}

std::string RenderGithub(const Report& r) {
  std::string out;
  for (const CaseResult& c : r.cases) {
    if (c.outcome == Outcome::kPassed) continue;
    std::string props;
    if (!c.file.empty()) props += "file=" + GithubEscape(c.file, true) + ",";
    if (c.line > 0) props += "line=" + std::to_string(c.line) + ",";
    props += "title=" + GithubEscape(r.tool + ": " + c.name, true);
    std::string body = c.message + (c.details.empty() ? "" : "\n" + c.details);
    out += std::string(c.outcome == Outcome::kFailed ? "::error " : "::notice ") + props +
           "::" + GithubEscape(body, false) + "\n";
  }
  return out + Summary(r);
}

}  // namespace

int Report::Count(Outcome outcome) const {
  int n = 0;
  for (const CaseResult& c : cases) n += c.outcome == outcome;
  return n;
}

Result<Format> ParseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "junit") return Format::kJunit;
  if (name == "github") return Format::kGithub;
  return InvalidArgument("--format: unknown format '" + std::string(name) + "' (text, junit or github)");
}

std::string Render(const Report& report, Format format) {
  switch (format) {
    case Format::kJunit:
      return RenderJunit(report);
    case Format::kGithub:
      return RenderGithub(report);
    case Format::kText:
      break;
  }
  return RenderText(report);
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') break;  // not allowed in XML 1.0
        out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace kiln::checks
