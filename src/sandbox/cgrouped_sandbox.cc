#include "cgrouped_sandbox.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace kiln::sandbox {

Status CgroupedSandbox::Destroy() {
  if (destroyed_) return Status::Ok();
  Status s = Kill();
  if (cgroup_) {
    (void)cgroup_->KillAll();
    Status removed = cgroup_->Remove();
    if (s.ok()) s = removed;
  }
  destroyed_ = true;
  return s;
}

Status CgroupedSandbox::SetPaused(bool paused) {
  if (!cgroup_) return Unimplemented("pausing needs a cgroup freezer");
  return cgroup_->SetFrozen(paused);
}

Result<Usage> CgroupedSandbox::CurrentUsage() {
  if (!cgroup_) return Unimplemented("usage needs cgroups");
  return SandboxUsage(*cgroup_, init_gone_ ? 0 : pid_);
}

Status CgroupedSandbox::SendKill() {
  if (pidfd_ && syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0) != 0 && errno != ESRCH)
    return ErrnoStatus("pidfd_send_signal(SIGKILL) to sandbox " + id_, errno);
  return Status::Ok();
}

}  // namespace kiln::sandbox
