#include "mcp_http.h"

#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/base/json.h"
#include "kiln/tools/mcp.h"

namespace kiln::server {
namespace {

using json = nlohmann::json;

constexpr char kSessionHeader[] = "Mcp-Session-Id";

ApiResponse RpcError(int status, int code, const std::string& message) {
  json body = {{"jsonrpc", "2.0"}, {"id", nullptr}, {"error", {{"code", code}, {"message", message}}}};
  return ApiResponse{status, DumpJson(body), "application/json", {}};
}

// A message that is not JSON-RPC at all is the client's mistake at the HTTP level too (400, as the
// transport's specification asks for input the server cannot accept); every other answer, errors of a
// well-formed request included, is 200.
int StatusOf(const json& reply) {
  if (!reply.contains("error") || !reply["error"].is_object()) return 200;
  json code = reply["error"].value("code", json());
  return code == -32700 || code == -32600 ? 400 : 200;
}

std::string_view HostOnly(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') return authority.substr(0, authority.find(']') + 1);
  return authority.substr(0, authority.find(':'));
}

// Accept: absent, or naming JSON (the only type the answers come in) or a wildcard that covers it.
bool AcceptsJson(std::string_view accept) {
  if (accept.empty()) return true;
  for (std::string_view type : {"application/json", "application/*", "*/*"})
    if (accept.find(type) != std::string_view::npos) return true;
  return false;
}

}  // namespace

bool McpOriginAllowed(std::string_view origin, std::string_view host) {
  size_t scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view scheme = origin.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return false;
  std::string_view authority = origin.substr(scheme_end + 3);
  if (authority.empty() || authority.find('/') != std::string_view::npos) return false;
  std::string_view name = HostOnly(authority);
  if (name == "localhost" || name == "127.0.0.1" || name == "[::1]") return true;
  return !host.empty() && authority == host;
}

struct McpHttpService::McpSession {
  McpSession(control::Control* control, const tools::Registry* registry, control::Principal owner,
             const McpHttpOptions& options)
      : owner(std::move(owner)),
        runner(registry,
               [this, control, lifetime = options.sandbox_lifetime_s]() -> Result<tools::SandboxEndpoint> {
                 control::CreateRequest create;
                 create.timeout_s = lifetime;
                 create.env_vars["MPLCONFIGDIR"] = "/tmp/.matplotlib";  // matplotlib needs a writable one
                 create.metadata["kiln.mcp"] = "session";
                 KILN_ASSIGN_OR_RETURN(control::SandboxRecord made, control->Create(this->owner, create));
                 return tools::SandboxEndpoint{made.id, made.socket_path, made.access_token};
               }),
        server(&runner, {"kiln", options.server_version,
                         "Kiln tools: each call runs in this session's own isolated Linux sandbox. "
                         "run_python keeps variables and imports between calls; files written by one "
                         "tool are seen by the others."}),
        last_used_ms(MonotonicMillis()) {}

  void KillSandbox(control::Control* control) {
    if (std::optional<tools::SandboxEndpoint> made = runner.sandbox()) (void)control->Kill(owner, made->id);
  }

  std::string id;  // Mcp-Session-Id
  control::Principal owner;
  std::mutex mu;  // one request at a time (McpServer::Handle's contract)
  tools::ToolRunner runner;
  tools::McpServer server;
  int64_t last_used_ms;  // under McpHttpService::mu_
};

McpHttpService::McpHttpService(control::Control* control, tools::Registry registry, McpHttpOptions options)
    : control_(control), registry_(std::move(registry)), options_(std::move(options)) {}

McpHttpService::~McpHttpService() {
  std::map<std::string, std::shared_ptr<McpSession>> ending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ending.swap(sessions_);
  }
  for (auto& [id, session] : ending) {
    std::lock_guard<std::mutex> busy(session->mu);
    session->KillSandbox(control_);
  }
}

ApiResponse McpHttpService::Handle(const ApiRequest& request, const control::Principal& caller) {
  if (!request.origin.empty() && !McpOriginAllowed(request.origin, request.host))
    return RpcError(403, -32600, "Origin " + request.origin + " may not use this MCP endpoint");
  EndIdleSessions();
  if (request.method == "POST") return Post(request, caller);
  if (request.method == "DELETE") return Delete(request, caller);
  ApiResponse refused =
      RpcError(405, -32600, "method " + request.method + " not allowed on /mcp (POST, DELETE)");
  refused.headers.emplace_back("Allow", "POST, DELETE");
  return refused;
}

ApiResponse McpHttpService::Post(const ApiRequest& request, const control::Principal& caller) {
  if (!AcceptsJson(request.accept))
    return RpcError(406, -32600,
                    "Accept: " + request.accept + " does not take application/json, which /mcp answers in");
  if (!request.mcp_protocol_version.empty() &&
      !tools::McpProtocolVersionSupported(request.mcp_protocol_version))
    return RpcError(400, -32600,
                    "MCP-Protocol-Version: " + request.mcp_protocol_version +
                        " is not one this server speaks (" + tools::McpSupportedProtocolVersions() + ")");
  json message = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) return RpcError(400, -32700, "Parse error: the body is not JSON");
  bool initialize = message.is_object() && message.value("method", json()) == "initialize";
  std::shared_ptr<McpSession> session;
  if (initialize && request.mcp_session_id.empty()) {
    session = Open(caller);
  } else if (request.mcp_session_id.empty()) {
    return RpcError(400, -32600,
                    std::string("missing the ") + kSessionHeader + " header: send initialize first");
  } else if (!(session = Find(request.mcp_session_id, caller))) {
    return RpcError(404, -32600, "no MCP session " + request.mcp_session_id + " (ended or unknown)");
  }
  // Cancellation comes while the call it names holds the session: it goes to the server without waiting.
  if (message.is_object() && !message.contains("id") &&
      message.value("method", json()) == "notifications/cancelled") {
    session->server.Cancel(message.value("params", json::object()));
    return ApiResponse{202, "", "application/json", {}};
  }
  std::optional<json> reply;
  {
    std::lock_guard<std::mutex> busy(session->mu);
    reply = session->server.Handle(message);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    session->last_used_ms = MonotonicMillis();
  }
  ApiResponse response{reply ? StatusOf(*reply) : 202, reply ? DumpJson(*reply) : "", "application/json", {}};
  if (initialize) response.headers.emplace_back(kSessionHeader, session->id);
  return response;
}

ApiResponse McpHttpService::Delete(const ApiRequest& request, const control::Principal& caller) {
  if (request.mcp_session_id.empty())
    return RpcError(400, -32600, std::string("DELETE /mcp needs the ") + kSessionHeader + " header");
  std::shared_ptr<McpSession> session;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(request.mcp_session_id);
    if (it == sessions_.end() || it->second->owner.key_id != caller.key_id)
      return RpcError(404, -32600, "no MCP session " + request.mcp_session_id);
    session = it->second;
    sessions_.erase(it);
  }
  std::lock_guard<std::mutex> busy(session->mu);  // after the call under way, if any
  session->KillSandbox(control_);
  return ApiResponse{204, "", "application/json", {}};
}

std::shared_ptr<McpHttpService::McpSession> McpHttpService::Open(const control::Principal& caller) {
  auto session = std::make_shared<McpSession>(control_, &registry_, caller, options_);
  session->id = RandomHex(16);
  std::lock_guard<std::mutex> lock(mu_);
  sessions_[session->id] = session;
  return session;
}

std::shared_ptr<McpHttpService::McpSession> McpHttpService::Find(const std::string& id,
                                                                 const control::Principal& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->owner.key_id != caller.key_id) return nullptr;
  it->second->last_used_ms = MonotonicMillis();
  return it->second;
}

void McpHttpService::EndIdleSessions() {
  std::vector<std::shared_ptr<McpSession>> idle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t cutoff = MonotonicMillis() - options_.idle_timeout_s * 1000;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      // A session whose call is still running is not idle, however long the call takes.
      std::unique_lock<std::mutex> busy(it->second->mu, std::try_to_lock);
      if (busy.owns_lock() && it->second->last_used_ms < cutoff) {
        idle.push_back(it->second);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& session : idle) {
    std::lock_guard<std::mutex> busy(session->mu);
    session->KillSandbox(control_);
  }
}

}  // namespace kiln::server
