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

Result<control::CreateRequest> ParseCreateRequest(std::string_view text) {
  KILN_ASSIGN_OR_RETURN(Json body, ParseObject(text));
  control::CreateRequest request;
  KILN_RETURN_IF_ERROR(StringField(body, "templateID", false, &request.template_id));
  KILN_ASSIGN_OR_RETURN(request.timeout_s, Seconds(body, "timeout"));
  KILN_ASSIGN_OR_RETURN(request.metadata, StringMap(body, "metadata"));
  KILN_ASSIGN_OR_RETURN(request.env_vars, StringMap(body, "envVars"));
  KILN_ASSIGN_OR_RETURN(request.allow_internet_access, Boolean(body, "allowInternetAccess"));
  KILN_ASSIGN_OR_RETURN(std::optional<bool> auto_pause, Boolean(body, "autoPause"));
  request.auto_pause = auto_pause.value_or(false);
  KILN_RETURN_IF_ERROR(ReadNetwork(body, request));
  return request;
}

}  // namespace kiln::server
