#include "kiln/protocol/connect.h"

#include <nlohmann/json.hpp>

namespace kiln::connect {
namespace {

using nlohmann::json;

// dump() throws on invalid UTF-8 by default; messages may quote arbitrary bytes (paths, process output).
std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Reads {"code": "...", "message": "..."}; false if `j` is not such an object with a known code.
bool ErrorFromJson(const json& j, Status* out) {
  if (!j.is_object()) return false;
  auto code_it = j.find("code");
  if (code_it == j.end() || !code_it->is_string()) return false;
  Code code;
  if (!ParseCodeName(code_it->get_ref<const std::string&>(), &code)) return false;
  std::string message;
  auto msg_it = j.find("message");
  if (msg_it != j.end() && msg_it->is_string()) message = msg_it->get<std::string>();
  *out = Status(code, std::move(message));
  return true;
}

}  // namespace

std::string EncodeEnvelope(uint8_t flags, std::string_view payload) {
  std::string out;
  out.reserve(5 + payload.size());
  const auto n = static_cast<uint32_t>(payload.size());
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

EnvelopeReader::Outcome EnvelopeReader::Next(Envelope* out, Status* error) {
  std::string_view buf = std::string_view(buffer_).substr(pos_);
  if (buf.size() < 5) return Outcome::kNeedMore;
  const auto flags = static_cast<uint8_t>(buf[0]);
  if (flags & kFlagCompressed) {
    *error = Unimplemented("compressed Connect envelope (no compression was negotiated)");
    return Outcome::kError;
  }
  if (flags & ~kFlagEndStream) {
    *error = InvalidArgument("unknown Connect envelope flags " + std::to_string(flags));
    return Outcome::kError;
  }
  uint32_t len = 0;
  for (int i = 1; i <= 4; ++i) len = (len << 8) | static_cast<uint8_t>(buf[i]);
  if (len > kMaxEnvelopeBytes) {
    *error = ResourceExhausted("Connect envelope of " + std::to_string(len) + " bytes exceeds the limit");
    return Outcome::kError;
  }
  if (buf.size() - 5 < len) return Outcome::kNeedMore;
  out->flags = flags;
  out->payload.assign(buf.substr(5, len));
  pos_ += 5 + len;
  // Compact lazily: erasing the front on every envelope would make a burst of small ones quadratic.
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ > 64 * 1024 && pos_ * 2 > buffer_.size()) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  return Outcome::kEnvelope;
}

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kPermissionDenied:
      return 403;
    case Code::kResourceExhausted:
      return 429;
    case Code::kFailedPrecondition:
      return 400;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kUnavailable:
      return 503;
    case Code::kUnimplemented:
      return 501;
    case Code::kInternal:
      return 500;
  }
  return 500;
}

Code CodeForHttpStatus(int status) {
  if (status >= 200 && status < 300) return Code::kOk;
  switch (status) {
    case 400:
      return Code::kInvalidArgument;
    case 401:  // unauthenticated: kiln has no such code
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 408:
      return Code::kDeadlineExceeded;
    case 409:
      return Code::kAlreadyExists;
    case 413:
      return Code::kResourceExhausted;
    case 429:
      return Code::kResourceExhausted;
    case 501:
      return Code::kUnimplemented;
    case 502:
      return Code::kUnavailable;
    case 503:
      return Code::kUnavailable;
    case 504:
      return Code::kDeadlineExceeded;
    default:
      return Code::kInternal;
  }
}

bool ParseCodeName(std::string_view name, Code* code) {
  static constexpr std::pair<std::string_view, Code> kNames[] = {
      {"invalid_argument", Code::kInvalidArgument},
      {"not_found", Code::kNotFound},
      {"already_exists", Code::kAlreadyExists},
      {"permission_denied", Code::kPermissionDenied},
      {"unauthenticated", Code::kPermissionDenied},
      {"resource_exhausted", Code::kResourceExhausted},
      {"failed_precondition", Code::kFailedPrecondition},
      {"deadline_exceeded", Code::kDeadlineExceeded},
      {"unavailable", Code::kUnavailable},
      {"unimplemented", Code::kUnimplemented},
      {"internal", Code::kInternal},
      // Connect codes kiln has no twin for, mapped to the nearest meaning.
      {"unknown", Code::kInternal},
      {"data_loss", Code::kInternal},
      {"canceled", Code::kUnavailable},
      {"aborted", Code::kFailedPrecondition},
      {"out_of_range", Code::kInvalidArgument},
  };
  for (const auto& [n, c] : kNames) {
    if (n == name) {
      *code = c;
      return true;
    }
  }
  return false;
}

std::string ErrorJson(const Status& status) {
  if (status.ok()) return "{}";
  return Dump(json{{"code", std::string(CodeName(status.code()))}, {"message", status.message()}});
}

std::string EndStreamJson(const Status& status) {
  if (status.ok()) return "{}";
  json error{{"code", std::string(CodeName(status.code()))}, {"message", status.message()}};
  return Dump(json{{"error", std::move(error)}});
}

Status StatusFromErrorBody(int http_status, std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  Status parsed;
  if (ErrorFromJson(j, &parsed)) return parsed;
  Code code = CodeForHttpStatus(http_status);
  if (code == Code::kOk) return Status::Ok();
  // Not a Connect error (a proxy's page, our own parse-error text): keep the start of it for the message.
  std::string text(body.substr(0, 200));
  return Status(code, "HTTP " + std::to_string(http_status) + (text.empty() ? "" : ": " + text));
}

Status StatusFromEndStream(std::string_view payload) {
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Internal("malformed Connect end-of-stream message");
  auto it = j.find("error");
  if (it == j.end() || it->is_null()) return Status::Ok();
  Status parsed;
  if (ErrorFromJson(*it, &parsed)) return parsed;
  std::string message;
  if (it->is_object() && it->contains("message") && (*it)["message"].is_string()) {
    message = (*it)["message"].get<std::string>();
  }
  return Internal(message.empty() ? "end of stream with an unrecognized error" : message);
}

}  // namespace kiln::connect
