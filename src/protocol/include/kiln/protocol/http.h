// HTTP/1.1 messages and an incremental parser for them (RFC 9112 subset: what Kiln's peers send).
//
// Why our own: envd must be a small static binary serving on a unix socket handed to it as a file
// descriptor, and Debian 12's cpp-httplib (0.11) cannot serve a given fd or a unix socket.
//
// Parsers are single-threaded objects: feed bytes as they arrive, get a complete message or an error that
// says what was wrong and which status to answer with (400 malformed, 413 body too large, 431 headers too
// large, 501 unsupported transfer coding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::http {

// Header fields in arrival order; lookups are case-insensitive.
class Headers {
 public:
  void Add(std::string name, std::string value);
  // Replaces every field called `name` with one.
  void Set(std::string name, std::string value);
  // First value of `name`, if present.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// The body of a request whose handler reads it as it arrives (ServerOptions::body_policy chose streaming),
// so a large upload never sits in memory whole. Used only on the handler's thread, during the handler.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Replaces *chunk with the next bytes of the body (at most one read buffer's worth); an empty chunk means
  // the body is complete. Errors: Unavailable (peer gone, or no progress within the body timeout),
  // InvalidArgument (malformed framing), ResourceExhausted (past the body limit).
  virtual Status Read(std::string* chunk) = 0;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/files?path=%2Fa"
  std::string path;    // percent-decoded path part of target: "/files"
  // Query parameters, each key and value percent-decoded ('+' as space), in order of appearance.
  std::vector<std::pair<std::string, std::string>> query;
  Headers headers;
  std::string body;  // de-chunked; empty when body_reader is set
  // Set (by the server, for the handler's duration) when the body is streamed instead of buffered.
  BodyReader* body_reader = nullptr;

  // First query value for `key`, if present.
  std::optional<std::string_view> Query(std::string_view key) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
};

// Reason phrase for a status code ("Not Found"); "Unknown" for codes it does not know.
std::string_view ReasonPhrase(int status);

struct Limits {
  size_t max_header_bytes = 64 * 1024;        // request/status line plus all header fields
  size_t max_body_bytes = 512 * 1024 * 1024;  // after de-chunking
};

// An error found while parsing: the status to answer with and a message naming what was wrong.
struct ParseError {
  int status = 400;
  std::string message;
};

// Incremental parser for requests (server side) or responses (client side).
class Parser {
 public:
  enum class Kind { kRequest, kResponse };
  enum class State { kNeedMore, kComplete, kError };

  Parser(Kind kind, Limits limits = {});

  // Consumes bytes from `data`; returns how many were consumed. Bytes after a complete message are not
  // consumed (pipelining: feed them again after Reset()). When the state is kComplete, take the message.
  size_t Feed(std::string_view data);
  State state() const { return state_; }
  const ParseError& error() const { return error_; }
  // For a response to a HEAD request, or 204/304, the caller says there is no body.
  void ExpectNoBody() { no_body_ = true; }
  // The peer closed the connection: completes a response whose body is delimited by close, else an error
  // ("truncated").
  void FeedEof();

  // Feed() stops right after the header block, so the caller can look at the headers and LimitBody()
  // before any of the body is consumed. Kept across Reset().
  void PauseAfterHeaders() { pause_after_headers_ = true; }
  // Once headers_done(): lowers (or raises) the body limit for this message; a declared Content-Length
  // above it fails now with 413. Reset() restores the limit from Limits.
  void LimitBody(uint64_t max_bytes);
  // Whether the whole message, body included, has been parsed.
  bool complete() const { return state_ == State::kComplete; }

  // Headers are parsed and the body is being received (for streaming responses on the client side).
  bool headers_done() const { return headers_done_; }
  // Valid once headers_done(): whether the connection may carry another message after this one (HTTP/1.1
  // unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"; never for a body delimited by
  // close).
  bool keep_alive() const { return keep_alive_; }
  // Valid once headers_done(): 0 for HTTP/1.0, 1 for HTTP/1.1.
  int minor_version() const { return minor_version_; }
  // Takes the body bytes parsed so far (for streaming), leaving the buffer empty.
  std::string TakeBody();

  Request& request() { return request_; }
  const Request& request() const { return request_; }
  Response& response() { return response_; }
  // Prepares for the next message on the same connection.
  void Reset();

 private:
  size_t FeedHeaders(std::string_view data);
  size_t FeedBody(std::string_view data);
  size_t FeedChunked(std::string_view data);
  bool ParseStartLine(std::string_view line);
  bool ParseHeaderBlock();
  bool ParseFieldLines(std::string_view block, Headers* out);
  bool SetUpBody();
  bool SetUpContentLength();
  bool ParseChunkSize();
  bool TakeLine(std::string_view data, size_t limit, int status, size_t* used, bool* have_line);
  std::string& body() { return kind_ == Kind::kRequest ? request_.body : response_.body; }
  void Fail(int status, std::string message);

  Kind kind_;
  Limits limits_;
  State state_ = State::kNeedMore;
  ParseError error_;
  std::string head_;
  bool headers_done_ = false;
  bool pause_after_headers_ = false;
  uint64_t body_limit_ = 0;
  bool no_body_ = false;
  bool chunked_ = false;
  bool until_close_ = false;
  bool keep_alive_ = false;
  int minor_version_ = 1;
  size_t trailer_bytes_ = 0;
  uint64_t remaining_ = 0;  // content-length bytes left, or bytes left in the current chunk
  enum class ChunkState { kSize, kData, kDataEnd, kTrailer } chunk_state_ = ChunkState::kSize;
  std::string line_;
  size_t body_total_ = 0;
  Request request_;
  Response response_;
};

// Serializes a complete response with Content-Length (or none for 204/304).
std::string SerializeResponse(const Response& response);
// Serializes a request; a body gets Content-Length.
std::string SerializeRequest(const std::string& method, const std::string& target, const Headers& headers,
                             std::string_view body);
// One chunk of a chunked body ("<hex>\r\n<data>\r\n"); an empty `data` yields nothing (use kLastChunk).
std::string EncodeChunk(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Splits a query string "a=1&b=%20" into decoded pairs. Fails on a malformed escape.
bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out);

}  // namespace kiln::http
