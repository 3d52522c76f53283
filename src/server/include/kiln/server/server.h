// Server: `kiln serve`'s HTTP listener. One TCP port answers both E2B planes: requests with E2B's routing
// headers (or a PORT-ID.DOMAIN host name) are proxied to the sandbox's envd, the rest is the control plane
// (api.h). Event-driven (Boost.Asio/Beast): a few I/O threads hold every connection, idle or streaming;
// control-plane handlers, which may wait for a sandbox to start, run on a separate worker pool.
//
// Limits: request headers over max_header_bytes get 431, control-plane bodies over max_api_body_bytes 413;
// a connection that sends no complete request header within idle_timeout_s is closed. Proxied bodies are
// streamed in both directions, never held whole, and have no size limit here (envd applies its own).
//
// Thread-safety: Start/Stop/port from any thread; the Control must outlive the Server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/base/status.h"
#include "kiln/control/control.h"

namespace kiln::agent {
class ThreadService;
}
namespace kiln::tools {
class Registry;
}

namespace kiln::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // IPv4 or IPv6 literal
  int port = 3000;                 // 0: any free port (see Server::port())
  int io_threads = 2;
  int worker_threads = 8;  // concurrent control-plane calls (creates block one each)
  size_t max_header_bytes = 16 << 10;
  size_t max_api_body_bytes = 1 << 20;
  int idle_timeout_s = 60;
  // One JSON line per request on stderr: {"ts","plane","method","path" (no query: it may carry a signature),
  // "sandbox","status","bytes","ms","cut"}.
  bool access_log = false;
  // The coding workflow's threads behind the LangGraph-compatible API (langgraph_routes.h); null: not served.
  // Must outlive the Server.
  agent::ThreadService* threads = nullptr;
  // The tools served over MCP's streamable HTTP transport at /mcp (one sandbox per MCP session); null: no
  // /mcp. Copied at Start.
  const tools::Registry* mcp_tools = nullptr;
  int64_t mcp_idle_timeout_s = 1800;  // an MCP session without requests this long ends, with its sandbox
  std::string version;                // the MCP serverInfo.version
};

class Server {
 public:
  // Binds and starts serving. InvalidArgument for a bad host; Unavailable when the port cannot be bound.
  static Result<std::unique_ptr<Server>> Start(control::Control* control, ServerOptions options);
  ~Server();  // Stop()

  int port() const;
  // Closes the listener and every connection, and joins the threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::server
