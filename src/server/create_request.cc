#include "create_request.h"

#include "body_fields.h"

namespace kiln::server {
namespace {

using Json = nlohmann::json;

// network: {allowOut, denyOut, allowPublicTraffic}; the CIDRs are checked with the sandbox spec later.
Status ReadNetwork(const Json& body, control::CreateRequest& request) {
  if (!body.contains("network") || body["network"].is_null()) return Status::Ok();
  const Json& network = body["network"];
  if (!network.is_object()) return InvalidArgument("network: must be an object");
  KILN_ASSIGN_OR_RETURN(request.network_rules.allow_out, StringList(network, "allowOut", "network.allowOut"));
  KILN_ASSIGN_OR_RETURN(request.network_rules.deny_out, StringList(network, "denyOut", "network.denyOut"));
  KILN_ASSIGN_OR_RETURN(std::optional<bool> public_traffic,
                        Boolean(network, "allowPublicTraffic", "network.allowPublicTraffic"));
  request.allow_public_traffic = public_traffic.value_or(true);
  return Status::Ok();
}

}  // namespace

Result<control::CreateRequest> ParseCreateRequest(std::string_view text, CreatePath path) {
  KILN_ASSIGN_OR_RETURN(Json body, ParseObject(text));
  control::CreateRequest request;
  KILN_RETURN_IF_ERROR(StringField(body, "templateID", false, &request.template_id));
  KILN_ASSIGN_OR_RETURN(request.timeout_s, Seconds(body, "timeout"));
  KILN_ASSIGN_OR_RETURN(request.metadata, StringMap(body, "metadata"));
  KILN_ASSIGN_OR_RETURN(request.env_vars, StringMap(body, "envVars"));
  // The SDKs send allow_internet_access (e2b-protocol.md 3.2); allowInternetAccess is the name the rest of
  // the API (sandbox details, network updates) uses, accepted too. When both are given they must agree.
  KILN_ASSIGN_OR_RETURN(request.allow_internet_access, Boolean(body, "allow_internet_access"));
  KILN_ASSIGN_OR_RETURN(std::optional<bool> camel, Boolean(body, "allowInternetAccess"));
  if (camel && request.allow_internet_access && *camel != *request.allow_internet_access)
    return InvalidArgument("allowInternetAccess: contradicts allow_internet_access");
  if (camel) request.allow_internet_access = camel;
  if (path == CreatePath::kLegacy && request.allow_internet_access == true)
    request.allow_internet_access.reset();
  KILN_ASSIGN_OR_RETURN(std::optional<bool> auto_pause, Boolean(body, "autoPause"));
  request.auto_pause = auto_pause.value_or(false);
  KILN_RETURN_IF_ERROR(ReadNetwork(body, request));
  return request;
}

}  // namespace kiln::server
