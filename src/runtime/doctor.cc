#include "kiln/runtime/doctor.h"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "kiln/base/fd.h"
#include "kiln/base/os.h"
#include "kiln/base/strings.h"
#include "kiln/runtime/backend.h"
#include "kiln/runtime/envd_binary.h"
#include "kiln/runtime/run.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return std::string(Trim(text.str()));
}

bool OnPath(const std::string& program) {
  for (const std::string& dir : Split("/usr/local/bin:/usr/bin:/bin", ':'))
    if (access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

Finding CheckSandboxStarts() {
  RunRequest request;
  request.argv = {"true"};
  request.spec.limits.timeout_ms = 10'000;
  Result<RunResult> ran = Run(request);
  if (!ran.ok()) return {Finding::kFail, "sandbox", ran.status().ToString()};
  if (ran->exit_code != 0)
    return {Finding::kFail, "sandbox", "`true` in a sandbox exited " + std::to_string(ran->exit_code)};
  return {Finding::kOk, "sandbox",
          "a sandbox starts and runs a program (" + std::to_string(ran->duration_ms) +
              " ms, user, PID, mount, network, IPC, UTS and cgroup namespaces)"};
}

std::vector<Finding> CheckLimits() {
  std::vector<Finding> out;
  Result<sandbox::Backend*> backend = DefaultBackend();
  if (!backend.ok()) return {{Finding::kFail, "cgroups", backend.status().ToString()}};
  const sandbox::Capabilities& caps = (*backend)->capabilities();
  std::string have = std::string(caps.memory_limit ? " memory" : "") + (caps.pids_limit ? " pids" : "") +
                     (caps.cpu_limit ? " cpu" : "");
  bool all = caps.memory_limit && caps.pids_limit && caps.cpu_limit;
  out.push_back({all ? Finding::kOk : Finding::kWarn, "cgroups",
                 caps.cgroup_mode + (caps.cgroup_root.empty() ? "" : " at " + caps.cgroup_root) +
                     ", controllers:" + (have.empty() ? " none" : have)});
  for (const std::string& warning : caps.warnings) out.push_back({Finding::kWarn, "limits", warning});
  return out;
}

Finding CheckSeccomp() {
  std::string actions = ReadSmallFile("/proc/sys/kernel/seccomp/actions_avail");
  if (actions.find("errno") == std::string::npos)
    return {Finding::kFail, "seccomp", "the kernel offers no seccomp filters (CONFIG_SECCOMP_FILTER)"};
  return {Finding::kOk, "seccomp", "filters available (" + actions + ")"};
}

Finding CheckOverlay() {
  std::string filesystems = ReadSmallFile("/proc/filesystems");
  if (filesystems.find("overlay") == std::string::npos)
    return {Finding::kWarn, "overlayfs",
            "not loaded (`modprobe overlay`): templates with a writable root need it"};
  return {Finding::kOk, "overlayfs", "available"};
}

std::vector<Finding> CheckHelpers() {
  std::vector<Finding> out;
  Result<std::string> envd = EnvdBinaryPath();
  out.push_back(envd.ok() ? Finding{Finding::kOk, "kiln-envd", *envd}
                          : Finding{Finding::kFail, "kiln-envd", envd.status().ToString()});
  std::optional<std::string> bridge = KernelBridgeBinaryPath();
  out.push_back(bridge ? Finding{Finding::kOk, "kiln-kernel-bridge", *bridge}
                       : Finding{Finding::kWarn, "kiln-kernel-bridge",
                                 "not found: code contexts offer python, javascript and bash only"});
  DIR* kernels = opendir("/usr/share/jupyter/kernels");
  std::string names;
  for (dirent* e; kernels && (e = readdir(kernels)) != nullptr;)
    if (e->d_name[0] != '.') names += std::string(names.empty() ? "" : ", ") + e->d_name;
  if (kernels) closedir(kernels);
  out.push_back({Finding::kOk, "jupyter kernels",
                 names.empty() ? "none installed (optional: e.g. r-cran-irkernel for R contexts)" : names});
  for (const char* program : {"python3", "node"}) {
    bool found = OnPath(program);
    out.push_back({found ? Finding::kOk : Finding::kWarn, program,
                   found ? "installed (sandboxes run the host's /usr)"
                         : std::string("not installed: sandboxes cannot run ") + program});
  }
  return out;
}

Finding CheckDisk(const std::string& home) {
  std::string dir = home;
  struct statvfs vfs {};
  while (statvfs(dir.c_str(), &vfs) != 0 && dir.size() > 1)
    dir = dir.substr(0, dir.rfind('/') + (dir.rfind('/') == 0));
  double free_gib = static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize) / (1ull << 30);
  char text[128];
  std::snprintf(text, sizeof text, "%.1f GiB free under %s", free_gib, dir.c_str());
  return {free_gib < 1.0 ? Finding::kWarn : Finding::kOk, "disk", text};
}

Finding CheckClock() {
  timex tx{};
  int state = adjtimex(&tx);
  if (state == TIME_ERROR || (tx.status & STA_UNSYNC))
    return {Finding::kWarn, "clock",
            "not synchronised (NTP): sandbox lifetimes and signed URLs use the wall clock"};
  return {Finding::kOk, "clock", "synchronised"};
}

}  // namespace

std::vector<Finding> CheckHost(const std::string& home) {
  std::vector<Finding> out;
  std::string max_ns = ReadSmallFile("/proc/sys/user/max_user_namespaces");
  out.push_back(max_ns == "0" ? Finding{Finding::kFail, "user namespaces",
                                        "disabled: `sysctl -w user.max_user_namespaces=15000`"}
                              : Finding{Finding::kOk, "user namespaces", "allowed (max " + max_ns + ")"});
  out.push_back(CheckSandboxStarts());
  for (Finding& f : CheckLimits()) out.push_back(std::move(f));
  out.push_back(CheckSeccomp());
  out.push_back(CheckOverlay());
  for (Finding& f : CheckHelpers()) out.push_back(std::move(f));
  out.push_back(CheckDisk(home));
  out.push_back(CheckClock());
  return out;
}
}  // namespace kiln::runtime
