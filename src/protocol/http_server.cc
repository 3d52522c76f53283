#include "kiln/protocol/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"
#include "kiln/base/strings.h"

namespace kiln::http {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// After an error response the request may still be arriving; reading it for a moment before closing keeps
// the kernel from answering the unread bytes with a reset that would destroy the response in flight.
constexpr int kLingerMs = 500;
constexpr size_t kLingerBytes = 1 << 20;

// Sends every byte of every piece. MSG_NOSIGNAL: a gone peer must be an error value, never SIGPIPE.
Status SendAll(int fd, std::vector<iovec> parts) {
  size_t first = 0;
  while (first < parts.size()) {
    msghdr msg{};
    msg.msg_iov = parts.data() + first;
    msg.msg_iovlen = parts.size() - first;
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return Unavailable("send: peer stopped reading (timed out)");
      return ErrnoStatus("send", errno);
    }
    auto left = static_cast<size_t>(n);
    while (first < parts.size() && left >= parts[first].iov_len) left -= parts[first++].iov_len;
    if (first < parts.size()) {
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
      parts[first].iov_len -= left;
    }
  }
  return Status::Ok();
}

Status SendAll(int fd, std::string_view data) {
  return SendAll(fd, {iovec{const_cast<char*>(data.data()), data.size()}});
}

void AppendField(std::string* out, std::string_view name, std::string_view value) {
  out->append(name).append(": ");
  for (char c : value) out->push_back(c == '\r' || c == '\n' || c == '\0' ? ' ' : c);
  out->append("\r\n");
}

bool IsFraming(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection");
}

bool HasCloseToken(const Headers& headers) {
  for (const auto& [n, v] : headers.fields()) {
    if (!EqualsIgnoreCase(n, "connection")) continue;
    for (const std::string& t : Split(v, ',')) {
      if (EqualsIgnoreCase(Trim(t), "close")) return true;
    }
  }
  return false;
}

std::string PlainTextResponse(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.headers.Add("Content-Type", "text/plain; charset=utf-8");
  r.headers.Add("Connection", "close");
  r.body = std::string(message) + "\n";
  return SerializeResponse(r);
}

void LingeringClose(int fd) {
  ::shutdown(fd, SHUT_WR);
  const int64_t deadline = MonotonicMillis() + kLingerMs;
  size_t drained = 0;
  char buf[4096];
  while (drained < kLingerBytes) {
    int64_t left = deadline - MonotonicMillis();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return;
    drained += static_cast<size_t>(n);
  }
}

// Everything a Server owns, visible to the connection code below (Server::Impl itself is private).
struct ServerState {
  struct Conn {
    int fd = -1;  // -1 once closed; closed only under `mu` so Shutdown never touches a reused number
    std::thread thread;
    bool done = false;
  };

  Handler handler;
  ServerOptions options;
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool stopping = false;
  bool serving = false;
  UniqueFd wake;  // eventfd: wakes the accept loop on Shutdown
  std::thread accept_thread;
  std::map<uint64_t, std::shared_ptr<Conn>> conns;
  uint64_t next_id = 0;

  bool Stopping() {
    std::lock_guard lock(mu);
    return stopping;
  }
  void CloseConn(Conn* c) {
    std::lock_guard lock(mu);
    if (c->fd >= 0) ::close(c->fd);
    c->fd = -1;
  }
  Status Loop(UniqueFd listen_fd);
  void AcceptOne(int listen_fd);
  void Reap();
  void Reject(int fd);
};

// One connection's requests, served in order on the connection's own thread.
class Connection {
 public:
  Connection(ServerState& impl, ServerState::Conn* conn) : impl_(impl), conn_(conn), fd_(conn->fd) {}
  void Run();

  enum class ReadResult { kOk, kEof, kTimeout, kError };
  ReadResult ReadMore();
  int fd() const { return fd_; }
  void CloseNow() { impl_.CloseConn(conn_); }

 private:
  bool ReadRequest(Parser* parser);
  bool Dispatch(Parser* parser);

  ServerState& impl_;
  ServerState::Conn* conn_;
  int fd_;
  std::string buf_;  // received, not yet parsed (the start of a pipelined request)
};

class Writer : public ResponseWriter {
 public:
  enum class State { kNone, kSent, kStreaming, kFinished, kAborted, kBroken };
  Writer(Connection& conn, bool head_request, bool keep_alive, bool http10)
      : conn_(conn), head_request_(head_request), keep_alive_(keep_alive), http10_(http10) {}

  Status Send(const Response& response) override;
  Status StartStream(int status, const Headers& headers) override;
  Status Write(std::string_view data) override;
  Status Finish() override;
  Status WriteAndFinish(std::string_view data) override;
  bool PeerClosed() override;
  void Abort() override;

  State state() const { return state_; }
  bool reusable() const { return keep_alive_ && (state_ == State::kSent || state_ == State::kFinished); }

 private:
  std::string Head(int status, const Headers& headers);
  Status Transmit(std::vector<iovec> parts);
  // One chunk of a chunked body, optionally followed by the last (empty) chunk, in one send.
  Status TransmitChunk(std::string_view data, bool then_last_chunk);

  Connection& conn_;
  const bool head_request_;
  bool keep_alive_;
  const bool http10_;
  bool no_body_ = false;  // HEAD, 204, 304: Write() sends nothing
  bool raw_ = false;      // HTTP/1.0 streams: no chunking, the end of the body is the close
  State state_ = State::kNone;
};

std::string Writer::Head(int status, const Headers& headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head.append(ReasonPhrase(status)).append("\r\n");
  for (const auto& [n, v] : headers.fields()) {
    if (!IsFraming(n)) AppendField(&head, n, v);
  }
  if (HasCloseToken(headers)) keep_alive_ = false;
  if (!keep_alive_) {
    AppendField(&head, "Connection", "close");
  } else if (http10_) {
    AppendField(&head, "Connection", "keep-alive");
  }
  return head;
}

Status Writer::Transmit(std::vector<iovec> parts) {
  Status s = SendAll(conn_.fd(), std::move(parts));
  if (!s.ok()) {
    state_ = State::kBroken;
    return Unavailable("peer is gone: " + s.message());
  }
  return s;
}

Status Writer::Send(const Response& response) {
  if (state_ != State::kNone) return FailedPrecondition("response already started");
  std::string head = Head(response.status, response.headers);
  const bool status_no_body =
      (response.status >= 100 && response.status < 200) || response.status == 204 || response.status == 304;
  if (!status_no_body) {
    // A HEAD answer may announce the length a GET would have; otherwise the length is the body's.
    std::optional<std::string_view> declared = response.headers.Get("content-length");
    std::string length =
        head_request_ && declared ? std::string(*declared) : std::to_string(response.body.size());
    AppendField(&head, "Content-Length", length);
  }
  head.append("\r\n");
  state_ = State::kSent;
  std::vector<iovec> parts{{head.data(), head.size()}};
  if (!status_no_body && !head_request_ && !response.body.empty()) {
    parts.push_back({const_cast<char*>(response.body.data()), response.body.size()});
  }
  return Transmit(std::move(parts));
}

Status Writer::StartStream(int status, const Headers& headers) {
  if (state_ != State::kNone) return FailedPrecondition("response already started");
  no_body_ = head_request_ || (status >= 100 && status < 200) || status == 204 || status == 304;
  // An HTTP/1.0 client cannot de-chunk, so its stream is delimited by closing the connection.
  raw_ = http10_ && !no_body_;
  if (raw_) keep_alive_ = false;
  std::string head = Head(status, headers);
  if (!no_body_ && !raw_) AppendField(&head, "Transfer-Encoding", "chunked");
  head.append("\r\n");
  state_ = State::kStreaming;
  return Transmit({{head.data(), head.size()}});
}

Status Writer::Write(std::string_view data) {
  if (state_ == State::kBroken || state_ == State::kAborted) return Unavailable("peer is gone");
  if (state_ != State::kStreaming) return FailedPrecondition("Write without StartStream");
  if (data.empty() || no_body_) return Status::Ok();
  if (raw_) return Transmit({{const_cast<char*>(data.data()), data.size()}});
  return TransmitChunk(data, false);
}

Status Writer::TransmitChunk(std::string_view data, bool then_last_chunk) {
  char size_line[24];
  int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
  static char crlf[] = "\r\n";
  std::vector<iovec> parts{
      {size_line, static_cast<size_t>(n)}, {const_cast<char*>(data.data()), data.size()}, {crlf, 2}};
  if (then_last_chunk) parts.push_back({const_cast<char*>(kLastChunk.data()), kLastChunk.size()});
  return Transmit(std::move(parts));
}

Status Writer::Finish() {
  if (state_ == State::kBroken || state_ == State::kAborted) return Unavailable("peer is gone");
  if (state_ != State::kStreaming) return FailedPrecondition("Finish without StartStream");
  state_ = State::kFinished;
  if (no_body_ || raw_) return Status::Ok();
  return Transmit({{const_cast<char*>(kLastChunk.data()), kLastChunk.size()}});
}

Status Writer::WriteAndFinish(std::string_view data) {
  if (state_ != State::kStreaming || data.empty() || no_body_ || raw_) {
    Status written = Write(data);
    return written.ok() ? Finish() : written;
  }
  state_ = State::kFinished;
  return TransmitChunk(data, true);
}

bool Writer::PeerClosed() {
  if (state_ == State::kBroken || state_ == State::kAborted) return true;
  pollfd p{conn_.fd(), POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  // Readable without RDHUP: either a pipelined request (peer alive) or, on old kernels, EOF.
  char c;
  return ::recv(conn_.fd(), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void Writer::Abort() {
  if (state_ == State::kAborted) return;
  // Linger 0 turns the close into a TCP reset, so the client cannot mistake a cut body for a complete one.
  linger lg{1, 0};
  ::setsockopt(conn_.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  state_ = State::kAborted;
  conn_.CloseNow();
}

Connection::ReadResult Connection::ReadMore() {
  char buf[kReadChunk];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int timeout = impl_.options.idle_timeout_ms > 0 ? impl_.options.idle_timeout_ms : -1;
    int r = ::poll(&p, 1, timeout);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ReadResult::kError;
    if (r == 0) return ReadResult::kTimeout;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return ReadResult::kError;
    if (n == 0) return ReadResult::kEof;
    buf_.append(buf, static_cast<size_t>(n));
    return ReadResult::kOk;
  }
}

bool Connection::ReadRequest(Parser* parser) {
  bool any = false;
  bool continued = false;
  for (;;) {
    if (!buf_.empty()) {
      any = true;
      buf_.erase(0, parser->Feed(buf_));
    }
    if (parser->state() == Parser::State::kComplete) return true;
    if (parser->state() == Parser::State::kError) {
      const ParseError& e = parser->error();
      (void)SendAll(fd_, PlainTextResponse(e.status, e.message));
      LingeringClose(fd_);
      return false;
    }
    // curl waits (about a second) for this before sending a large body.
    if (parser->headers_done() && !continued && parser->minor_version() == 1) {
      continued = true;
      auto expect = parser->request().headers.Get("expect");
      if (expect && EqualsIgnoreCase(*expect, "100-continue")) {
        if (!SendAll(fd_, "HTTP/1.1 100 Continue\r\n\r\n").ok()) return false;
      }
    }
    switch (ReadMore()) {
      case ReadResult::kOk:
        break;
      case ReadResult::kTimeout:
        if (any) (void)SendAll(fd_, PlainTextResponse(408, "timed out reading the request"));
        return false;
      case ReadResult::kEof:  // nobody left to answer, whether or not a request had started
      case ReadResult::kError:
        return false;
    }
  }
}

bool Connection::Dispatch(Parser* parser) {
  Request& request = parser->request();
  Writer writer(*this, request.method == "HEAD", parser->keep_alive(), parser->minor_version() == 0);
  std::string failure;
  try {
    impl_.handler(request, writer);
  } catch (const std::exception& e) {
    failure = std::string("handler threw: ") + e.what();
  } catch (...) {
    failure = "handler threw a non-standard exception";
  }
  if (!failure.empty()) log::Error("http: " + request.method + " " + request.path + ": " + failure);
  switch (writer.state()) {
    case Writer::State::kNone: {
      if (failure.empty())
        log::Error("http: " + request.method + " " + request.path + ": handler did not answer");
      Response r;
      r.status = 500;
      r.headers.Add("Content-Type", "text/plain; charset=utf-8");
      r.body = "internal server error\n";
      return writer.Send(r).ok() && writer.reusable();
    }
    case Writer::State::kStreaming:
      // Ending the body cleanly would tell the client it got everything; it did not.
      writer.Abort();
      return false;
    default:
      return writer.reusable();
  }
}

void Connection::Run() {
  Parser parser(Parser::Kind::kRequest, impl_.options.limits);
  while (!impl_.Stopping()) {
    parser.Reset();
    if (!ReadRequest(&parser) || !Dispatch(&parser)) return;
  }
}

}  // namespace

struct Server::Impl : ServerState {};

Server::Server(Handler handler, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->options = options;
  impl_->wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

Server::~Server() {
  Shutdown();
}

Status Server::Start(UniqueFd listen_fd) {
  std::lock_guard lock(impl_->mu);
  if (impl_->started || impl_->stopping) return FailedPrecondition("server already started or shut down");
  if (!impl_->wake.valid()) return Internal("eventfd failed");
  impl_->started = impl_->serving = true;
  impl_->accept_thread = std::thread([impl = impl_.get(), fd = std::move(listen_fd)]() mutable {
    Status s = impl->Loop(std::move(fd));
    if (!s.ok()) log::Error("http server stopped: " + s.ToString());
  });
  return Status::Ok();
}

Status Server::Serve(UniqueFd listen_fd) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->started || impl_->stopping) return FailedPrecondition("server already started or shut down");
    if (!impl_->wake.valid()) return Internal("eventfd failed");
    impl_->started = impl_->serving = true;
  }
  return impl_->Loop(std::move(listen_fd));
}

void Server::Shutdown() {
  std::thread accept;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    // Wakes threads blocked reading or writing; a streaming handler then sees Write fail and returns.
    for (auto& [id, c] : impl_->conns) {
      if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
    }
    accept = std::move(impl_->accept_thread);
  }
  uint64_t one = 1;
  if (impl_->wake.valid()) (void)!::write(impl_->wake.get(), &one, sizeof one);
  if (accept.joinable()) accept.join();
  {
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait(lock, [&] { return !impl_->serving; });
  }
  for (;;) {
    std::vector<std::shared_ptr<ServerState::Conn>> left;
    {
      std::lock_guard lock(impl_->mu);
      for (auto& [id, c] : impl_->conns) left.push_back(c);
      impl_->conns.clear();
    }
    if (left.empty()) break;
    for (auto& c : left) {
      if (c->thread.joinable()) c->thread.join();
    }
  }
}

Status ServerState::Loop(UniqueFd listen_fd) {
  int flags = ::fcntl(listen_fd.get(), F_GETFL);
  // Non-blocking so a connection that vanished between poll and accept cannot block the loop.
  if (flags < 0 || ::fcntl(listen_fd.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    Status s = ErrnoStatus("fcntl(listen socket)", errno);
    std::lock_guard lock(mu);
    serving = false;
    cv.notify_all();
    return s;
  }
  Status result;
  pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
  while (!Stopping()) {
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      result = ErrnoStatus("poll(listen socket)", errno);
      break;
    }
    if (fds[1].revents) break;
    if (fds[0].revents & (POLLERR | POLLNVAL)) {
      result = Internal("listen socket failed");
      break;
    }
    if (fds[0].revents & POLLIN) AcceptOne(listen_fd.get());
  }
  listen_fd.reset();
  std::lock_guard lock(mu);
  serving = false;
  cv.notify_all();
  return result;
}

void ServerState::Reap() {
  std::vector<std::shared_ptr<Conn>> finished;
  {
    std::lock_guard lock(mu);
    for (auto it = conns.begin(); it != conns.end();) {
      if (it->second->done) {
        finished.push_back(it->second);
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : finished) c->thread.join();
}

void ServerState::Reject(int fd) {
  std::string r = PlainTextResponse(503, "too many connections");
  (void)!::send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  ::close(fd);
}

void ServerState::AcceptOne(int listen_fd) {
  int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      log::Warn("http: accept: " + std::string(std::strerror(errno)));
      // Out of descriptors: back off instead of spinning on a listen socket that stays readable.
      pollfd p{wake.get(), POLLIN, 0};
      ::poll(&p, 1, 50);
    }
    return;
  }
  Reap();
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on unix sockets
  if (options.idle_timeout_ms > 0) {
    // Bounds a send to a client that stopped reading, which poll on the read side cannot see.
    timeval tv{options.idle_timeout_ms / 1000, (options.idle_timeout_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  std::unique_lock lock(mu);
  if (stopping) {
    ::close(fd);
    return;
  }
  if (conns.size() >= options.max_connections) {
    lock.unlock();
    Reject(fd);
    return;
  }
  auto conn = std::make_shared<Conn>();
  conn->fd = fd;
  try {
    conn->thread = std::thread([this, conn] {
      Connection(*this, conn.get()).Run();
      std::lock_guard lock(mu);
      if (conn->fd >= 0) ::close(conn->fd);
      conn->fd = -1;
      conn->done = true;
    });
  } catch (const std::system_error& e) {
    log::Error(std::string("http: cannot start a connection thread: ") + e.what());
    ::close(fd);
    return;
  }
  conns.emplace(next_id++, std::move(conn));
}

}  // namespace kiln::http
