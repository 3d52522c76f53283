// Which plane a request is for. The data plane is named by E2B's routing headers (E2b-Sandbox-Id,
// E2b-Sandbox-Port) or, without them, by a host name "PORT-ID.DOMAIN"; everything else is control plane.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kiln::server {

inline constexpr int kEnvdPort = 49983;
inline constexpr int kCodeInterpreterPort = 49999;

struct DataPlaneTarget {
  std::string sandbox_id;
  int port = kEnvdPort;  // 0 when the port header was not a port number
};

// `id_header`/`port_header` empty when absent. A port header without an id header is ignored.
std::optional<DataPlaneTarget> FindDataPlane(std::string_view id_header, std::string_view port_header,
                                             std::string_view host);

// The JSON body E2B's edge answers for an unknown, dead or paused sandbox (e2b-protocol.md 4.6).
std::string SandboxNotFoundBody(const std::string& sandbox_id);

}  // namespace kiln::server
