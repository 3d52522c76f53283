#include "orphans.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "kiln/base/ids.h"

namespace kiln::control {
namespace {

// The sandbox's cgroup directories (one on v2, one per controller on v1); the first lists its processes.
std::vector<std::string> CgroupDirs(const sandbox::Capabilities& caps, const std::string& id) {
  if (caps.cgroup_mode == "v2") return {caps.cgroup_root + "/" + id};
  std::vector<std::string> dirs;
  for (const char* controller : {"pids", "memory", "cpu"})
    dirs.push_back(caps.cgroup_root + "/" + controller + "/kiln/" + id);
  return dirs;
}

std::vector<pid_t> Procs(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.procs");
  std::vector<pid_t> pids;
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

}  // namespace

Status KillOrphan(const sandbox::Capabilities& caps, const std::string& id, const std::string& socket_path) {
  if (!HasRandomIdShape(id)) return InvalidArgument("not a sandbox id: '" + id + "'");
  if (caps.cgroup_mode != "v1" && caps.cgroup_mode != "v2")
    return Unimplemented("sandbox " + id + ": without cgroups its processes cannot be found");
  std::vector<std::string> dirs = CgroupDirs(caps, id);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::vector<pid_t> left = Procs(dirs.front());
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    for (pid_t pid : left) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    left = Procs(dirs.front());
  }
  if (!left.empty())
    return Internal("sandbox " + id + ": " + std::to_string(left.size()) + " processes survived SIGKILL");
  // The directories may be busy for a moment after their last process left; the runtime's start-up sweep
  // removes any that stay.
  for (const std::string& dir : dirs) rmdir(dir.c_str());
  if (!socket_path.empty() && unlink(socket_path.c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus("unlink(" + socket_path + ")", errno);
  return Status::Ok();
}

}  // namespace kiln::control
