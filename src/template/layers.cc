#include "layers.h"

#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "kiln/base/strings.h"
#include "kiln/sandbox/spec.h"

extern char** environ;

namespace kiln::tmpl {
namespace fs = std::filesystem;
namespace {

// nftw has no user argument: the shift in progress.
thread_local bool g_to_sandbox = false;
thread_local int g_shift_errno = 0;

uid_t ShiftId(uid_t id, bool to_sandbox) {
  uid_t base = SandboxRootHostUid();
  if (to_sandbox) return id < sandbox::kSandboxIdCount ? base + id : id;
  return id >= base && id - base < sandbox::kSandboxIdCount ? id - base : id;
}

int ShiftOne(const char* path, const struct stat* st, int, FTW*) {
  uid_t uid = ShiftId(st->st_uid, g_to_sandbox);
  gid_t gid = ShiftId(st->st_gid, g_to_sandbox);
  if (uid == st->st_uid && gid == st->st_gid) return 0;
  if (lchown(path, uid, gid) != 0) {
    g_shift_errno = errno;
    return 1;
  }
  if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) && chmod(path, st->st_mode & 07777) != 0) {
    g_shift_errno = errno;
    return 1;
  }
  return 0;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void Add(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
  std::string Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) out += kHex[md[i] >> 4], out += kHex[md[i] & 15];
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

Status HashEntry(const fs::path& path, const std::string& rel, Sha256& h) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus("lstat(" + path.string() + ")", errno);
  h.Add(rel + '\0' + std::to_string(st.st_mode) + '\0');
  if (S_ISLNK(st.st_mode)) {
    std::error_code ec;
    h.Add(fs::read_symlink(path, ec).string());
  } else if (S_ISREG(st.st_mode)) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return ErrnoStatus("open(" + path.string() + ")", errno);
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) h.Add(std::string_view(buf, in.gcount()));
  }
  h.Add(std::string(1, '\0'));
  return Status::Ok();
}

}  // namespace

uid_t SandboxRootHostUid() {
  const char* env = std::getenv("KILN_UID_BASE");
  return env ? static_cast<uid_t>(std::strtoul(env, nullptr, 10)) : 0x70000000u;
}

Status ShiftOwners(const std::string& dir, bool to_sandbox) {
  g_to_sandbox = to_sandbox;
  g_shift_errno = 0;
  int rc = nftw(dir.c_str(), ShiftOne, 64, FTW_PHYS | FTW_MOUNT);
  if (rc != 0) return ErrnoStatus("changing owners under " + dir, g_shift_errno ? g_shift_errno : errno);
  return Status::Ok();
}

Status MountOverlay(const std::vector<std::string>& lowers, const std::string& upper, const std::string& work,
                    const std::string& target) {
  std::string lowerdir;
  for (auto it = lowers.rbegin(); it != lowers.rend(); ++it) {  // overlayfs lists the top layer first
    if (it->find_first_of(",:\\") != std::string::npos)
      return InvalidArgument("layer path '" + *it + "' contains ',', ':' or '\\'");
    lowerdir += (lowerdir.empty() ? "" : ":") + *it;
  }
  std::string data = "lowerdir=" + lowerdir;
  if (!upper.empty()) data += ",upperdir=" + upper + ",workdir=" + work;
  if (data.size() > 3800)
    return ResourceExhausted("too many layers (" + std::to_string(lowers.size()) +
                             ") for one overlay mount; merge RUN steps");
  unsigned long flags = MS_NOSUID | MS_NODEV | (upper.empty() ? MS_RDONLY : 0);
  if (mount("overlay", target.c_str(), "overlay", flags, data.c_str()) != 0)
    return ErrnoStatus("mount(overlay on " + target + ")", errno);
  return Status::Ok();
}

Status Unmount(const std::string& target) {
  if (umount2(target.c_str(), 0) != 0 && umount2(target.c_str(), MNT_DETACH) != 0)
    return ErrnoStatus("umount(" + target + ")", errno);
  return Status::Ok();
}

Result<int> RunHostCommand(const std::vector<std::string>& argv, std::string* output) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (err != 0) {
    close(pipe_fds[0]);
    return ErrnoStatus("starting " + argv[0], err);
  }
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (output) output->append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Status CopyTree(const std::string& src, const std::string& dst) {
  std::error_code ec;
  fs::create_directories(dst, ec);
  std::string output;
  KILN_ASSIGN_OR_RETURN(int rc, RunHostCommand({"cp", "-a", src + "/.", dst}, &output));
  if (rc != 0)
    return Internal("cp -a " + src + " " + dst + " failed (exit " + std::to_string(rc) + "): " + output);
  return Status::Ok();
}

int64_t DiskUsage(const std::string& dir) {
  int64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (lstat(it->path().c_str(), &st) != 0) continue;
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second) continue;
    total += static_cast<int64_t>(st.st_blocks) * 512;
  }
  return total;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Add(data);
  return h.Hex();
}

Result<std::string> HashPath(const std::string& path) {
  Sha256 h;
  std::error_code ec;
  KILN_RETURN_IF_ERROR(HashEntry(path, ".", h));
  if (fs::is_directory(fs::symlink_status(path, ec))) {
    std::vector<fs::path> entries;
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      entries.push_back(it->path());
    if (ec) return ErrnoStatus("reading " + path, ec.value());
    std::sort(entries.begin(), entries.end());
    for (const fs::path& p : entries) KILN_RETURN_IF_ERROR(HashEntry(p, fs::relative(p, path).string(), h));
  }
  return h.Hex();
}

std::string AptMirror() {
  const char* env = std::getenv("KILN_APT_MIRROR");
  if (env && *env) return env;
  std::vector<std::string> files = {"/etc/apt/sources.list"};
  std::error_code ec;
  std::vector<std::string> more;
  for (const auto& e : fs::directory_iterator("/etc/apt/sources.list.d", ec)) more.push_back(e.path());
  std::sort(more.begin(), more.end());
  files.insert(files.end(), more.begin(), more.end());
  for (const std::string& file : files) {
    for (const std::string& raw : Split(ReadAll(file), '\n')) {
      std::string line(Trim(raw));
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> words;
      for (const std::string& w : Split(line, ' '))
        if (!w.empty() && w[0] != '[') words.push_back(w);
      for (const std::string& w : words) {
        std::string uri = w;
        while (!uri.empty() && uri.back() == '/') uri.pop_back();
        if ((StartsWith(uri, "http://") || StartsWith(uri, "https://")) && uri.size() > 7 &&
            uri.substr(uri.size() - 7) == "/debian")
          return uri;
      }
    }
  }
  return "http://deb.debian.org/debian";
}

}  // namespace kiln::tmpl
