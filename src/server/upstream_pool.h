// UpstreamPool (internal): idle keep-alive connections to sandboxes' envd sockets, so that the proxy sends
// the next request to a sandbox on an open connection instead of connecting again (a new connection costs
// envd an accept and a thread, and the exchange two more wake-ups).
//
// At most kPerSocket idle connections per envd socket and kTotal in all; one idle longer than kMaxIdleMs
// (well under envd's own 60 s idle timeout) or that its peer has closed (the sandbox was killed) is closed
// by a sweep thread within kSweepMs, and never handed out. Take() checks again, but a connection can still
// be closed by envd just after it was taken: the proxy retries a request without a body once on a fresh
// connection when a reused one fails before any response byte.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "kiln/base/fd.h"

namespace kiln::server {

class UpstreamPool {
 public:
  static constexpr size_t kPerSocket = 4;
  static constexpr size_t kTotal = 1024;
  static constexpr int64_t kMaxIdleMs = 20'000;
  static constexpr int kSweepMs = 250;

  UpstreamPool();
  ~UpstreamPool();  // stops the sweep thread and closes every idle connection

  // An idle connection to `socket_path` that still looks open, or an empty fd.
  UniqueFd Take(const std::string& socket_path);
  // Keeps `fd` (a connection whose last exchange completed) for the next Take of `socket_path`, or closes
  // it when the limits are reached.
  void Give(const std::string& socket_path, UniqueFd fd);
  size_t idle() const;

 private:
  struct Idle {
    UniqueFd fd;
    int64_t since_ms;
  };
  void Sweep();

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  size_t total_ = 0;
  std::map<std::string, std::deque<Idle>> idle_;
  std::thread sweeper_;
};

}  // namespace kiln::server
