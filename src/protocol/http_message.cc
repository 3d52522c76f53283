// HTTP/1.1 messages: header fields, reason phrases, serialization and query strings (the parser is http.cc).
#include <string>

#include "kiln/base/strings.h"
#include "kiln/protocol/http.h"

namespace kiln::http {
namespace {

// Header values are copied onto the wire verbatim, so a CR or LF in one would let a caller's data split
// the response (header injection); they become spaces.
void AppendField(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ");
  for (char c : value) out->push_back(c == '\r' || c == '\n' || c == '\0' ? ' ' : c);
  out->append("\r\n");
}

bool StatusHasNoBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace

void Headers::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::Set(std::string name, std::string value) {
  std::erase_if(fields_, [&](const auto& f) { return EqualsIgnoreCase(f.first, name); });
  fields_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const auto& [n, v] : fields_) {
    if (EqualsIgnoreCase(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::Query(std::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string SerializeResponse(const Response& response) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " ";
  out.append(ReasonPhrase(response.status));
  out.append("\r\n");
  const bool no_body = StatusHasNoBody(response.status);
  for (const auto& [n, v] : response.headers.fields()) {
    if (no_body && EqualsIgnoreCase(n, "content-length")) continue;
    AppendField(&out, n, v);
  }
  if (!no_body && !response.headers.Has("content-length")) {
    AppendField(&out, "Content-Length", std::to_string(response.body.size()));
  }
  out.append("\r\n");
  if (!no_body) out.append(response.body);
  return out;
}

std::string SerializeRequest(const std::string& method, const std::string& target, const Headers& headers,
                             std::string_view body) {
  std::string out = method + " " + target + " HTTP/1.1\r\n";
  for (const auto& [n, v] : headers.fields()) AppendField(&out, n, v);
  const bool framed = headers.Has("content-length") || headers.Has("transfer-encoding");
  // POST/PUT/PATCH announce even an empty body: some servers answer 411 otherwise.
  if (!framed && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
    AppendField(&out, "Content-Length", std::to_string(body.size()));
  }
  out.append("\r\n");
  out.append(body);
  return out;
}

std::string EncodeChunk(std::string_view data) {
  if (data.empty()) return {};
  static const char kHex[] = "0123456789abcdef";
  std::string size;
  for (size_t n = data.size(); n > 0; n >>= 4) size.insert(size.begin(), kHex[n & 15]);
  std::string out;
  out.reserve(size.size() + data.size() + 4);
  out.append(size).append("\r\n").append(data).append("\r\n");
  return out;
}

bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  for (const std::string& part : Split(query, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key, value;
    if (!UrlDecode(std::string_view(part).substr(0, eq), &key, true)) return false;
    if (eq != std::string::npos && !UrlDecode(std::string_view(part).substr(eq + 1), &value, true)) {
      return false;
    }
    out->emplace_back(std::move(key), std::move(value));
  }
  return true;
}

}  // namespace kiln::http
