#include "kiln/envd/config.h"

#include <unistd.h>

#include <algorithm>

#include "kiln/envd/paths.h"

namespace kiln::envd {

Status InitEnv::Merge(const EnvVars& vars) {
  std::lock_guard<std::mutex> lock(mu_);
  EnvVars merged = vars_;
  for (const auto& [key, value] : vars) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos ||
        value.find('\0') != std::string::npos)
      return InvalidArgument("envVars: '" + key + "' is not a valid variable name (or its value has a NUL)");
    auto it = std::find_if(merged.begin(), merged.end(), [&key](const auto& kv) { return kv.first == key; });
    if (it != merged.end())
      it->second = value;
    else
      merged.emplace_back(key, value);
  }
  size_t bytes = 0;
  for (const auto& [key, value] : merged) bytes += key.size() + value.size();
  if (merged.size() > kMaxVars)
    return InvalidArgument("envVars: more than " + std::to_string(kMaxVars) + " variables");
  if (bytes > kMaxBytes)
    return InvalidArgument("envVars: more than " + std::to_string(kMaxBytes) + " bytes of names and values");
  vars_ = std::move(merged);
  return Status::Ok();
}

EnvVars InitEnv::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return vars_;
}

EnvVars DefaultEnv(const EnvdConfig& config) {
  EnvVars vars = config.env;
  if (!config.init_env) return vars;
  EnvVars later = config.init_env->Get();
  vars.insert(vars.end(), later.begin(), later.end());  // BuildEnv lets a later key win
  return vars;
}

Result<Caller> ResolveCaller(const RootFs& root, const EnvdConfig& config,
                             const std::optional<std::string>& username) {
  std::string name = username && !username->empty() ? *username : config.default_user;
  UserDb db = UserDb::Load(root);
  std::optional<UserInfo> user = db.FindUser(name);
  if (!user) return InvalidArgument("invalid username: '" + name + "'");
  Caller caller{*user, ::geteuid() == 0};
  if (!caller.switch_identity && user->uid != ::geteuid())
    return PermissionDenied("envd is not running as root and cannot act as user '" + name + "'");
  return caller;
}

}  // namespace kiln::envd
