// Raw-socket helpers for the HTTP server tests.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>

#include "kiln/base/clock.h"
#include "kiln/base/fd.h"
#include "kiln/protocol/http.h"

namespace kiln::http::testutil {

inline std::string SocketPath() {
  static std::atomic<int> n{0};
  return "/tmp/kiln-proto-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".sock";
}

inline UniqueFd RawConnect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  return fd;
}

inline void SendRaw(int fd, std::string_view data) {
  ASSERT_EQ(::send(fd, data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
}

// Reads bytes until `done` says so, EOF, or 5 s. Returns false on timeout.
inline bool ReadUntil(int fd, std::string* buf, const std::function<bool()>& done, bool* eof = nullptr) {
  const int64_t deadline = MonotonicMillis() + 5000;
  while (!done()) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(deadline - MonotonicMillis());
    if (left <= 0 || ::poll(&p, 1, left) <= 0) return false;
    char tmp[4096];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      if (eof) *eof = true;
      return true;
    }
    buf->append(tmp, static_cast<size_t>(n));
  }
  return true;
}

// Parses one response from the raw socket (bytes past it stay in *buf).
inline Response ReadResponse(int fd, std::string* buf, bool head = false) {
  Parser p(Parser::Kind::kResponse);
  if (head) p.ExpectNoBody();
  bool eof = false;
  auto done = [&] {
    buf->erase(0, p.Feed(*buf));
    return p.state() != Parser::State::kNeedMore || eof;
  };
  EXPECT_TRUE(ReadUntil(fd, buf, done, &eof));
  if (eof && p.state() == Parser::State::kNeedMore) p.FeedEof();
  EXPECT_EQ(p.state(), Parser::State::kComplete) << p.error().message;
  return p.response();
}

inline bool PeerCloses(int fd) {
  std::string ignored;
  bool eof = false;
  return ReadUntil(
             fd, &ignored, [&] { return eof; }, &eof) &&
         eof;
}

}  // namespace kiln::http::testutil
