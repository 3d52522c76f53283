// libFuzzer target: the server's reading of untrusted request heads: the data-plane routing headers and
// host name, the request target (path and query), the list endpoint's metadata filter and its RFC 3339
// times, and the MCP endpoint's Origin check. The input is newline-separated fields: id header, port header,
// host, target, metadata, time, Origin.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../mcp_http.h"
#include "../query.h"
#include "../routing.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::string> Fields(std::string_view input, size_t count) {
  std::vector<std::string> fields;
  while (fields.size() + 1 < count) {
    size_t newline = input.find('\n');
    if (newline == std::string_view::npos) break;
    fields.emplace_back(input.substr(0, newline));
    input.remove_prefix(newline + 1);
  }
  fields.emplace_back(input);
  fields.resize(count);
  return fields;
}

void CheckRouting(const std::string& id, const std::string& port, const std::string& host) {
  auto target = kiln::server::FindDataPlane(id, port, host);
  if (!target) return;
  Check(target->port >= 0 && target->port <= 65535);
  Check(!target->sandbox_id.empty());
  // The 502 body echoes the id the client sent: it must still be valid JSON naming that sandbox.
  auto body = nlohmann::json::parse(kiln::server::SandboxNotFoundBody(target->sandbox_id), nullptr, false);
  Check(body.is_object() && body["sandboxId"].is_string());
}

// An allowed Origin is an http(s) origin without a path, and a loopback one or exactly the Host.
void CheckOrigin(const std::string& origin, const std::string& host) {
  if (!kiln::server::McpOriginAllowed(origin, host)) return;
  std::string_view rest = origin;
  bool http = rest.rfind("http://", 0) == 0, https = rest.rfind("https://", 0) == 0;
  Check(http || https);
  rest.remove_prefix(http ? 7 : 8);
  Check(!rest.empty() && rest.find('/') == std::string_view::npos);
  bool loopback =
      rest.rfind("localhost", 0) == 0 || rest.rfind("127.0.0.1", 0) == 0 || rest.rfind("[::1]", 0) == 0;
  Check(loopback || rest == host);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = Fields(std::string_view(reinterpret_cast<const char*>(data), size), 7);
  CheckRouting(f[0], f[1], f[2]);
  if (auto target = kiln::server::ParseTarget(f[3]); target.ok()) {
    for (const std::string& segment : kiln::server::PathSegments(target->path)) Check(!segment.empty());
  }
  (void)kiln::server::DecodeMetadataFilter(f[4]);
  (void)kiln::server::ParseRfc3339Millis(f[5]);
  CheckOrigin(f[6], f[2]);
  return 0;
}
