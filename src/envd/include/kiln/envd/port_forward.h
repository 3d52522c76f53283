// Port forwarding, Kiln's own envd route behind `kiln serve`'s "any other port" data plane (E2B's
// getHost(port)): the sandbox has no network the host can reach, so the server asks envd, which shares the
// sandbox's network namespace, to connect to the port on the sandbox's loopback.
//
// GET /kiln/tcp?port=N with "Upgrade: kiln-tcp" (access token required): envd connects to 127.0.0.1:N (then
// [::1]:N); when nothing listens it answers 502 {"code", "message", "port"}. Once connected it answers 101
// and the connection becomes a raw byte tunnel to that port, both directions, until both sides have ended
// (a half close is passed on) or either fails. The tunnel holds one of envd's connection threads.
#pragma once

#include "kiln/protocol/http_server.h"

namespace kiln::envd {

inline constexpr char kPortForwardPath[] = "/kiln/tcp";
inline constexpr char kPortForwardProtocol[] = "kiln-tcp";

void ServePortForward(http::Request& request, http::ResponseWriter& writer);

}  // namespace kiln::envd
