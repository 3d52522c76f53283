#include "kiln/kernel_bridge/wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "kiln/base/ids.h"

namespace kiln::kernel_bridge {
namespace {

std::string StringField(const Json& dict, const char* key) {
  if (!dict.is_object()) return "";
  auto it = dict.find(key);
  return it != dict.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string IsoNow() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros));
  return buf;
}

}  // namespace

std::string Message::type() const {
  return StringField(header, "msg_type");
}
std::string Message::id() const {
  return StringField(header, "msg_id");
}
std::string Message::parent_id() const {
  return StringField(parent_header, "msg_id");
}

std::string Signer::Sign(const std::vector<std::string_view>& parts) const {
  if (key_.empty()) return "";
  std::string data;
  for (std::string_view p : parts) data.append(p);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < mac_len; ++i) {
    hex += kHex[mac[i] >> 4];
    hex += kHex[mac[i] & 15];
  }
  return hex;
}

bool Signer::Verify(const std::vector<std::string_view>& parts, std::string_view signature) const {
  if (key_.empty()) return true;
  std::string expected = Sign(parts);
  return signature.size() == expected.size() &&
         CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
}

Message NewMessage(const std::string& msg_type, const std::string& session, Json content) {
  Message m;
  m.header = {{"msg_id", RandomHex(16)}, {"session", session},   {"username", "kiln"},
              {"date", IsoNow()},        {"msg_type", msg_type}, {"version", kProtocolVersion}};
  m.content = std::move(content);
  return m;
}

std::vector<std::string> EncodeMessage(const Message& message, const Signer& signer) {
  std::vector<std::string> frames = message.identities;
  auto dump = [](const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); };
  std::string dicts[4] = {dump(message.header), dump(message.parent_header), dump(message.metadata),
                          dump(message.content)};
  frames.push_back(kDelimiter);
  frames.push_back(signer.Sign({dicts[0], dicts[1], dicts[2], dicts[3]}));
  for (std::string& d : dicts) frames.push_back(std::move(d));
  frames.insert(frames.end(), message.buffers.begin(), message.buffers.end());
  return frames;
}

Result<Message> DecodeMessage(const std::vector<std::string>& frames, const Signer& signer) {
  auto delimiter = std::find(frames.begin(), frames.end(), kDelimiter);
  if (delimiter == frames.end()) return InvalidArgument("a Jupyter message without the <IDS|MSG> delimiter");
  size_t at = static_cast<size_t>(delimiter - frames.begin());
  if (frames.size() < at + 6) return InvalidArgument("a Jupyter message with fewer than 4 dicts");
  const std::string& signature = frames[at + 1];
  if (!signer.Verify({frames[at + 2], frames[at + 3], frames[at + 4], frames[at + 5]}, signature))
    return PermissionDenied("a Jupyter message with a bad HMAC-SHA256 signature");
  Message m;
  m.identities.assign(frames.begin(), delimiter);
  Json* dicts[4] = {&m.header, &m.parent_header, &m.metadata, &m.content};
  for (int i = 0; i < 4; ++i) {
    *dicts[i] = Json::parse(frames[at + 2 + static_cast<size_t>(i)], nullptr, false);
    if (!dicts[i]->is_object())
      return InvalidArgument("a Jupyter message whose dict " + std::to_string(i) + " is not a JSON object");
  }
  m.buffers.assign(frames.begin() + static_cast<long>(at) + 6, frames.end());
  return m;
}

}  // namespace kiln::kernel_bridge
