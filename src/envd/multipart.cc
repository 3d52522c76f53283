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

constexpr size_t kMaxPartHeaderBytes = 16 * 1024;
constexpr size_t kMaxPadding = 1024;

// The name and filename of a part from its header block (the lines before the blank line).
FormPart ParsePartHeaders(std::string_view block) {
  FormPart out;
  for (const std::string& line : Split(block, '\n')) {
    std::string_view l = Trim(line);
    size_t colon = l.find(':');
    if (colon == std::string_view::npos || !EqualsIgnoreCase(Trim(l.substr(0, colon)), "content-disposition"))
      continue;
    for (auto& [key, value] : HeaderParams(l.substr(colon + 1))) {
      if (key == "name") out.name = value;
      if (key == "filename") out.filename = value;
    }
  }
  return out;
}

// Collects whole parts (for ParseMultipart).
class CollectingSink : public MultipartSink {
 public:
  Status OnPart(const FormPart& part) override {
    parts.push_back(part);
    return Status::Ok();
  }
  Status OnData(std::string_view data) override {
    parts.back().data.append(data);
    return Status::Ok();
  }
  Status OnPartEnd() override { return Status::Ok(); }
  std::vector<FormPart> parts;
};

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  std::string_view type = Trim(content_type.substr(0, content_type.find(';')));
  if (!EqualsIgnoreCase(type, "multipart/form-data")) return InvalidArgument("not multipart/form-data");
  for (auto& [key, value] : HeaderParams(content_type)) {
    if (key == "boundary" && !value.empty() && value.size() <= 200) return value;
  }
  return InvalidArgument("multipart/form-data without a boundary");
}

MultipartReader::MultipartReader(std::string boundary, MultipartSink* sink)
    : delimiter_("--" + boundary), next_delimiter_("\r\n--" + boundary), sink_(sink) {}

Status MultipartReader::Feed(std::string_view data) {
  buf_.append(data);
  bool progressed = true;
  while (progressed && state_ != State::kDone) KILN_RETURN_IF_ERROR(Step(&progressed));
  if (state_ == State::kDone) buf_.clear();  // the epilogue is ignored
  return Status::Ok();
}

Status MultipartReader::Finish() const {
  if (state_ == State::kDone) return Status::Ok();
  if (state_ == State::kPreamble) return InvalidArgument("multipart body without its boundary");
  return InvalidArgument("multipart body is truncated");
}

Status MultipartReader::Step(bool* progressed) {
  *progressed = false;
  switch (state_) {
    case State::kPreamble: {
      // Anything before the first delimiter is preamble; keep only what could be a delimiter's start.
      size_t at = buf_.find(delimiter_);
      if (at == std::string::npos) {
        if (buf_.size() >= delimiter_.size()) buf_.erase(0, buf_.size() - delimiter_.size() + 1);
        return Status::Ok();
      }
      buf_.erase(0, at + delimiter_.size());
      state_ = State::kDelimiterTail;
      *progressed = true;
      return Status::Ok();
    }
    case State::kDelimiterTail: {
      if (StartsWith(buf_, "--")) {
        state_ = State::kDone;
        return Status::Ok();
      }
      // Tolerate transport padding (spaces/tabs) after a delimiter, as RFC 2046 allows.
      size_t pad = buf_.find_first_not_of(" \t");
      if (pad == std::string::npos || buf_.size() < pad + 2) {
        if (buf_.size() > kMaxPadding) return InvalidArgument("malformed multipart delimiter line");
        return Status::Ok();
      }
      if (buf_.compare(pad, 2, "\r\n") != 0) return InvalidArgument("malformed multipart delimiter line");
      buf_.erase(0, pad + 2);
      state_ = State::kHeaders;
      *progressed = true;
      return Status::Ok();
    }
    case State::kHeaders:
      return StepHeaders(progressed);
    case State::kData:
      return StepData(progressed);
    case State::kDone:
      return Status::Ok();
  }
  return Status::Ok();
}

Status MultipartReader::StepHeaders(bool* progressed) {
  if (buf_.size() < 2) return Status::Ok();
  size_t body_at = 0;
  FormPart part;
  if (StartsWith(buf_, "\r\n")) {  // a part with no header fields at all
    body_at = 2;
  } else {
    size_t end = buf_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (buf_.size() > kMaxPartHeaderBytes) return InvalidArgument("multipart part header block too large");
      return Status::Ok();
    }
    part = ParsePartHeaders(std::string_view(buf_).substr(0, end));
    body_at = end + 4;
  }
  buf_.erase(0, body_at);
  state_ = State::kData;
  *progressed = true;
  return sink_->OnPart(part);
}

Status MultipartReader::StepData(bool* progressed) {
  size_t at = buf_.find(next_delimiter_);
  if (at != std::string::npos) {
    if (at > 0) KILN_RETURN_IF_ERROR(sink_->OnData(std::string_view(buf_).substr(0, at)));
    buf_.erase(0, at + next_delimiter_.size());
    state_ = State::kDelimiterTail;
    *progressed = true;
    return sink_->OnPartEnd();
  }
  // Everything but a tail that could be the start of the delimiter is data.
  if (buf_.size() >= next_delimiter_.size()) {
    size_t safe = buf_.size() - next_delimiter_.size() + 1;
    KILN_RETURN_IF_ERROR(sink_->OnData(std::string_view(buf_).substr(0, safe)));
    buf_.erase(0, safe);
  }
  return Status::Ok();
}

Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary) {
  CollectingSink sink;
  MultipartReader reader(std::string(boundary), &sink);
  KILN_RETURN_IF_ERROR(reader.Feed(body));
  KILN_RETURN_IF_ERROR(reader.Finish());
  return std::move(sink.parts);
}

}  // namespace kiln::envd
