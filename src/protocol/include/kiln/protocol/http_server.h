// A small HTTP/1.1 server: keep-alive, chunked request and response bodies, streamed responses flushed
// chunk by chunk, request bodies buffered under a per-request cap or streamed to the handler, one thread
// per connection (connections are few and often long-lived streams).
//
// Bounded by design: at most max_connections connection threads; past that (or when a thread cannot be
// started) a connection is handed to one overflow thread, started with the server, that answers 503 with
// Connection: close (never a reset), or lets `at_capacity` answer cheap requests such as a health check.
// Slow or silent clients are cut by the head, body-progress and idle timeouts.
//
// Thread-safety: Start/Shutdown may be called from any thread, but not from a handler (Shutdown joins the
// handler's thread). The handler runs on the connection's thread and may block (streams do); it must be
// thread-safe with respect to other connections. A ResponseWriter is used only on its handler's thread.
//
// Shutdown shuts every connection's socket down, so a handler blocked in Write or streaming gets an error
// from Write and must then return: long-running handlers must check Write's status (or PeerClosed()) and
// must not block indefinitely on anything else, or Shutdown waits for them.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/protocol/http.h"

namespace kiln::http {

// How a handler answers. Exactly one of: Send(), or StartStream() + Write()* + Finish(), or Abort().
// A handler that returns without answering gets a 500 sent for it.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Sends a complete response with Content-Length.
  virtual Status Send(const Response& response) = 0;
  // Sends the status line and headers with Transfer-Encoding: chunked.
  virtual Status StartStream(int status, const Headers& headers) = 0;
  // Sends the status line and headers with Content-Length: `length`; Write() then sends raw body bytes,
  // exactly `length` in all (more is an error), and Finish() fails (and aborts) if fewer were written.
  virtual Status StartFixed(int status, const Headers& headers, uint64_t length) = 0;
  // Sends and flushes one chunk. Unavailable once the peer is gone; the handler should then stop.
  virtual Status Write(std::string_view data) = 0;
  // Sends the last chunk.
  virtual Status Finish() = 0;
  // Write(data) then Finish(), in one send: the client is woken once for the end of the stream.
  virtual Status WriteAndFinish(std::string_view data) = 0;
  // True once the peer has closed its side (a non-blocking check).
  virtual bool PeerClosed() = 0;
  // Drops the connection without a clean end of body (so the client sees a reset, not success). Every
  // later call fails. A handler that returns mid-stream without Finish() is aborted the same way.
  virtual void Abort() = 0;
  // Switches protocols: sends "101 Switching Protocols" with `headers` (Upgrade, Connection: Upgrade added)
  // and hands the raw connection over for a tunnel. *fd receives the socket, still the server's (valid
  // until the handler returns, closed after it), *pending the bytes already received past the request
  // head. Only for a request without a body. Unimplemented for writers that cannot.
  virtual Status Upgrade(std::string_view protocol, const Headers& headers, int* fd, std::string* pending) {
    (void)protocol, (void)headers, (void)fd, (void)pending;
    return Unimplemented("this connection cannot switch protocols");
  }
};

using Handler = std::function<void(Request& request, ResponseWriter& writer)>;

// How one request's body is received, decided from its head.
struct BodyPolicy {
  bool stream = false;     // the handler reads it through Request::body_reader
  uint64_t max_bytes = 0;  // larger bodies get 413 (buffered) or ResourceExhausted from the reader (streamed)
};

struct ServerOptions {
  Limits limits;  // limits.max_body_bytes: the buffered-body cap when there is no body_policy
  // Called once a request's head is parsed; unset: buffer up to limits.max_body_bytes.
  std::function<BodyPolicy(const Request&)> body_policy;
  // Bytes of buffered (not streamed) request bodies held across all connections at once; a request that
  // would go past it gets 503. Bounds the server's memory by design: 0 = unlimited.
  uint64_t max_buffered_total = 0;
  int idle_timeout_ms = 120'000;    // a keep-alive connection with no request for this long is closed
  int head_timeout_ms = 30'000;     // the whole request head (and a new connection's first request) in this
  int body_timeout_ms = 60'000;     // the longest wait for the next body byte
  size_t max_connections = 512;     // connection threads; past this the overflow thread answers
  size_t max_overflow = 64;         // connections the overflow thread holds; past it, its oldest get 503
  int overflow_timeout_ms = 2'000;  // how long the overflow thread waits for a request head
  // Builds the answer to a request whose head was parsed but whose body was refused (413 past the cap, 400
  // malformed framing, 408 too slow), so it can speak the route's protocol; unset: text/plain.
  std::function<Response(const Request&, int status, std::string_view message)> body_error;
  // Answers a request that arrives past capacity without blocking (a health check); nullopt: 503.
  std::function<std::optional<Response>(const Request&)> at_capacity;
};

class Server {
 public:
  Server(Handler handler, ServerOptions options = {});
  ~Server();  // Shutdown()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves on a listening socket (ownership taken) on a background thread. Fails if already started.
  Status Start(UniqueFd listen_fd);
  // Serves on the calling thread until Shutdown() is called from elsewhere.
  Status Serve(UniqueFd listen_fd);
  // Stops accepting, shuts down open connections and joins every thread. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A listening unix stream socket at `path` (an existing socket file is replaced), close-on-exec.
Result<UniqueFd> ListenUnix(const std::string& path, int backlog = 128);
// A listening TCP socket on host:port (port 0 picks one; the chosen port goes to *bound_port).
Result<UniqueFd> ListenTcp(const std::string& host, int port, int* bound_port = nullptr, int backlog = 128);

}  // namespace kiln::http
