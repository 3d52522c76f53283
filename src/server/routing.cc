#include "routing.h"

#include <nlohmann/json.hpp>

#include "kiln/base/json.h"

namespace kiln::server {
namespace {

int ParsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return 0;
  int port = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    port = port * 10 + (c - '0');
  }
  return port <= 65535 ? port : 0;
}

bool IsSandboxId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

std::optional<DataPlaneTarget> FindDataPlane(std::string_view id_header, std::string_view port_header,
                                             std::string_view host) {
  if (!id_header.empty()) {
    return DataPlaneTarget{std::string(id_header), port_header.empty() ? kEnvdPort : ParsePort(port_header)};
  }
  // "49983-abc.kiln.local:3000": only the first label matters, and it must be PORT-ID exactly, so that an
  // IP address or a plain host name stays control plane.
  std::string_view label = host.substr(0, host.find_first_of(".:"));
  size_t dash = label.find('-');
  if (dash == std::string_view::npos || host.find('.') == std::string_view::npos) return std::nullopt;
  int port = ParsePort(label.substr(0, dash));
  std::string_view id = label.substr(dash + 1);
  if (port == 0 || !IsSandboxId(id)) return std::nullopt;
  return DataPlaneTarget{std::string(id), port};
}

std::string SandboxNotFoundBody(const std::string& sandbox_id) {
  return DumpJson(
      nlohmann::json{{"sandboxId", sandbox_id}, {"message", "The sandbox was not found"}, {"code", 502}});
}

}  // namespace kiln::server
