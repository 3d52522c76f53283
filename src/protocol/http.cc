#include "kiln/protocol/http.h"

#include <algorithm>
#include <cctype>

#include "kiln/base/strings.h"

namespace kiln::http {
namespace {

// A chunk-size line is a few hex digits plus optional extensions; anything longer is an attack or garbage.
constexpr size_t kMaxChunkLine = 4096;

bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTchar);
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Field values may hold any visible byte (obs-text included) and SP/HT, never other controls.
bool IsFieldValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Lower-cased, trimmed, non-empty elements of every `name` field's comma-separated list.
std::vector<std::string> ListValues(const Headers& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers.fields()) {
    if (!EqualsIgnoreCase(n, name)) continue;
    for (const std::string& part : Split(v, ',')) {
      std::string_view t = TrimOws(part);
      if (!t.empty()) out.push_back(ToLower(t));
    }
  }
  return out;
}

bool HasToken(const Headers& headers, std::string_view name, std::string_view token) {
  std::vector<std::string> v = ListValues(headers, name);
  return std::find(v.begin(), v.end(), token) != v.end();
}

bool StatusHasNoBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// Fills request->path and ->query from the request target; the problem on failure.
std::optional<std::string> ParseTarget(std::string_view target, Request* request) {
  for (char ch : target) {
    auto u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u >= 0x7f) return "invalid character in request target";
  }
  // Absolute form ("http://host/p?q"), which proxies send: keep only the path and query.
  if (size_t scheme = target.find("://"); target.front() != '/' && scheme != std::string_view::npos) {
    size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  } else if (target.front() != '/' && !(target == "*" && request->method == "OPTIONS")) {
    return "request target is not an absolute path";
  }
  target = target.substr(0, target.find('#'));
  size_t qmark = target.find('?');
  // A NUL in a path can only be an attack on whoever turns it into a C string.
  if (!UrlDecode(target.substr(0, qmark), &request->path) || request->path.find('\0') != std::string::npos) {
    return "malformed percent escape in path";
  }
  if (qmark != std::string_view::npos && !ParseQuery(target.substr(qmark + 1), &request->query)) {
    return "malformed percent escape in query";
  }
  return std::nullopt;
}

}  // namespace

Parser::Parser(Kind kind, Limits limits) : kind_(kind), limits_(limits), body_limit_(limits.max_body_bytes) {}

void Parser::Fail(int status, std::string message) {
  state_ = State::kError;
  error_ = {status, std::move(message)};
}

void Parser::Reset() {
  Parser fresh(kind_, limits_);
  fresh.pause_after_headers_ = pause_after_headers_;
  *this = std::move(fresh);
}

void Parser::LimitBody(uint64_t max_bytes) {
  body_limit_ = max_bytes;
  // remaining_ is still the declared length: nothing of the body has been consumed before this call.
  if (state_ == State::kNeedMore && headers_done_ && !chunked_ && !until_close_ && body_total_ == 0 &&
      remaining_ > body_limit_) {
    Fail(413, "Content-Length larger than the body limit");
  }
}

std::string Parser::TakeBody() {
  return std::exchange(body(), std::string());
}

size_t Parser::Feed(std::string_view data) {
  size_t total = 0;
  while (state_ == State::kNeedMore && total < data.size()) {
    std::string_view rest = data.substr(total);
    const bool had_headers = headers_done_;
    size_t n = headers_done_ ? FeedBody(rest) : FeedHeaders(rest);
    total += n;
    if (n == 0 || (pause_after_headers_ && !had_headers && headers_done_)) break;
  }
  return total;
}

void Parser::FeedEof() {
  if (state_ != State::kNeedMore) return;
  if (headers_done_ && until_close_) {
    state_ = State::kComplete;
    return;
  }
  Fail(400, headers_done_ ? "truncated: connection closed in the middle of the body"
                          : "truncated: connection closed in the middle of the header");
}

size_t Parser::FeedHeaders(std::string_view data) {
  size_t skipped = 0;
  // RFC 9112 §2.2: a server should ignore empty lines received before the request line.
  if (head_.empty() && kind_ == Kind::kRequest) {
    while (skipped < data.size() && (data[skipped] == '\r' || data[skipped] == '\n')) ++skipped;
    data.remove_prefix(skipped);
    if (data.empty()) return skipped;
  }
  const size_t old = head_.size();
  // Never buffer more than one byte past the limit: that is enough to know the limit was exceeded.
  // (Saturated: with no limit, SIZE_MAX, limit + 1 would wrap to 0 and the parser would wait forever for a
  // head.)
  const size_t room = limits_.max_header_bytes - std::min(old, limits_.max_header_bytes);
  head_.append(data.substr(0, room == SIZE_MAX ? room : room + 1));
  size_t pos = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  // Lines end in CRLF only: a bare LF would otherwise leave the parser waiting for a CRLFCRLF that never
  // comes, holding the connection until a timeout with no answer. (Bytes past the head are body.)
  const size_t scan_end = pos == std::string::npos ? head_.size() : pos + 4;
  for (size_t i = old; i < scan_end; ++i) {
    if (head_[i] == '\n' && (i == 0 || head_[i - 1] != '\r')) {
      Fail(400, "bare LF in the header block (lines must end in CRLF)");
      return skipped + (head_.size() - old);
    }
  }
  if (pos == std::string::npos) {
    if (head_.size() > limits_.max_header_bytes) Fail(431, "header block larger than the limit");
    return skipped + (head_.size() - old);
  }
  const size_t end = pos + 4;
  if (end > limits_.max_header_bytes) {
    Fail(431, "header block larger than the limit");
    return skipped + (head_.size() - old);
  }
  head_.resize(end);
  headers_done_ = ParseHeaderBlock();
  return skipped + (end - old);
}

bool Parser::ParseHeaderBlock() {
  std::string_view block(head_.data(), head_.size() - 4);
  size_t eol = block.find("\r\n");
  std::string_view start = block.substr(0, eol);
  std::string_view fields = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
  if (!ParseStartLine(start)) return false;
  Headers& headers = kind_ == Kind::kRequest ? request_.headers : response_.headers;
  if (!ParseFieldLines(fields, &headers)) return false;
  if (minor_version_ == 1) {
    keep_alive_ = !HasToken(headers, "connection", "close");
  } else {
    keep_alive_ = HasToken(headers, "connection", "keep-alive");
  }
  if (!SetUpBody()) return false;
  if (until_close_) keep_alive_ = false;
  return true;
}

bool Parser::ParseFieldLines(std::string_view block, Headers* out) {
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    if (line.find_first_of("\r\n") != std::string_view::npos) {
      Fail(400, "bare CR or LF in header line");
      return false;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      Fail(400, "obsolete line folding in header");
      return false;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      Fail(400, "header line without a colon");
      return false;
    }
    // A space before the colon is rejected outright (RFC 9112 §5.1): proxies disagree on what it means.
    std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) {
      Fail(400, "invalid header name");
      return false;
    }
    std::string_view value = TrimOws(line.substr(colon + 1));
    if (!IsFieldValue(value)) {
      Fail(400, "control character in header value");
      return false;
    }
    out->Add(std::string(name), std::string(value));
  }
  return true;
}

bool Parser::ParseStartLine(std::string_view line) {
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    Fail(400, "bare CR or LF in start line");
    return false;
  }
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  // Servers often drop the SP before an empty reason phrase ("HTTP/1.1 200"); tolerate it in responses.
  if (sp2 == std::string_view::npos && kind_ == Kind::kResponse && sp1 != std::string_view::npos) {
    sp2 = line.size();
  }
  if (sp2 == std::string_view::npos) {
    Fail(400, "malformed start line");
    return false;
  }
  std::string_view a = line.substr(0, sp1), b = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view c = sp2 < line.size() ? line.substr(sp2 + 1) : std::string_view();
  std::string_view version = kind_ == Kind::kRequest ? c : a;
  if (version == "HTTP/1.1" || version == "HTTP/1.0") {
    minor_version_ = version.back() - '0';
  } else if (version.size() == 8 && StartsWith(version, "HTTP/") && IsDigits(version.substr(5, 1)) &&
             version[6] == '.' && IsDigits(version.substr(7))) {
    Fail(505, "unsupported HTTP version");
    return false;
  } else {
    Fail(400, "malformed start line: bad HTTP version");
    return false;
  }
  if (kind_ == Kind::kResponse) {
    // The reason phrase (c) may contain spaces; only the status code matters.
    if (b.size() != 3 || !IsDigits(b) || b[0] < '1' || b[0] > '5' || !IsFieldValue(c)) {
      Fail(400, "malformed status line");
      return false;
    }
    response_.status = std::stoi(std::string(b));
    return true;
  }
  if (!IsToken(a) || b.empty() || c.find(' ') != std::string_view::npos) {
    Fail(400, "malformed request line");
    return false;
  }
  request_.method = std::string(a);
  request_.target = std::string(b);
  if (std::optional<std::string> problem = ParseTarget(b, &request_)) {
    Fail(400, std::move(*problem));
    return false;
  }
  return true;
}

bool Parser::SetUpBody() {
  const Headers& headers = kind_ == Kind::kRequest ? request_.headers : response_.headers;
  if (kind_ == Kind::kResponse && (no_body_ || StatusHasNoBody(response_.status))) {
    state_ = State::kComplete;
    return true;
  }
  std::vector<std::string> codings = ListValues(headers, "transfer-encoding");
  if (!codings.empty()) {
    if (headers.Has("content-length")) {
      // Two framings disagreeing is the classic request-smuggling vector; refuse instead of picking one.
      Fail(400, "both Content-Length and Transfer-Encoding");
      return false;
    }
    for (const std::string& c : codings) {
      if (c != "chunked") {
        Fail(501, "unsupported transfer coding: " + c);
        return false;
      }
    }
    if (codings.size() != 1) {
      Fail(400, "chunked applied more than once");
      return false;
    }
    chunked_ = true;
    return true;
  }
  if (headers.Has("content-length")) return SetUpContentLength();
  if (kind_ == Kind::kResponse) {
    until_close_ = true;
  } else {
    state_ = State::kComplete;
  }
  return true;
}

bool Parser::SetUpContentLength() {
  const Headers& headers = kind_ == Kind::kRequest ? request_.headers : response_.headers;
  std::optional<uint64_t> length;
  for (const auto& [n, v] : headers.fields()) {
    if (!EqualsIgnoreCase(n, "content-length")) continue;
    // "5, 5" is allowed (RFC 9110 §8.6) as long as every element is the same number.
    for (const std::string& part : Split(v, ',')) {
      std::string_view t = TrimOws(part);
      if (!IsDigits(t)) {
        Fail(400, "invalid Content-Length");
        return false;
      }
      if (t.size() > 18) {
        Fail(413, "Content-Length larger than the body limit");
        return false;
      }
      uint64_t n_value = std::stoull(std::string(t));
      if (length && *length != n_value) {
        Fail(400, "conflicting Content-Length values");
        return false;
      }
      length = n_value;
    }
  }
  if (!length) {
    Fail(400, "invalid Content-Length");
    return false;
  }
  if (*length > body_limit_) {
    Fail(413, "Content-Length larger than the body limit");
    return false;
  }
  remaining_ = *length;
  if (remaining_ == 0) state_ = State::kComplete;
  return true;
}

size_t Parser::FeedBody(std::string_view data) {
  if (chunked_) return FeedChunked(data);
  if (until_close_) {
    if (body_total_ + data.size() > body_limit_) {
      Fail(413, "body larger than the limit");
      return 0;
    }
    body().append(data);
    body_total_ += data.size();
    return data.size();
  }
  size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
  body().append(data.substr(0, n));
  body_total_ += n;
  remaining_ -= n;
  if (remaining_ == 0) state_ = State::kComplete;
  return n;
}

bool Parser::TakeLine(std::string_view data, size_t limit, int status, size_t* used, bool* have_line) {
  size_t nl = data.find('\n');
  size_t take = nl == std::string_view::npos ? data.size() : nl + 1;
  *used = take;
  *have_line = false;
  if (line_.size() + take > limit) {
    Fail(status, status == 431 ? "trailer section larger than the limit" : "chunk size line too long");
    return false;
  }
  line_.append(data.substr(0, take));
  if (nl == std::string_view::npos) return true;
  if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
    Fail(400, "line in chunked body not terminated by CRLF");
    return false;
  }
  line_.resize(line_.size() - 2);
  if (line_.find('\r') != std::string::npos) {
    Fail(400, "bare CR in chunked body");
    return false;
  }
  *have_line = true;
  return true;
}

bool Parser::ParseChunkSize() {
  std::string_view line = line_;
  std::string_view size = TrimOws(line.substr(0, line.find(';')));
  if (size.empty() || !std::all_of(size.begin(), size.end(),
                                   [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
    Fail(400, "invalid chunk size");
    return false;
  }
  if (!IsFieldValue(line)) {
    Fail(400, "control character in chunk extension");
    return false;
  }
  size.remove_prefix(std::min(size.find_first_not_of('0'), size.size()));
  if (size.size() > 15) {
    Fail(413, "chunk larger than the body limit");
    return false;
  }
  uint64_t n = size.empty() ? 0 : std::stoull(std::string(size), nullptr, 16);
  // Checked before any of the chunk is buffered, so a huge chunk costs nothing.
  if (body_total_ + n > body_limit_) {
    Fail(413, "body larger than the limit");
    return false;
  }
  remaining_ = n;
  body_total_ += n;
  chunk_state_ = n == 0 ? ChunkState::kTrailer : ChunkState::kData;
  return true;
}

size_t Parser::FeedChunked(std::string_view data) {
  size_t pos = 0;
  while (pos < data.size() && state_ == State::kNeedMore) {
    std::string_view rest = data.substr(pos);
    size_t used = 0;
    bool have = false;
    switch (chunk_state_) {
      case ChunkState::kSize:
        if (!TakeLine(rest, kMaxChunkLine, 400, &used, &have)) return pos + used;
        pos += used;
        if (have && ParseChunkSize()) line_.clear();
        break;
      case ChunkState::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        body().append(rest.substr(0, n));
        remaining_ -= n;
        pos += n;
        if (remaining_ == 0) chunk_state_ = ChunkState::kDataEnd;
        break;
      }
      case ChunkState::kDataEnd:
        line_.push_back(data[pos++]);
        if (line_ == "\r\n") {
          line_.clear();
          chunk_state_ = ChunkState::kSize;
        } else if (line_ != "\r") {
          Fail(400, "missing CRLF after chunk data");
        }
        break;
      case ChunkState::kTrailer: {
        size_t budget = limits_.max_header_bytes - std::min(trailer_bytes_, limits_.max_header_bytes);
        if (!TakeLine(rest, budget, 431, &used, &have)) return pos + used;
        pos += used;
        if (!have) break;
        // Trailer fields are accepted and dropped: none of Kiln's peers needs them, and merging them into
        // the headers after the fact would let a trailer smuggle framing fields.
        if (line_.empty()) {
          state_ = State::kComplete;
        } else if (line_.find(':') == std::string::npos || !IsToken(line_.substr(0, line_.find(':')))) {
          Fail(400, "malformed trailer field");
        }
        trailer_bytes_ += line_.size() + 2;
        line_.clear();
        break;
      }
    }
  }
  return pos;
}

}  // namespace kiln::http
