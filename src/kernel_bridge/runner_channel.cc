#include "kiln/kernel_bridge/runner_channel.h"

#include <unistd.h>

#include <cerrno>

namespace kiln::kernel_bridge {
namespace {

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write fd " + std::to_string(fd), errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// false at a clean end of file before the first byte.
Result<bool> ReadExact(int fd, char* out, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd, out + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read fd " + std::to_string(fd), errno);
    if (n == 0) {
      if (got == 0) return false;
      return Unavailable("the runner channel closed in the middle of a frame");
    }
    got += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string FrameBytes(std::string_view payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                     static_cast<char>(n)};
  out.append(payload);
  return out;
}

Result<Json> RunnerChannel::ReadRequest() {
  unsigned char header[4];
  KILN_ASSIGN_OR_RETURN(bool more, ReadExact(request_fd_, reinterpret_cast<char*>(header), 4));
  if (!more) return Unavailable("envd closed the runner channel");
  uint32_t len = uint32_t{header[0]} << 24 | uint32_t{header[1]} << 16 | uint32_t{header[2]} << 8 | header[3];
  std::string payload(len, '\0');
  KILN_ASSIGN_OR_RETURN(more, ReadExact(request_fd_, payload.data(), len));
  if (!more && len > 0) return Unavailable("the runner channel closed in the middle of a frame");
  Json request = Json::parse(payload, nullptr, false);
  if (!request.is_object()) return InvalidArgument("a runner request that is not a JSON object");
  return request;
}

Status RunnerChannel::SendEvent(const Json& event) {
  return WriteAll(event_fd_, FrameBytes(event.dump(-1, ' ', false, Json::error_handler_t::replace)));
}

Status RunnerChannel::FinishCell(const std::string& token) {
  std::string marker = "\x1eKILN:" + token + "\x1e";
  (void)WriteAll(1, marker);
  (void)WriteAll(2, marker);
  return SendEvent({{"type", "done"}});
}

}  // namespace kiln::kernel_bridge
