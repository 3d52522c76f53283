#include "kiln/envd/config.h"

#include <unistd.h>

#include "kiln/envd/paths.h"

namespace kiln::envd {

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
