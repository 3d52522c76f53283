// Socket helpers shared by the HTTP server's connection threads and its overflow thread. Internal to
// kiln_protocol.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/protocol/http_server.h"

namespace kiln::http::internal {

// Sends every byte of every piece. MSG_NOSIGNAL: a gone peer must be an error value, never SIGPIPE.
Status SendAll(int fd, std::vector<iovec> parts);
Status SendAll(int fd, std::string_view data);

// A complete text/plain response that closes the connection.
std::string PlainTextResponse(int status, std::string_view message);

// After an error response the request may still be arriving; reading it for a moment before closing keeps
// the kernel from answering the unread bytes with a reset that would destroy the response in flight.
void LingeringClose(int fd);

// The thread that answers connections past capacity, so they get a 503 (or an `at_capacity` answer such as
// a health check) instead of a reset, without a thread each. It polls them all, waits a short while for a
// request head, answers, and closes. Thread-safe.
class Overflow {
 public:
  explicit Overflow(const ServerOptions& options) : options_(options) {}
  ~Overflow() { Stop(); }
  Overflow(const Overflow&) = delete;
  Overflow& operator=(const Overflow&) = delete;

  // Starts the thread (before any connection can need it: past capacity, no new thread may be possible).
  Status Start();
  // Takes ownership of `fd` and answers it on the overflow thread; at once with 503 when that is full.
  void Hand(int fd);
  // Closes every held connection and joins the thread. Idempotent.
  void Stop();
  // Connections currently held (for tests and diagnostics).
  size_t held() const { return held_.load(); }

 private:
  struct Pending;
  void Loop();
  void Answer(Pending& p);

  const ServerOptions& options_;
  std::mutex mu_;
  std::vector<int> incoming_;  // handed over, not yet polled
  bool stopping_ = false;
  std::atomic<size_t> held_{0};
  UniqueFd wake_;
  std::thread thread_;
};

}  // namespace kiln::http::internal
