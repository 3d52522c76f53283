// The body of a create (`POST /sandboxes`, `POST /v2/sandboxes`, e2b-protocol.md 3.2) as the control
// plane's CreateRequest. A pure function of the text: no I/O, no exception escapes, any input is safe.
//
// Read: templateID (string; default "base"), timeout (integer seconds), metadata and envVars (objects of
// strings), allow_internet_access (boolean; the SDKs' name, also read as allowInternetAccess), autoPause
// (boolean) and network {allowOut, denyOut (arrays of
// strings), allowPublicTraffic (boolean)}. A null field counts as absent. Fields the server does not act
// on (mcp, iam, volumeMounts, network.rules, ...) are ignored, as they are by a server without the feature.
// Values are checked for their JSON type here; their meaning (a CIDR, a timeout within the lifetime) is
// checked by the Control.
//
// Errors: InvalidArgument whose message starts with the field's name ("network.allowOut: must be an array
// of strings"), or "request body: ..." for text that is not one JSON object.
#pragma once

#include <string_view>

#include "kiln/base/status.h"
#include "kiln/control/control.h"

namespace kiln::server {

// Which create path the body came to. The legacy `POST /sandboxes` SDKs (<= 2.45) send
// allow_internet_access true whenever the caller did not say otherwise, so there true cannot mean "asked
// for network": it reads as unset (the server's default, `kiln serve --internet-access`), and only false is
// taken as said. On `POST /v2/sandboxes` the field is sent only when the caller set it, and is taken as is.
enum class CreatePath { kV2, kLegacy };

Result<control::CreateRequest> ParseCreateRequest(std::string_view body, CreatePath path = CreatePath::kV2);

}  // namespace kiln::server
