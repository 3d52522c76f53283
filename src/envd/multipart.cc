#include "kiln/envd/multipart.h"

#include "kiln/base/strings.h"

namespace kiln::envd {
namespace {

// Reads a parameter value at `s` (a quoted-string with backslash escapes, or a token up to ';').
std::string ReadParamValue(std::string_view& s) {
  std::string out;
  if (!s.empty() && s[0] == '"') {
    size_t i = 1;
    for (; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out += s[i];
    }
    s.remove_prefix(std::min(i + 1, s.size()));
    return out;
  }
  size_t end = s.find(';');
  out = std::string(Trim(s.substr(0, end)));
  s.remove_prefix(end == std::string_view::npos ? s.size() : end);
  return out;
}

// The parameters of a header value like `form-data; name="file"; filename="a b.txt"` (names lower-cased).
std::vector<std::pair<std::string, std::string>> HeaderParams(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t semi = value.find(';');
  if (semi == std::string_view::npos) return out;
  value.remove_prefix(semi + 1);
  while (!value.empty()) {
    value = Trim(value);
    size_t eq = value.find('=');
    size_t semi2 = value.find(';');
    if (eq == std::string_view::npos || (semi2 != std::string_view::npos && semi2 < eq)) {
      if (semi2 == std::string_view::npos) break;
      value.remove_prefix(semi2 + 1);
      continue;
    }
    std::string key = ToLower(Trim(value.substr(0, eq)));
    value.remove_prefix(eq + 1);
    value = Trim(value);
    out.emplace_back(key, ReadParamValue(value));
    size_t next = value.find(';');
    if (next == std::string_view::npos) break;
    value.remove_prefix(next + 1);
  }
  return out;
}

Result<FormPart> ParsePart(std::string_view part) {
  FormPart out;
  if (StartsWith(part, "\r\n")) {  // a part with no header fields at all
    out.data = std::string(part.substr(2));
    return out;
  }
  size_t header_end = part.find("\r\n\r\n");
  if (header_end == std::string_view::npos) return InvalidArgument("multipart part without a header block");
  for (const std::string& line : Split(part.substr(0, header_end), '\n')) {
    std::string_view l = Trim(line);
    size_t colon = l.find(':');
    if (colon == std::string_view::npos || !EqualsIgnoreCase(Trim(l.substr(0, colon)), "content-disposition"))
      continue;
    for (auto& [key, value] : HeaderParams(l.substr(colon + 1))) {
      if (key == "name") out.name = value;
      if (key == "filename") out.filename = value;
    }
  }
  out.data = std::string(part.substr(header_end + 4));
  return out;
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  std::string_view type = Trim(content_type.substr(0, content_type.find(';')));
  if (!EqualsIgnoreCase(type, "multipart/form-data")) return InvalidArgument("not multipart/form-data");
  for (auto& [key, value] : HeaderParams(content_type)) {
    if (key == "boundary" && !value.empty() && value.size() <= 200) return value;
  }
  return InvalidArgument("multipart/form-data without a boundary");
}

Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary) {
  const std::string delimiter = "--" + std::string(boundary);
  std::vector<FormPart> parts;
  size_t pos = body.find(delimiter);  // anything before the first delimiter is preamble
  if (pos == std::string_view::npos) return InvalidArgument("multipart body without its boundary");
  pos += delimiter.size();
  const std::string next_delimiter = "\r\n" + delimiter;
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") {
      // Tolerate transport padding (spaces/tabs) after a delimiter, as RFC 2046 allows.
      while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
      if (body.substr(pos, 2) != "\r\n") return InvalidArgument("malformed multipart delimiter line");
    }
    pos += 2;
    size_t end = body.find(next_delimiter, pos);
    if (end == std::string_view::npos) return InvalidArgument("multipart body is truncated");
    KILN_ASSIGN_OR_RETURN(FormPart part, ParsePart(body.substr(pos, end - pos)));
    parts.push_back(std::move(part));
    pos = end + next_delimiter.size();
  }
}

}  // namespace kiln::envd
