// A blocking HTTP/1.1 client over a unix socket or TCP, for envd and local test peers.
//
// One Client owns at most one connection, reused across requests (keep-alive) and reopened when the server
// closed it. Not thread-safe: use one Client per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/protocol/http.h"

namespace kiln::http {

class Client {
 public:
  static Client Unix(std::string socket_path);
  static Client Tcp(std::string host, int port);

  // Sends one request (Host and Content-Length added) and reads the whole response.
  // `timeout_ms` < 0 waits forever; past the deadline: DeadlineExceeded. A connection failure: Unavailable
  // naming the socket and errno.
  Result<Response> Do(const std::string& method, const std::string& target, const Headers& headers = {},
                      std::string_view body = {}, int timeout_ms = -1);

  // Like Do, but hands the body over as it arrives: `on_head` once with status and headers (body empty),
  // then `on_data` for each piece. `on_data` returning false stops reading and closes the connection.
  Status Stream(const std::string& method, const std::string& target, const Headers& headers,
                std::string_view body, const std::function<void(const Response&)>& on_head,
                const std::function<bool(std::string_view)>& on_data, int timeout_ms = -1);

  // While set, a call waiting for the server's answer asks `cancelled` at least every 100 ms and, once it
  // says true, closes the connection and returns FailedPrecondition ("cancelled"). Applies to every later
  // call until set again (empty: never cancelled).
  void set_cancelled(std::function<bool()> cancelled) { cancelled_ = std::move(cancelled); }

  // Closes the connection (the next request opens a new one).
  void Close() { fd_.reset(); }
  // Whether a connection is open: after a whole response with keep-alive, until Close() or an error.
  bool connected() const { return static_cast<bool>(fd_); }

 private:
  using HeadFn = std::function<void(const Response&)>;
  using DataFn = std::function<bool(std::string_view)>;
  Client() = default;
  // `deadline_ms` is on MonotonicMillis(), -1 for none. *reused: an already open connection was kept.
  Status EnsureConnected(int64_t deadline_ms, bool* reused);
  Status RoundTrip(const std::string& method, const std::string& target, const Headers& headers,
                   std::string_view body, const HeadFn& on_head, const DataFn& on_data, int timeout_ms,
                   size_t max_body);
  // One attempt on the current connection. *retryable: failed before any response byte arrived.
  Status Exchange(bool head, std::string_view wire, int64_t deadline_ms, size_t max_body,
                  const HeadFn& on_head, const DataFn& on_data, bool* retryable);
  std::string unix_path_;
  std::string host_;
  int port_ = 0;
  UniqueFd fd_;
  std::string leftover_;
  std::function<bool()> cancelled_;
};

}  // namespace kiln::http
