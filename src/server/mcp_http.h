// McpHttpService: the Model Context Protocol's streamable HTTP transport (2025-06-18) on `kiln serve`, at
// the one endpoint /mcp. The JSON-RPC handling is tools::McpServer's, the same as `kiln mcp` over stdio;
// this layer only maps HTTP onto it:
//   POST   one JSON-RPC message. `initialize` (without Mcp-Session-Id) opens a session and the answer carries
//          its id in Mcp-Session-Id; every later request must send it back (400 without it, 404 for an
//          unknown or ended session, so the client starts over). A request is answered application/json; a
//          notification or response gets 202 with no body.
//   DELETE ends the session named by Mcp-Session-Id (204) and kills its sandbox.
//   GET    405: the server sends no messages of its own, so it offers no stream.
// The caller is already authenticated (the server's API keys); a session belongs to the key that opened it
// and is invisible (404) to others. A request with an Origin header that is neither a loopback origin nor
// the Host it was sent to is refused (403), against DNS rebinding from a browser.
//
// Sandboxes: each session gets its own, made by control::Control on its first tool call (so it counts
// against the key's quota and shows in the sandbox list), and killed when the session is deleted, idles out
// (no request for idle_timeout_s; checked on every request and on destruction) or the service goes.
//
// Thread-safety: Handle() from any thread; requests of one session are served one at a time.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api.h"
#include "kiln/control/control.h"
#include "kiln/tools/registry.h"

namespace kiln::server {

struct McpHttpOptions {
  int64_t idle_timeout_s = 1800;      // a session without requests this long is ended
  int64_t sandbox_lifetime_s = 3600;  // each session sandbox's lifetime (the server's maximum applies)
  std::string server_version;         // serverInfo.version
};

class McpHttpService {
 public:
  // `control` must outlive the service.
  McpHttpService(control::Control* control, tools::Registry registry, McpHttpOptions options);
  ~McpHttpService();  // ends every session

  ApiResponse Handle(const ApiRequest& request, const control::Principal& caller);

  struct McpSession;

 private:
  ApiResponse Post(const ApiRequest& request, const control::Principal& caller);
  ApiResponse Delete(const ApiRequest& request, const control::Principal& caller);
  std::shared_ptr<McpSession> Open(const control::Principal& caller);
  // Nullptr when `id` names no live session of `caller`.
  std::shared_ptr<McpSession> Find(const std::string& id, const control::Principal& caller);
  void EndIdleSessions();

  control::Control* control_;
  tools::Registry registry_;
  McpHttpOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<McpSession>> sessions_;
};

// Whether a browser Origin may talk to the server reached as `host` (the Host header): loopback origins
// (localhost, 127.0.0.1, [::1], any port) and the server's own host.
bool McpOriginAllowed(std::string_view origin, std::string_view host);

}  // namespace kiln::server
