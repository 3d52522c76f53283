// One client connection of the Server (internal). A Session reads a request header, then either buffers a
// control-plane body and answers it through HandleApi on the worker pool, or hands the connection to a
// Proxy for the data plane. Sessions and proxies keep themselves alive through shared_ptr while an
// asynchronous operation is pending; all of a session's handlers run on its strand.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "kiln/control/control.h"
#include "kiln/server/server.h"
#include "metrics.h"

namespace kiln::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// What every session shares with the server.
class UpstreamPool;
class McpHttpService;

struct Shared {
  control::Control* control;
  ServerOptions options;
  asio::thread_pool* workers;
  Metrics* metrics;
  UpstreamPool* upstreams;  // idle envd connections (upstream_pool.h)
  McpHttpService* mcp;      // /mcp (mcp_http.h), or null
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Shared* shared);
  void Start() { ReadHeader(); }

  // For the proxy: the client side of the connection.
  beast::tcp_stream& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buffer_; }
  const Shared& shared() const { return *shared_; }
  // After a complete exchange: the next request on a kept-alive connection, else a clean close.
  void Done(bool keep_alive);
  // Drops the connection without a clean end (a stream whose sandbox died).
  void Abort();
  // Writes the access-log line of the current request (when enabled): `bytes` of response body sent, `cut`
  // when the exchange was broken off.
  void LogRequest(int status, uint64_t bytes, bool cut = false);
  // Sends a small complete response, then Done(keep_alive).
  void Reply(int status, std::string body, bool keep_alive,
             const std::vector<std::pair<std::string, std::string>>& headers = {},
             const std::string& content_type = "application/json");

 private:
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  void DataPlane(const std::string& sandbox_id, int port);
  void ReadApiBody();
  void OnApiBody(beast::error_code ec);

  struct LogEntry {
    int64_t start_ns = 0;
    std::string method, path, sandbox;
  } log_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  const Shared* shared_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> body_parser_;
};

// Proxies the request whose header `parser` holds to the sandbox's envd at `route`, streaming the rest of
// the request body and then the response; calls session->Done() or Abort() at the end.
void StartProxy(std::shared_ptr<Session> session, bhttp::request_parser<bhttp::empty_body>&& parser,
                control::Route route, std::string sandbox_id);

// Tunnels the connection whose request header `parser` holds to TCP `port` inside the sandbox (tunnel.cc):
// the request and everything after it, both ways, until either side ends.
void StartTunnel(std::shared_ptr<Session> session, bhttp::request_parser<bhttp::empty_body>&& parser,
                 control::Route route, std::string sandbox_id, int port);

}  // namespace kiln::server
