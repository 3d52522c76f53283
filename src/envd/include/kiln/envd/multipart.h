// A multipart/form-data (RFC 7578) body parser for POST /files: incremental (MultipartReader, so uploads
// stream to disk in bounded memory) and whole-body (ParseMultipart, built on it). Not thread-safe per object.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::envd {

struct FormPart {
  std::string name;                     // Content-Disposition name
  std::optional<std::string> filename;  // raw, NOT reduced to a base name (E2B sends destination paths)
  std::string data;
};

// The boundary parameter of a multipart/form-data Content-Type; InvalidArgument if it is not one.
Result<std::string> MultipartBoundary(std::string_view content_type);
// What a MultipartReader finds, in order: for each part OnPart (name and filename; data empty), OnData
// zero or more times, OnPartEnd. An error from a callback stops the reader and is returned by Feed.
class MultipartSink {
 public:
  virtual ~MultipartSink() = default;
  virtual Status OnPart(const FormPart& part) = 0;
  virtual Status OnData(std::string_view data) = 0;
  virtual Status OnPartEnd() = 0;
};

// Parses a body fed in arbitrary pieces, holding at most a part's header block (16 KiB) or a boundary's
// length of data at a time.
class MultipartReader {
 public:
  MultipartReader(std::string boundary, MultipartSink* sink);
  Status Feed(std::string_view data);
  // The body ended: InvalidArgument unless the closing delimiter was seen.
  Status Finish() const;

 private:
  enum class State { kPreamble, kDelimiterTail, kHeaders, kData, kDone };
  // One step on buf_; *progressed says whether it consumed anything (else more bytes are needed).
  Status Step(bool* progressed);
  Status StepHeaders(bool* progressed);
  Status StepData(bool* progressed);

  const std::string delimiter_;       // "--" boundary
  const std::string next_delimiter_;  // CRLF "--" boundary: what ends a part's data
  MultipartSink* sink_;
  State state_ = State::kPreamble;
  std::string buf_;
};

// Splits `body` into its parts. Malformed bodies (no closing delimiter, part without headers) ->
// InvalidArgument.
Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary);

}  // namespace kiln::envd
