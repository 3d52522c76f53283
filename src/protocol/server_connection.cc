// One connection of the HTTP server: reading requests under the body policy and timeouts, dispatching them,
// and the ResponseWriter that answers them.
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"
#include "kiln/base/strings.h"
#include "server_state.h"

namespace kiln::http {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

using internal::LingeringClose;
using internal::PlainTextResponse;
using internal::SendAll;

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

// One connection's requests, served in order on the connection's own thread.
class Connection {
 public:
  Connection(ServerState& impl, ServerState::Conn* conn) : impl_(impl), conn_(conn), fd_(conn->fd) {}
  void Run();

  enum class ReadResult { kOk, kEof, kTimeout, kError };
  // Appends what arrives to buf_, waiting until `deadline` (MonotonicMillis) at most.
  ReadResult ReadMore(int64_t deadline);
  int fd() const { return fd_; }
  // Received and not parsed yet (after an upgrade: the tunnel's first bytes).
  std::string TakeBuffered() {
    std::string taken;
    taken.swap(buf_);
    return taken;
  }
  void CloseNow() { impl_.CloseConn(conn_); }
  // The next piece of a streamed body (BodyReader::Read's contract).
  Status ReadBody(Parser* parser, std::string* chunk);

 private:
  // Reads a request's head and, unless the body is streamed, its body; false when the connection is done
  // (an error was answered, the peer left, or a timeout passed).
  bool ReadRequest(Parser* parser, bool first, bool* streamed);
  // Accounts `total` bytes of buffered body to this request against the server-wide budget; false (and
  // nothing taken) when that would exceed it.
  bool Reserve(uint64_t total);
  void Release();
  bool ApplyBodyPolicy(Parser* parser, bool* streamed);
  bool FailRequest(const Parser& parser, int status, std::string_view message);
  bool Dispatch(Parser* parser, bool streamed);

  ServerState& impl_;
  ServerState::Conn* conn_;
  int fd_;
  uint64_t reserved_ = 0;  // this request's share of ServerState::buffered
  std::string buf_;        // received, not yet parsed (the start of a pipelined request)
};

class Writer : public ResponseWriter {
 public:
  enum class State { kNone, kSent, kStreaming, kFixed, kFinished, kAborted, kBroken, kUpgraded };
  // `parser`: the request's, to see whether its (streamed) body was read to the end when the answer starts.
  Writer(Connection& conn, const Parser& parser)
      : conn_(conn),
        parser_(parser),
        head_request_(parser.request().method == "HEAD"),
        keep_alive_(parser.keep_alive()),
        http10_(parser.minor_version() == 0) {}

  Status Send(const Response& response) override;
  Status StartStream(int status, const Headers& headers) override;
  Status StartFixed(int status, const Headers& headers, uint64_t length) override;
  Status Write(std::string_view data) override;
  Status Finish() override;
  Status WriteAndFinish(std::string_view data) override;
  bool PeerClosed() override;
  void Abort() override;
  Status Upgrade(std::string_view protocol, const Headers& headers, int* fd, std::string* pending) override;

  State state() const { return state_; }
  bool reusable() const { return keep_alive_ && (state_ == State::kSent || state_ == State::kFinished); }

 private:
  std::string Head(int status, const Headers& headers);
  Status Transmit(std::vector<iovec> parts);
  // One chunk of a chunked body, optionally followed by the last (empty) chunk, in one send.
  Status TransmitChunk(std::string_view data, bool then_last_chunk);

  Connection& conn_;
  const Parser& parser_;
  const bool head_request_;
  bool keep_alive_;
  const bool http10_;
  bool no_body_ = false;     // HEAD, 204, 304: Write() sends nothing
  bool raw_ = false;         // HTTP/1.0 streams: no chunking, the end of the body is the close
  uint64_t fixed_left_ = 0;  // kFixed: body bytes still owed
  State state_ = State::kNone;
};

std::string Writer::Head(int status, const Headers& headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head.append(ReasonPhrase(status)).append("\r\n");
  for (const auto& [n, v] : headers.fields()) {
    if (!IsFraming(n)) AppendField(&head, n, v);
  }
  if (HasCloseToken(headers)) keep_alive_ = false;
  // Answered before its body was read: the rest of the body is still coming, so the connection cannot carry
  // another request, and the client must hear so rather than find out by a failed reuse.
  if (!parser_.complete()) keep_alive_ = false;
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

Status Writer::StartFixed(int status, const Headers& headers, uint64_t length) {
  if (state_ != State::kNone) return FailedPrecondition("response already started");
  no_body_ = head_request_ || (status >= 100 && status < 200) || status == 204 || status == 304;
  std::string head = Head(status, headers);
  if (status != 204 && status != 304 && status >= 200)
    AppendField(&head, "Content-Length", std::to_string(length));
  head.append("\r\n");
  state_ = State::kFixed;
  fixed_left_ = no_body_ ? 0 : length;
  return Transmit({{head.data(), head.size()}});
}

Status Writer::Write(std::string_view data) {
  if (state_ == State::kBroken || state_ == State::kAborted) return Unavailable("peer is gone");
  if (state_ == State::kFixed) {
    if (no_body_ || data.empty()) return Status::Ok();
    if (data.size() > fixed_left_) return FailedPrecondition("Write past the announced Content-Length");
    fixed_left_ -= data.size();
    return Transmit({{const_cast<char*>(data.data()), data.size()}});
  }
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
  if (state_ == State::kFixed) {
    if (fixed_left_ == 0) {
      state_ = State::kFinished;
      return Status::Ok();
    }
    // Fewer bytes than announced: only a cut connection tells the client so.
    Abort();
    return FailedPrecondition("Finish with " + std::to_string(fixed_left_) + " announced bytes unsent");
  }
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

Status Writer::Upgrade(std::string_view protocol, const Headers& headers, int* fd, std::string* pending) {
  if (state_ != State::kNone) return FailedPrecondition("response already started");
  if (!parser_.complete()) return FailedPrecondition("a request with a body cannot switch protocols");
  std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
  AppendField(&head, "Upgrade", protocol);
  AppendField(&head, "Connection", "Upgrade");
  for (const auto& [n, v] : headers.fields())
    if (!IsFraming(n) && !EqualsIgnoreCase(n, "upgrade")) AppendField(&head, n, v);
  head.append("\r\n");
  state_ = State::kUpgraded;  // never reusable: the connection closes when the handler returns
  KILN_RETURN_IF_ERROR(Transmit({{head.data(), head.size()}}));
  *fd = conn_.fd();
  *pending = conn_.TakeBuffered();
  return Status::Ok();
}

void Writer::Abort() {
  if (state_ == State::kAborted) return;
  // Linger 0 turns the close into a TCP reset, so the client cannot mistake a cut body for a complete one.
  linger lg{1, 0};
  ::setsockopt(conn_.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  state_ = State::kAborted;
  conn_.CloseNow();
}

Connection::ReadResult Connection::ReadMore(int64_t deadline) {
  char buf[kReadChunk];
  for (;;) {
    int64_t left = deadline - MonotonicMillis();
    if (left <= 0) return ReadResult::kTimeout;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1 << 30)));
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

int64_t DeadlineIn(int timeout_ms) {
  // A non-positive timeout means none: a deadline far enough away never passes.
  return MonotonicMillis() + (timeout_ms > 0 ? timeout_ms : int64_t{1} << 40);
}

bool Connection::FailRequest(const Parser& parser, int status, std::string_view message) {
  if (parser.headers_done() && impl_.options.body_error) {
    Response r = impl_.options.body_error(parser.request(), status, message);
    r.headers.Set("Connection", "close");
    (void)SendAll(fd_, SerializeResponse(r));
  } else {
    (void)SendAll(fd_, PlainTextResponse(status, message));
  }
  LingeringClose(fd_);
  return false;
}

// Sets the body's limit from the policy and, as curl waits about a second for it before sending a large
// body, answers Expect: 100-continue once the body is known to be acceptable.
bool Connection::ApplyBodyPolicy(Parser* parser, bool* streamed) {
  BodyPolicy policy = impl_.PolicyFor(parser->request());
  parser->LimitBody(policy.max_bytes);
  if (parser->state() == Parser::State::kError) return true;  // the caller answers the 413
  *streamed = policy.stream;
  auto expect = parser->request().headers.Get("expect");
  if (!parser->complete() && parser->minor_version() == 1 && expect &&
      EqualsIgnoreCase(*expect, "100-continue")) {
    return SendAll(fd_, "HTTP/1.1 100 Continue\r\n\r\n").ok();
  }
  return true;
}

bool Connection::ReadRequest(Parser* parser, bool first, bool* streamed) {
  const auto& o = impl_.options;
  // Before the first byte: the idle timeout between keep-alive requests, or the head timeout for a new
  // connection (one that connects and says nothing must not hold a slot for long).
  int64_t deadline = DeadlineIn(o.idle_timeout_ms);
  if (first) deadline = std::min(deadline, DeadlineIn(o.head_timeout_ms));
  bool any = false;
  *streamed = false;
  for (;;) {
    if (!buf_.empty()) {
      if (!any) deadline = DeadlineIn(o.head_timeout_ms);
      any = true;
      const bool had_headers = parser->headers_done();
      buf_.erase(0, parser->Feed(buf_));
      if (!had_headers && parser->headers_done() && parser->state() != Parser::State::kError) {
        if (!ApplyBodyPolicy(parser, streamed)) return false;
        if (*streamed && parser->state() != Parser::State::kError) return true;
        continue;  // the rest of buf_ is body
      }
    }
    if (parser->state() != Parser::State::kError && parser->headers_done() &&
        !Reserve(parser->request().body.size())) {
      return FailRequest(*parser, 503, "too much request data in flight; retry shortly");
    }
    if (parser->complete()) return true;
    if (parser->state() == Parser::State::kError) {
      return FailRequest(*parser, parser->error().status, parser->error().message);
    }
    // Within the body, what counts is progress: each read must come within the body timeout.
    if (parser->headers_done()) deadline = DeadlineIn(o.body_timeout_ms);
    switch (ReadMore(deadline)) {
      case ReadResult::kOk:
        break;
      case ReadResult::kTimeout:
        if (any) return FailRequest(*parser, 408, "timed out reading the request");
        return false;
      case ReadResult::kEof:  // nobody left to answer, whether or not a request had started
      case ReadResult::kError:
        return false;
    }
  }
}

Status Connection::ReadBody(Parser* parser, std::string* chunk) {
  chunk->clear();
  for (;;) {
    if (!buf_.empty() && parser->state() == Parser::State::kNeedMore) buf_.erase(0, parser->Feed(buf_));
    *chunk = parser->TakeBody();
    if (!chunk->empty() || parser->complete()) return Status::Ok();
    if (parser->state() == Parser::State::kError) {
      const ParseError& e = parser->error();
      return e.status == 413 ? ResourceExhausted(e.message) : InvalidArgument(e.message);
    }
    switch (ReadMore(DeadlineIn(impl_.options.body_timeout_ms))) {
      case ReadResult::kOk:
        break;
      case ReadResult::kTimeout:
        return Unavailable("timed out waiting for the request body");
      case ReadResult::kEof:
      case ReadResult::kError:
        return Unavailable("the client closed the connection in the middle of the body");
    }
  }
}

class StreamedBody : public BodyReader {
 public:
  StreamedBody(Connection& conn, Parser* parser) : conn_(conn), parser_(parser) {}
  Status Read(std::string* chunk) override { return conn_.ReadBody(parser_, chunk); }

 private:
  Connection& conn_;
  Parser* parser_;
};

bool Connection::Dispatch(Parser* parser, bool streamed) {
  Request& request = parser->request();
  StreamedBody body(*this, parser);
  if (streamed) request.body_reader = &body;
  Writer writer(*this, *parser);
  std::string failure;
  try {
    impl_.handler(request, writer);
  } catch (const std::exception& e) {
    failure = std::string("handler threw: ") + e.what();
  } catch (...) {
    failure = "handler threw a non-standard exception";
  }
  request.body_reader = nullptr;
  if (!failure.empty()) log::Error("http: " + request.method + " " + request.path + ": " + failure);
  bool reusable = false;
  switch (writer.state()) {
    case Writer::State::kNone: {
      if (failure.empty())
        log::Error("http: " + request.method + " " + request.path + ": handler did not answer");
      Response r;
      r.status = 500;
      r.headers.Add("Content-Type", "text/plain; charset=utf-8");
      r.body = "internal server error\n";
      reusable = writer.Send(r).ok() && writer.reusable();
      break;
    }
    case Writer::State::kStreaming:
    case Writer::State::kFixed:
      // Ending the body cleanly would tell the client it got everything; it did not.
      writer.Abort();
      return false;
    default:
      reusable = writer.reusable();
  }
  if (reusable && parser->complete()) return true;
  // A streamed body the handler did not read to its end may still be arriving: the connection cannot carry
  // another request, and closing at once would turn the unread bytes into a reset that destroys the answer.
  if (!parser->complete() && writer.state() != Writer::State::kAborted &&
      writer.state() != Writer::State::kBroken) {
    LingeringClose(fd_);
  }
  return false;
}

bool Connection::Reserve(uint64_t total) {
  const uint64_t max = impl_.options.max_buffered_total;
  if (total <= reserved_) return true;
  const uint64_t delta = total - reserved_;
  if (max > 0 && impl_.buffered.fetch_add(delta) + delta > max) {
    impl_.buffered.fetch_sub(delta);
    return false;
  }
  if (max == 0) impl_.buffered.fetch_add(delta);
  reserved_ = total;
  return true;
}

void Connection::Release() {
  impl_.buffered.fetch_sub(reserved_);
  reserved_ = 0;
}

void Connection::Run() {
  // The body's limit is the policy's, set once the head is parsed (LimitBody): none before that.
  Limits limits = impl_.options.limits;
  limits.max_body_bytes = std::numeric_limits<size_t>::max();
  Parser parser(Parser::Kind::kRequest, limits);
  parser.PauseAfterHeaders();
  bool first = true;
  while (!impl_.Stopping()) {
    parser.Reset();
    bool streamed = false;
    const bool again = ReadRequest(&parser, first, &streamed) && Dispatch(&parser, streamed);
    Release();
    if (!again) return;
    first = false;
  }
}

}  // namespace

void ServeConnection(ServerState& state, ServerState::Conn* conn) {
  Connection(state, conn).Run();
}

}  // namespace kiln::http
