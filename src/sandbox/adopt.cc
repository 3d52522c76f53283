#include "adopt.h"

#include "cgrouped_sandbox.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "kiln/base/clock.h"
#include "kiln/base/strings.h"

namespace kiln::sandbox {
namespace {

// The sandbox's init is the process of its cgroup that is PID 1 of its own PID namespace: the last field
// of its NSpid line is 1 (the host's view has several fields).
bool IsNamespaceInit(Os& os, pid_t pid) {
  Result<std::string> status = os.ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!status.ok()) return false;
  for (const std::string& line : Split(*status, '\n')) {
    if (!StartsWith(line, "NSpid:")) continue;
    std::vector<std::string> fields;
    for (const std::string& f : Split(std::string(Trim(line.substr(6))), '\t'))
      if (!f.empty()) fields.push_back(f);
    return fields.size() >= 2 && fields.back() == "1";
  }
  return false;
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, timeout_ms);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

class AdoptedSandbox final : public CgroupedSandbox {
 public:
  using CgroupedSandbox::CgroupedSandbox;
  ~AdoptedSandbox() override { (void)Destroy(); }

  Result<ExitInfo> Wait(int64_t timeout_ms) override {
    if (!init_gone_ && pidfd_ && !Readable(pidfd_.get(), timeout_ms < 0 ? -1 : static_cast<int>(timeout_ms)))
      return DeadlineExceeded("sandbox " + id_ + " is still running");
    init_gone_ = true;
    // Not this process's child: its exit status went to whoever reaps it (init, or a subreaper).
    ExitInfo info;
    info.exit_code = -1;
    info.oom_killed = OomKilled();
    return info;
  }

  Status Kill() override {
    if (init_gone_) return Status::Ok();
    KILN_RETURN_IF_ERROR(SendKill());
    if (cgroup_) (void)cgroup_->KillAll();  // thaws a paused sandbox, whose init cannot die frozen (v1)
    Result<ExitInfo> gone = Wait(5000);
    return gone.ok() ? Status::Ok() : gone.status();
  }
};

}  // namespace

Result<std::unique_ptr<Sandbox>> AdoptSandbox(Os& os, const CgroupConfig& cgroups, const std::string& id) {
  if (cgroups.mode != "v1" && cgroups.mode != "v2")
    return Unimplemented("sandbox " + id + ": without cgroups its processes cannot be found");
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Cgroup> cgroup, Cgroup::Open(os, cgroups, id));
  for (pid_t pid : cgroup->Processes()) {
    if (!IsNamespaceInit(os, pid)) continue;
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) continue;  // exited just now
    // The pid may have been reused between the listing and pidfd_open: the pidfd's process must still be
    // in the cgroup (a process cannot leave a sandbox's cgroup: the sandbox cannot see its parent).
    bool still_member = false;
    for (pid_t member : cgroup->Processes()) still_member |= member == pid;
    if (!still_member) continue;
    return std::unique_ptr<Sandbox>(
        std::make_unique<AdoptedSandbox>(id, pid, std::move(pidfd), std::move(cgroup)));
  }
  auto remains = std::make_unique<AdoptedSandbox>(id, 0, UniqueFd(), std::move(cgroup));
  (void)remains->Wait(0);  // no init: marks it exited
  return std::unique_ptr<Sandbox>(std::move(remains));
}

}  // namespace kiln::sandbox
