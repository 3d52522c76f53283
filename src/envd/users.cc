#include "kiln/envd/users.h"

#include <unistd.h>

#include <charconv>

#include "kiln/base/strings.h"
#include "kiln/envd/paths.h"

namespace kiln::envd {
namespace {

bool ParseId(std::string_view text, unsigned* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Lines of a colon-separated database, without comments, NIS "+"/"-" entries or blank lines.
std::vector<std::vector<std::string>> Records(std::string_view text) {
  std::vector<std::vector<std::string>> out;
  for (const std::string& raw : Split(text, '\n')) {
    std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
    out.push_back(Split(line, ':'));
  }
  return out;
}

std::string ReadSmallFile(const RootFs& root, const std::string& path) {
  auto fd = root.OpenPath(path, O_RDONLY | O_NOCTTY);
  if (!fd.ok()) return "";
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (16u << 20)) break;  // a hostile, huge passwd must not exhaust envd's memory
  }
  return data;
}

}  // namespace

UserDb UserDb::Parse(std::string_view passwd, std::string_view group) {
  UserDb db;
  for (auto& f : Records(passwd)) {
    unsigned uid = 0, gid = 0;
    if (f.size() < 7 || f[0].empty() || !ParseId(f[2], &uid) || !ParseId(f[3], &gid)) continue;
    db.users_.push_back({f[0], uid, gid, f[5].empty() ? "/" : f[5], f[6]});
  }
  for (auto& f : Records(group)) {
    unsigned gid = 0;
    if (f.size() < 3 || f[0].empty() || !ParseId(f[2], &gid)) continue;
    db.groups_.emplace(gid, f[0]);  // the first entry for a gid wins, as with getgrgid
  }
  return db;
}

UserDb UserDb::Load(const RootFs& root) {
  return Parse(ReadSmallFile(root, "/etc/passwd"), ReadSmallFile(root, "/etc/group"));
}

std::optional<UserInfo> UserDb::FindUser(std::string_view name) const {
  for (const UserInfo& u : users_)
    if (u.name == name) return u;
  return std::nullopt;
}

std::optional<UserInfo> UserDb::FindUid(uid_t uid) const {
  for (const UserInfo& u : users_)
    if (u.uid == uid) return u;
  return std::nullopt;
}

std::string UserDb::UserName(uid_t uid) const {
  auto u = FindUid(uid);
  return u ? u->name : std::to_string(uid);
}

std::string UserDb::GroupName(gid_t gid) const {
  auto it = groups_.find(gid);
  return it != groups_.end() ? it->second : std::to_string(gid);
}

}  // namespace kiln::envd
