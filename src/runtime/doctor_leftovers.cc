// FindLeftovers: what a Kiln process that died without cleaning up left on the host.
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "kiln/base/fd.h"
#include "kiln/base/os.h"
#include "kiln/runtime/doctor.h"
#include "kiln/runtime/runtime.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::runtime {
namespace {

// A socket file whose listener is gone refuses connections (a live envd accepts, or queues in its backlog).
bool NothingListens(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return false;
  int rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  return rc != 0 && errno == ECONNREFUSED;
}

std::vector<std::string> DeadSockets(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  for (dirent* e; (e = readdir(d)) != nullptr;) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".sock") == 0 && NothingListens(dir + "/" + name))
      out.push_back(dir + "/" + name);
  }
  closedir(d);
  return out;
}

// kiln-envd processes reparented to init: the kiln that owned them is gone.
std::vector<pid_t> OrphanedSandboxes() {
  std::vector<pid_t> out;
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
    if (comm == "kiln-envd" && ppid == 1) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

}  // namespace

Leftovers FindLeftovers(bool remove, const std::string& socket_dir) {
  Leftovers found;
  found.orphans = OrphanedSandboxes();
  if (remove && !found.orphans.empty()) {
    // Each is PID 1 of its sandbox's PID namespace: its death takes the whole sandbox with it.
    for (pid_t pid : found.orphans) kill(pid, SIGKILL);
    for (int i = 0; i < 100 && !OrphanedSandboxes().empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  found.sockets = DeadSockets(socket_dir.empty() ? DefaultSocketDir() : socket_dir);
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
