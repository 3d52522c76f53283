// Control's side of the warm pools (sandbox_pool.h): making pooled sandboxes and claiming one for a create.
#include <nlohmann/json.hpp>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"
#include "kiln/control/control.h"
#include "kiln/protocol/http_client.h"
#include "registry.h"
#include "sandbox_pool.h"

namespace kiln::control {
namespace {

constexpr int kEnvdTimeoutMs = 10'000;

int64_t NowMs() {
  return WallNanos() / 1'000'000;
}

// envd's POST /init: the create's env vars become the sandbox-wide defaults, as --env would have made them.
Status GiveEnvVars(const Route& route, const std::map<std::string, std::string>& env_vars) {
  if (env_vars.empty()) return Status::Ok();
  http::Headers headers;
  headers.Set("X-Access-Token", route.access_token);
  headers.Set("Content-Type", "application/json");
  std::string body = nlohmann::json{{"envVars", env_vars}}.dump();
  Result<http::Response> answer =
      http::Client::Unix(route.socket_path).Do("POST", "/init", headers, body, kEnvdTimeoutMs);
  if (!answer.ok()) return Unavailable("its envd did not take the env vars: " + answer.status().message());
  if (answer->status != 204)
    return Internal("its envd answered POST /init with " + std::to_string(answer->status) + ": " +
                    answer->body.substr(0, 200));
  return Status::Ok();
}

}  // namespace

Result<SandboxRecord> Control::MakePooled(const std::string& template_id) {
  KILN_ASSIGN_OR_RETURN(Template tmpl, FindTemplate(template_id, options_.home));
  CreateRequest request;
  request.template_id = template_id;
  return Start(Principal{}, request, tmpl, /*for_pool=*/true);
}

std::optional<SandboxRecord> Control::FromPool(const Principal& caller, const CreateRequest& request,
                                               const Template& tmpl) {
  // The network is set up at launch: a started sandbox cannot take other settings, so such a create starts
  // cold. Env vars are given to the pooled envd by Claim.
  bool default_network = request.allow_internet_access.value_or(options_.default_internet_access) ==
                             options_.default_internet_access &&
                         request.network_rules.allow_out.empty() && request.network_rules.deny_out.empty();
  if (!pool_ || !default_network) return std::nullopt;
  while (std::optional<SandboxRecord> taken = pool_->Take(tmpl.id)) {
    std::string id = taken->id;
    Result<SandboxRecord> claimed = Claim(caller, request, std::move(*taken));
    if (claimed.ok()) return std::move(*claimed);
    // It died while it waited, or the registry refused: never hand it out, try the next one.
    log::Warn("warm pool: cannot hand out sandbox " + id + ": " + claimed.status().ToString());
    (void)runtime_->Kill(id);
    (void)registry::MarkEnded(*db_, id, NowMs(), "failed to start");
  }
  return std::nullopt;
}

Result<SandboxRecord> Control::Claim(const Principal& caller, const CreateRequest& request, SandboxRecord r) {
  KILN_ASSIGN_OR_RETURN(runtime::SandboxInfo info, runtime_->Get(r.id));
  KILN_RETURN_IF_ERROR(GiveEnvVars(Route{info.socket_path, info.access_token}, request.env_vars));
  r.env_vars = request.env_vars;
  int64_t timeout_s = request.timeout_s.value_or(options_.default_timeout_s);
  int64_t now = NowMs();
  r.owner = caller.key_id;
  r.metadata = request.metadata;
  r.started_ms = now;  // its lifetime (and the maximum) counts from the create
  r.end_ms = now + timeout_s * 1000;
  r.auto_pause = request.auto_pause;
  r.state = "running";
  int64_t runtime_s = request.auto_pause ? options_.max_lifetime_s : timeout_s;
  KILN_RETURN_IF_ERROR(runtime_->SetTimeout(r.id, runtime_s * 1000));
  KILN_RETURN_IF_ERROR(registry::Claim(*db_, r));
  return r;
}

std::map<std::string, int64_t> Control::PoolSizes() const {
  return pool_ ? pool_->Ready() : std::map<std::string, int64_t>{};
}

}  // namespace kiln::control
