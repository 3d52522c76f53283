#include "kiln/envd/port_forward.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "kiln/base/fd.h"
#include "kiln/base/strings.h"
#include "kiln/envd/router.h"

namespace kiln::envd {
namespace {

// A connected socket to the sandbox's loopback `port` (IPv4 first, then IPv6), or the last errno.
Result<UniqueFd> ConnectLoopback(int port) {
  int error = ECONNREFUSED;
  for (int family : {AF_INET, AF_INET6}) {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoStatus("socket", errno);
    int rc;
    if (family == AF_INET) {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } else {
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_port = htons(static_cast<uint16_t>(port));
      addr.sin6_addr = in6addr_loopback;
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
    if (rc == 0) {
      int one = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    error = errno;
  }
  return ErrnoStatus("connect to port " + std::to_string(port), error);
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  // a non-blocking socket: wait for room
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) return false;
      continue;
    }
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Relays bytes both ways until both directions ended; a side's end is passed on as a half close.
void Relay(int a, int b) {
  bool open[2] = {true, true};  // a->b, b->a
  char buf[64 << 10];
  while (open[0] || open[1]) {
    pollfd fds[2] = {{a, static_cast<short>(open[0] ? POLLIN : 0), 0},
                     {b, static_cast<short>(open[1] ? POLLIN : 0), 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int side = 0; side < 2; ++side) {
      if (!open[side] || !(fds[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = side == 0 ? a : b, to = side == 0 ? b : a;
      ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return;  // reset: end both (the caller closes)
      if (n == 0) {
        open[side] = false;
        ::shutdown(to, SHUT_WR);
        continue;
      }
      if (!WriteAll(to, buf, static_cast<size_t>(n))) return;
    }
  }
}

}  // namespace

void ServePortForward(http::Request& request, http::ResponseWriter& writer) {
  std::string_view port_text = request.Query("port").value_or("");
  bool digits = !port_text.empty() && port_text.size() <= 5 &&
                port_text.find_first_not_of("0123456789") == std::string_view::npos;
  int port = digits ? std::stoi(std::string(port_text)) : 0;
  if (port < 1 || port > 65535)
    return SendJson(writer, 400, {{"code", 400}, {"message", "port: must be a number from 1 to 65535"}});
  if (!EqualsIgnoreCase(Trim(request.headers.Get("Upgrade").value_or("")), kPortForwardProtocol))
    return SendJson(writer, 400,
                    {{"code", 400}, {"message", std::string("Upgrade: must be ") + kPortForwardProtocol}});
  Result<UniqueFd> target = ConnectLoopback(port);
  if (!target.ok()) {
    return SendJson(writer, 502,
                    {{"code", 502},
                     {"message", "nothing listens on port " + std::to_string(port) +
                                     " in the sandbox: " + target.status().message()},
                     {"port", port}});
  }
  int client = -1;
  std::string pending;
  if (!writer.Upgrade(kPortForwardProtocol, {}, &client, &pending).ok()) return;
  if (!pending.empty() && !WriteAll(target->get(), pending.data(), pending.size())) return;
  Relay(client, target->get());
}

}  // namespace kiln::envd
