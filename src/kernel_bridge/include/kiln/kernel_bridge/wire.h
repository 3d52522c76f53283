// The Jupyter messaging protocol's wire format (version 5.3): a message is a list of ZeroMQ frames
//
//   [routing identities...] "<IDS|MSG>" signature header parent_header metadata content [buffers...]
//
// where the four dicts are JSON and `signature` is the lower-case hex HMAC-SHA256, keyed with the
// connection file's key, of header + parent_header + metadata + content (signature_scheme hmac-sha256).
// See https://jupyter-client.readthedocs.io/en/stable/messaging.html#the-wire-protocol.
//
// Thread-safety: Signer is immutable after construction; Message is a plain value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::kernel_bridge {

using Json = nlohmann::json;

inline constexpr char kDelimiter[] = "<IDS|MSG>";
inline constexpr char kProtocolVersion[] = "5.3";

struct Message {
  std::vector<std::string> identities;  // routing prefix (iopub: the topic); kept as received
  Json header = Json::object();
  Json parent_header = Json::object();
  Json metadata = Json::object();
  Json content = Json::object();
  std::vector<std::string> buffers;

  std::string type() const;       // header.msg_type, "" when absent
  std::string id() const;         // header.msg_id
  std::string parent_id() const;  // parent_header.msg_id, "" for unsolicited messages
};

class Signer {
 public:
  // An empty key disables signing, as Jupyter does (signatures are "" and not checked).
  explicit Signer(std::string key) : key_(std::move(key)) {}
  // Lower-case hex HMAC-SHA256 of the concatenated parts.
  std::string Sign(const std::vector<std::string_view>& parts) const;
  // Whether `signature` is Sign(parts), compared in constant time.
  bool Verify(const std::vector<std::string_view>& parts, std::string_view signature) const;

 private:
  std::string key_;
};

// A request from this client: a fresh header (random msg_id, `session`, username "kiln", ISO date,
// version 5.3) and the given content; no parent.
Message NewMessage(const std::string& msg_type, const std::string& session, Json content);

// The frames of `message`, signed.
std::vector<std::string> EncodeMessage(const Message& message, const Signer& signer);

// Parses received frames. InvalidArgument when the delimiter or one of the four dicts is missing or not
// JSON; PermissionDenied when the signature does not match (the message must be dropped).
Result<Message> DecodeMessage(const std::vector<std::string>& frames, const Signer& signer);

}  // namespace kiln::kernel_bridge
