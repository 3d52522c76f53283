// Users and groups of the sandbox, read from <root>/etc/passwd and <root>/etc/group.
//
// envd is a static binary, so it cannot use NSS (getpwnam): it parses the files itself. The files belong to
// the sandbox and may be edited by its (hostile) code, so parsing skips malformed lines instead of failing.
// UserDb is an immutable value: thread-compatible, cheap to reload per request.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::envd {

class RootFs;

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;   // as written in passwd; "/" when empty
  std::string shell;  // may be empty
};

class UserDb {
 public:
  // Parses passwd(5) and group(5) text. Comment, blank and malformed lines are skipped.
  static UserDb Parse(std::string_view passwd, std::string_view group);
  // Reads <root>/etc/passwd and <root>/etc/group inside `root`; a missing or unreadable file counts as empty.
  static UserDb Load(const RootFs& root);

  std::optional<UserInfo> FindUser(std::string_view name) const;
  std::optional<UserInfo> FindUid(uid_t uid) const;
  // The name of uid / gid, or its decimal number when unknown (as `ls -l` shows it).
  std::string UserName(uid_t uid) const;
  std::string GroupName(gid_t gid) const;

 private:
  std::vector<UserInfo> users_;
  std::map<gid_t, std::string> groups_;
};

}  // namespace kiln::envd
