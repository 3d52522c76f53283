// The sandbox's /etc/passwd and /etc/group: Kiln's accounts (root when the sandbox has one, `user`, nobody),
// optionally merged into a root filesystem's own files (a template built FROM a Debian release keeps its
// system users and groups: staff, messagebus, ...; package scripts chown to them).
//
// The base files come from a template, i.e. from code that ran in a sandbox: they are hostile input, read
// with a size bound and without following symlinks, and only their lines' names and ids are looked at.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "kiln/base/status.h"

namespace kiln::sandbox {

// Largest base passwd or group file accepted.
inline constexpr size_t kMaxUserDbBytes = 1 << 20;

struct UserDbIds {
  bool with_root = true;  // add root (uid/gid 0) when the base has none
  uid_t user_uid = 1000;
  gid_t user_gid = 1000;
};

// `base_passwd` without entries named `user` or with uid `ids.user_uid`, root (when `ids.with_root`) first
// and nobody added when it has no entry of that name, and Kiln's `user` (home /home/user, bash) last.
// Blank lines, comments and lines without a name are dropped; other lines are kept as they are. Merging
// the result again gives the same text.
std::string MergePasswd(std::string_view base_passwd, const UserDbIds& ids);
// The same for group(5): `user` (gid `ids.user_gid`), root and nogroup.
std::string MergeGroup(std::string_view base_group, const UserDbIds& ids);

// The file `name` ("passwd", "group") in the directory `etc_dir` (a host path whose last component must
// not be a symlink), or "" when it does not exist. FailedPrecondition when it is a symlink, not a regular
// file, or larger than kMaxUserDbBytes.
Result<std::string> ReadUserDbFile(const std::string& etc_dir, const std::string& name);

}  // namespace kiln::sandbox
