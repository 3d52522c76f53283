#include "sudo_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/envd/sudo.h"

namespace kiln::envd::sudo_io {

Result<sockaddr_un> OwnAddress(socklen_t* length) {
  struct stat ns;
  if (::stat("/proc/self/ns/pid", &ns) != 0) return ErrnoStatus("stat /proc/self/ns/pid", errno);
  std::string name = SudoSocketName(static_cast<uint64_t>(ns.st_ino));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  addr.sun_path[0] = '\0';  // abstract: no file, no permissions, scoped to the network namespace
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  *length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return addr;
}

Status SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("send", errno);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status RecvAll(int fd, char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::recv(fd, data + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("recv", errno);
    if (n == 0)
      return done == 0 ? NotFound("connection closed") : Unavailable("connection closed mid-message");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string Frame(const std::string& body) {
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                     static_cast<char>(n)};
  return out + body;
}

Result<std::string> RecvFrame(int fd, size_t max_bytes) {
  unsigned char header[4];
  KILN_RETURN_IF_ERROR(RecvAll(fd, reinterpret_cast<char*>(header), sizeof header));
  uint32_t n =
      (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) | header[3];
  if (n > max_bytes)
    return InvalidArgument("message of " + std::to_string(n) + " bytes is over the limit of " +
                           std::to_string(max_bytes));
  std::string body(n, '\0');
  KILN_RETURN_IF_ERROR(RecvAll(fd, body.data(), body.size()));
  return body;
}

}  // namespace kiln::envd::sudo_io
