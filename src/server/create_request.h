// The body of a create (`POST /sandboxes`, `POST /v2/sandboxes`, e2b-protocol.md 3.2) as the control
// plane's CreateRequest. A pure function of the text: no I/O, no exception escapes, any input is safe.
//
// Read: templateID (string; default "base"), timeout (integer seconds), metadata and envVars (objects of
// strings), allowInternetAccess (boolean), autoPause (boolean) and network {allowOut, denyOut (arrays of
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

Result<control::CreateRequest> ParseCreateRequest(std::string_view body);

}  // namespace kiln::server
