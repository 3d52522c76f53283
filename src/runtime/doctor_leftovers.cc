// FindLeftovers: what a Kiln process that died without cleaning up left on the host.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "kiln/base/os.h"
#include "kiln/runtime/doctor.h"
#include "kiln/runtime/runtime.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::runtime {
namespace {

// The paths that sockets of this network namespace are bound to, from /proc/self/net/unix (its last column).
std::set<std::string> BoundSocketPaths() {
  std::set<std::string> paths;
  std::ifstream table("/proc/self/net/unix");
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    size_t slash = line.find(" /");
    if (slash != std::string::npos) paths.insert(line.substr(slash + 1));
  }
  return paths;
}

// The processes some live process watches through a pidfd (/proc/P/fdinfo/N of a pidfd has "Pid: <pid>"):
// a kiln that re-adopted the sandboxes of a killed server supervises them so, although they stay under init.
std::set<pid_t> WatchedThroughPidfds() {
  std::set<pid_t> watched;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = proc.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      if (std::filesystem::read_symlink(fd.path(), link_ec).string() != "anon_inode:[pidfd]") continue;
      std::ifstream info(proc.path() / "fdinfo" / fd.path().filename());
      for (std::string line; std::getline(info, line);)
        if (line.rfind("Pid:", 0) == 0) watched.insert(static_cast<pid_t>(std::atoi(line.c_str() + 4)));
    }
  }
  return watched;
}

// kiln-envd processes reparented to init that no kiln watches: the kiln that owned them is gone.
std::vector<pid_t> OrphanedSandboxes() {
  std::vector<pid_t> out;
  const std::set<pid_t> watched = WatchedThroughPidfds();
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  for (dirent* e; (e = readdir(proc)) != nullptr;) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 1) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string comm = line.substr(open + 1, close - open - 1);
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (comm == "kiln-envd" && ppid == 1 && !watched.count(pid)) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

}  // namespace

std::vector<std::string> DeadSocketFiles(const std::string& dir, int64_t min_age_seconds) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  const std::set<std::string> bound = BoundSocketPaths();
  const time_t newest = time(nullptr) - static_cast<time_t>(min_age_seconds);
  for (dirent* e; (e = readdir(d)) != nullptr;) {
    std::string name = e->d_name, path = dir + "/" + name;
    struct stat st {};
    if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".sock") != 0) continue;
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_mtime > newest) continue;
    if (!bound.count(path)) out.push_back(path);
  }
  closedir(d);
  return out;
}

Leftovers FindLeftovers(bool remove, const std::string& socket_dir) {
  Leftovers found;
  found.orphans = OrphanedSandboxes();
  if (remove && !found.orphans.empty()) {
    // Each is PID 1 of its sandbox's PID namespace: its death takes the whole sandbox with it.
    for (pid_t pid : found.orphans) kill(pid, SIGKILL);
    for (int i = 0; i < 100 && !OrphanedSandboxes().empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  found.sockets = DeadSocketFiles(socket_dir.empty() ? DefaultSocketDir() : socket_dir, 0);
  if (remove) {
    std::vector<std::string> unlinked;
    for (const std::string& path : found.sockets)
      if (unlink(path.c_str()) == 0) unlinked.push_back(path);
    found.sockets = std::move(unlinked);
  }
  found.cgroups = sandbox::LeftoverCgroups(Os::Real(), remove);
  return found;
}

}  // namespace kiln::runtime
