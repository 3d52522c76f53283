// The E2B control plane as a function from a buffered request to a response: routes, authentication,
// JSON in and out, status codes and error bodies exactly as e2b-protocol.md section 3 says. No sockets
// here; the HTTP server calls HandleApi on a worker thread (it may wait for a sandbox to start).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kiln/agent/thread_service.h"
#include "kiln/control/control.h"
#include "metrics.h"

namespace kiln::server {

class McpHttpService;

// The envd version Kiln's sandboxes claim: the SDK gates features on it (0.5.7: octet-stream uploads).
inline constexpr char kEnvdVersion[] = "0.5.7";

struct ApiRequest {
  std::string method;
  std::string target;         // path and query, as sent
  std::string api_key;        // X-API-Key, empty when absent
  std::string authorization;  // Authorization, empty when absent
  std::string body;
  std::string host;                  // Host
  std::string origin;                // Origin, empty when absent
  std::string mcp_session_id;        // Mcp-Session-Id, empty when absent
  std::string mcp_protocol_version;  // MCP-Protocol-Version, empty when absent
  std::string accept;                // Accept, empty when absent
};

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON, or empty (with a 204)
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// `metrics` records creates and answers GET /metrics.
// `threads` (may be null) answers the LangGraph-compatible paths (langgraph_routes.h) with the same API keys;
// `mcp` (may be null) the MCP endpoint /mcp (mcp_http.h).
ApiResponse HandleApi(control::Control& control, Metrics& metrics, const ApiRequest& request,
                      agent::ThreadService* threads = nullptr, McpHttpService* mcp = nullptr);
// {"code": status, "message": message}.
ApiResponse ErrorResponse(int status, const std::string& message);
// The HTTP status for an error code crossing from control.
int HttpStatus(Code code);

}  // namespace kiln::server
