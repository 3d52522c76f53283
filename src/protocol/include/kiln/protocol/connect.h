// Connect-RPC (protocol v1, JSON codec) framing, as the E2B SDKs speak it to envd.
//
// Unary calls: the request and response bodies are JSON; errors are a non-200 status, Content-Type
// application/json, body {"code":"<connect code>","message":"..."}.
// Server-streaming calls: request and response bodies are envelopes: 1 flag byte, a 4-byte big-endian
// length, then the JSON message. The stream ends with exactly one envelope flagged 0x02 holding {} or
// {"error":{"code","message"}}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/base/status.h"

namespace kiln::connect {

inline constexpr uint8_t kFlagCompressed = 0x01;
inline constexpr uint8_t kFlagEndStream = 0x02;
inline constexpr size_t kMaxEnvelopeBytes = 64 * 1024 * 1024;

struct Envelope {
  uint8_t flags = 0;
  std::string payload;
};

std::string EncodeEnvelope(uint8_t flags, std::string_view payload);

// Reads envelopes from a byte stream fed in arbitrary pieces.
class EnvelopeReader {
 public:
  void Feed(std::string_view data) { buffer_.append(data); }
  // Kind of outcome of Next(): an envelope was produced, more bytes are needed, or the input is invalid
  // (too large, or compressed, which this codec does not support).
  enum class Outcome { kEnvelope, kNeedMore, kError };
  Outcome Next(Envelope* out, Status* error);
  // Bytes fed but not yet returned as envelopes (a truncated stream leaves some).
  size_t pending() const { return buffer_.size() - pos_; }

 private:
  std::string buffer_;
  size_t pos_ = 0;  // start of the first envelope not yet returned
};

// Connect's code <-> HTTP status mapping (invalid_argument 400, not_found 404, already_exists 409, ...).
int HttpStatusFor(Code code);
Code CodeForHttpStatus(int status);
// Parses a Connect code name ("not_found"); false if it is not one.
bool ParseCodeName(std::string_view name, Code* code);

// {"code":"not_found","message":"..."} for a unary error body.
std::string ErrorJson(const Status& status);
// {} for OK, else {"error":{"code","message"}} for the end-of-stream envelope's payload.
std::string EndStreamJson(const Status& status);
// Turns a unary error response (status + body) or an end-stream payload back into a Status.
Status StatusFromErrorBody(int http_status, std::string_view body);
Status StatusFromEndStream(std::string_view payload);

}  // namespace kiln::connect
