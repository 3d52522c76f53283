#include "kiln/sandbox/user_db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/strings.h"

namespace kiln::sandbox {
namespace {

struct Entry {
  std::string_view line, name, id;  // id: the third field (uid or gid); empty when absent
};

std::vector<Entry> Entries(std::string_view text) {
  std::vector<Entry> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t c1 = line.find(':');
    if (line.empty() || line[0] == '#' || c1 == 0 || c1 == std::string_view::npos) continue;
    if (line.find('\0') != std::string_view::npos) continue;
    Entry e{line, line.substr(0, c1), {}};
    size_t c2 = line.find(':', c1 + 1);
    if (c2 != std::string_view::npos) {
      size_t c3 = line.find(':', c2 + 1);
      e.id = line.substr(c2 + 1, c3 == std::string_view::npos ? std::string_view::npos : c3 - c2 - 1);
    }
    out.push_back(e);
  }
  return out;
}

bool Has(const std::vector<Entry>& entries, std::string_view name) {
  for (const Entry& e : entries)
    if (e.name == name) return true;
  return false;
}

// `entries` without the ones Kiln's account `user` (id `user_id`) replaces, then the accounts Kiln adds.
std::string Merge(std::vector<Entry> entries, uint32_t user_id, const std::string& user_line,
                  const std::string& root_line, const std::string& nobody_name,
                  const std::string& nobody_line) {
  std::string id = std::to_string(user_id);
  std::erase_if(entries, [&](const Entry& e) { return e.name == "user" || e.id == id; });
  std::string out = root_line.empty() || Has(entries, "root") ? "" : root_line;
  for (const Entry& e : entries) out.append(e.line).push_back('\n');
  if (!Has(entries, nobody_name)) out += nobody_line;
  return out + user_line;  // last, so that merging a merged file again changes nothing
}

}  // namespace

std::string MergePasswd(std::string_view base_passwd, const UserDbIds& ids) {
  std::string uid = std::to_string(ids.user_uid), gid = std::to_string(ids.user_gid);
  return Merge(Entries(base_passwd), ids.user_uid, "user:x:" + uid + ":" + gid + "::/home/user:/bin/bash\n",
               ids.with_root ? "root:x:0:0:root:/root:/bin/bash\n" : "", "nobody",
               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
}

std::string MergeGroup(std::string_view base_group, const UserDbIds& ids) {
  return Merge(Entries(base_group), ids.user_gid, "user:x:" + std::to_string(ids.user_gid) + ":\n",
               ids.with_root ? "root:x:0:\n" : "", "nogroup", "nogroup:x:65534:\n");
}

Result<std::string> ReadUserDbFile(const std::string& etc_dir, const std::string& name) {
  UniqueFd dir(open(etc_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) {
    if (errno == ENOENT) return std::string();
    return FailedPrecondition(etc_dir + " is not a directory (" + std::string(strerror(errno)) + ")");
  }
  std::string path = etc_dir + "/" + name;
  UniqueFd fd(openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::string();
    return FailedPrecondition(path + " cannot be read as a regular file (" + std::string(strerror(errno)) +
                              ")");
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat(" + path + ")", errno);
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(path + " is not a regular file");
  if (st.st_size > static_cast<off_t>(kMaxUserDbBytes))
    return FailedPrecondition(path + " is larger than " + std::to_string(kMaxUserDbBytes) + " bytes");
  std::string text;
  char buf[8192];
  for (ssize_t n; (n = read(fd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read(" + path + ")", errno);
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxUserDbBytes)
      return FailedPrecondition(path + " is larger than " + std::to_string(kMaxUserDbBytes) + " bytes");
  }
  return text;
}

}  // namespace kiln::sandbox
