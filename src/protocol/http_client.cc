#include "kiln/protocol/http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include "kiln/base/clock.h"

namespace kiln::http {
namespace {

// With no deadline, a unix socket whose backlog stays full is given this long before we give up.
constexpr int kUnixBacklogWaitMs = 5000;

int Remaining(int64_t deadline) {
  if (deadline < 0) return -1;
  int64_t left = deadline - MonotonicMillis();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, std::numeric_limits<int>::max()));
}

// Waits until `fd` is ready for `events`; DeadlineExceeded past the deadline.
Status WaitFd(int fd, short events, int64_t deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, Remaining(deadline));
    if (r > 0) return Status::Ok();
    if (r == 0) return DeadlineExceeded("http client: timed out");
    if (errno != EINTR) return ErrnoStatus("poll", errno);
  }
}

// WaitFd for a wait that `cancelled` may end early: it is asked every kCancelPollMs.
constexpr int kCancelPollMs = 100;
Status WaitFdUnlessCancelled(int fd, short events, int64_t deadline, const std::function<bool()>& cancelled) {
  if (!cancelled) return WaitFd(fd, events, deadline);
  for (;;) {
    if (cancelled()) return FailedPrecondition("http client: cancelled");
    int64_t slice = MonotonicMillis() + kCancelPollMs;
    Status s = WaitFd(fd, events, deadline >= 0 ? std::min(deadline, slice) : slice);
    if (s.ok() || s.code() != Code::kDeadlineExceeded) return s;
    if (deadline >= 0 && MonotonicMillis() >= deadline) return s;
  }
}

Status ConnectFailure(const std::string& what, int err) {
  return Unavailable("connect(" + what + "): " + std::strerror(err));
}

Result<UniqueFd> ConnectUnix(const std::string& path, int64_t deadline) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return InvalidArgument("unix socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int64_t give_up = deadline >= 0 ? deadline : MonotonicMillis() + kUnixBacklogWaitMs;
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return ErrnoStatus("socket(AF_UNIX)", errno);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    // A non-blocking unix connect fails with EAGAIN while the listener's backlog is full; wait a little.
    if (errno != EAGAIN || MonotonicMillis() >= give_up) return ConnectFailure(path, errno);
    ::poll(nullptr, 0, 10);
  }
}

Result<UniqueFd> ConnectTcp(const std::string& host, int port, int64_t deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) return Unavailable("getaddrinfo(" + host + "): " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, &::freeaddrinfo);
  Status last = Unavailable("connect(" + where + "): no address");
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd) return ErrnoStatus("socket", errno);
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) < 0) {
      if (errno != EINPROGRESS) {
        last = ConnectFailure(where, errno);
        continue;
      }
      Status w = WaitFd(fd.get(), POLLOUT, deadline);
      if (!w.ok()) return DeadlineExceeded("connect(" + where + "): timed out");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = ConnectFailure(where, err);
        continue;
      }
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  return last;
}

// Sends all of `data` on a non-blocking socket. *peer_gone: the server closed or reset the connection.
Status SendAll(int fd, std::string_view data, int64_t deadline, bool* peer_gone) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      KILN_RETURN_IF_ERROR(WaitFd(fd, POLLOUT, deadline));
      continue;
    }
    *peer_gone = errno == EPIPE || errno == ECONNRESET;
    return Unavailable(std::string("send: ") + std::strerror(errno));
  }
  return Status::Ok();
}

bool IsInterim(int status) {
  return status >= 100 && status < 200 && status != 101;
}

// Drives one response through a parser, handing head and body pieces to the callbacks as they arrive.
class ResponseReader {
 public:
  enum class Step { kNeedMore, kDone, kStopped, kError };
  ResponseReader(bool head, size_t max_body, const std::function<void(const Response&)>& on_head,
                 const std::function<bool(std::string_view)>& on_data)
      : head_(head),
        parser_(Parser::Kind::kResponse, Limits{.max_body_bytes = max_body}),
        on_head_(on_head),
        on_data_(on_data) {
    if (head_) parser_.ExpectNoBody();
  }

  // Consumes what it can of *pending.
  Step Advance(std::string* pending) {
    for (;;) {
      if (!pending->empty()) {
        got_any_ = true;
        pending->erase(0, parser_.Feed(*pending));
      }
      // Interim answers (100 Continue) precede the real one and are skipped.
      if (parser_.state() != Parser::State::kComplete || !IsInterim(parser_.response().status)) break;
      parser_.Reset();
      if (head_) parser_.ExpectNoBody();
    }
    if (parser_.headers_done() && !head_delivered_ && !IsInterim(parser_.response().status)) {
      head_delivered_ = true;
      Response r;
      r.status = parser_.response().status;
      r.headers = parser_.response().headers;
      on_head_(r);
    }
    if (head_delivered_) {
      std::string piece = parser_.TakeBody();
      if (!piece.empty() && !on_data_(piece)) return Step::kStopped;
    }
    if (parser_.state() == Parser::State::kError) return Step::kError;
    return parser_.state() == Parser::State::kComplete ? Step::kDone : Step::kNeedMore;
  }
  // The server closed; true if that completed the response (a body delimited by close).
  bool Eof() {
    parser_.FeedEof();
    return parser_.state() == Parser::State::kComplete;
  }
  bool got_any() const { return got_any_; }
  Parser& parser() { return parser_; }

 private:
  const bool head_;
  Parser parser_;
  const std::function<void(const Response&)>& on_head_;
  const std::function<bool(std::string_view)>& on_data_;
  bool got_any_ = false;
  bool head_delivered_ = false;
};

}  // namespace

Client Client::Unix(std::string socket_path) {
  Client c;
  c.unix_path_ = std::move(socket_path);
  return c;
}

Client Client::Tcp(std::string host, int port) {
  Client c;
  c.host_ = std::move(host);
  c.port_ = port;
  return c;
}

Status Client::EnsureConnected(int64_t deadline_ms, bool* reused) {
  *reused = false;
  if (fd_) {
    // An idle keep-alive connection the server has closed shows up as readable (EOF); anything readable
    // before we asked is unusable either way.
    pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 0) {
      *reused = true;
      return Status::Ok();
    }
    Close();
  }
  leftover_.clear();
  Result<UniqueFd> fd =
      unix_path_.empty() ? ConnectTcp(host_, port_, deadline_ms) : ConnectUnix(unix_path_, deadline_ms);
  if (!fd.ok()) return fd.status();
  fd_ = std::move(fd).value();
  return Status::Ok();
}

Result<Response> Client::Do(const std::string& method, const std::string& target, const Headers& headers,
                            std::string_view body, int timeout_ms) {
  Response out;
  auto on_head = [&](const Response& r) {
    out.status = r.status;
    out.headers = r.headers;
  };
  auto on_data = [&](std::string_view d) {
    out.body.append(d);
    return true;
  };
  Status s = RoundTrip(method, target, headers, body, on_head, on_data, timeout_ms, Limits{}.max_body_bytes);
  if (!s.ok()) return s;
  return out;
}

Status Client::Stream(const std::string& method, const std::string& target, const Headers& headers,
                      std::string_view body, const std::function<void(const Response&)>& on_head,
                      const std::function<bool(std::string_view)>& on_data, int timeout_ms) {
  // A stream (process output, logs) may run for as long as it likes; only Do() buffers, so only it caps.
  return RoundTrip(method, target, headers, body, on_head, on_data, timeout_ms,
                   std::numeric_limits<size_t>::max() / 2);
}

Status Client::RoundTrip(const std::string& method, const std::string& target, const Headers& headers,
                         std::string_view body, const HeadFn& on_head, const DataFn& on_data, int timeout_ms,
                         size_t max_body) {
  const int64_t deadline = timeout_ms < 0 ? -1 : MonotonicMillis() + timeout_ms;
  Headers h = headers;
  if (!h.Has("host")) h.Add("Host", unix_path_.empty() ? host_ + ":" + std::to_string(port_) : "localhost");
  const std::string wire = SerializeRequest(method, target, h, body);
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    KILN_RETURN_IF_ERROR(EnsureConnected(deadline, &reused));
    bool retryable = false;
    Status s = Exchange(method == "HEAD", wire, deadline, max_body, on_head, on_data, &retryable);
    // The server may close an idle connection just as we reuse it; that request never reached a handler.
    if (!s.ok() && retryable && reused && attempt == 0) continue;
    if (!s.ok()) {
      std::string where = unix_path_.empty() ? host_ + ":" + std::to_string(port_) : unix_path_;
      return s.WithContext(method + " " + target + " (" + where + ")");
    }
    return s;
  }
}

Status Client::Exchange(bool head, std::string_view wire, int64_t deadline_ms, size_t max_body,
                        const HeadFn& on_head, const DataFn& on_data, bool* retryable) {
  bool peer_gone = false;
  Status sent = SendAll(fd_.get(), wire, deadline_ms, &peer_gone);
  if (!sent.ok() && !peer_gone) {
    Close();
    return sent;
  }
  // Even if sending failed because the server closed, it may have answered first (413 for a big body).
  ResponseReader reader(head, max_body, on_head, on_data);
  std::string pending = std::exchange(leftover_, std::string());
  char buf[64 * 1024];
  for (;;) {
    switch (reader.Advance(&pending)) {
      case ResponseReader::Step::kNeedMore:
        break;
      case ResponseReader::Step::kStopped:
        Close();
        return Status::Ok();
      case ResponseReader::Step::kError:
        Close();
        return Unavailable("malformed response: " + reader.parser().error().message);
      case ResponseReader::Step::kDone:
        leftover_ = std::move(pending);
        if (!reader.parser().keep_alive() || !sent.ok()) Close();
        return Status::Ok();
    }
    Status w = WaitFdUnlessCancelled(fd_.get(), POLLIN, deadline_ms, cancelled_);
    if (!w.ok()) {
      Close();
      return w;
    }
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n > 0) {
      pending.append(buf, static_cast<size_t>(n));
      continue;
    }
    std::string why =
        n == 0 ? "connection closed by the server" : std::string("recv: ") + std::strerror(errno);
    if (n == 0 && reader.got_any() && reader.Eof()) continue;
    Close();
    *retryable = !reader.got_any();
    return Unavailable(reader.got_any() ? why + " before the response was complete"
                                        : why + " before responding");
  }
}

}  // namespace kiln::http
