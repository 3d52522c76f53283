// What the two kinds of running sandbox share (internal): a sandbox this process launched (launcher.cc,
// its init is our child) and one it adopted from an earlier process (adopt.cc, watched through a pidfd).
// Both are an init with a pidfd and a cgroup; they differ only in how the init's end is waited for.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "cgroup.h"
#include "kiln/base/fd.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::sandbox {

class CgroupedSandbox : public Sandbox {
 public:
  CgroupedSandbox(std::string id, pid_t pid, UniqueFd pidfd, std::unique_ptr<Cgroup> cgroup)
      : id_(std::move(id)), pid_(pid), pidfd_(std::move(pidfd)), cgroup_(std::move(cgroup)) {}

  const std::string& id() const override { return id_; }
  pid_t init_pid() const override { return init_gone_ ? 0 : pid_; }
  int pidfd() const override { return pidfd_.get(); }

  // Kill(), then whatever the cgroup still holds, then the cgroup. Idempotent.
  Status Destroy() override;
  int64_t PeakMemoryBytes() override { return cgroup_ ? cgroup_->PeakMemoryBytes() : 0; }
  Status SetPaused(bool paused) override;
  bool paused() override { return cgroup_ && cgroup_->Frozen(); }
  Result<Usage> CurrentUsage() override;

 protected:
  // SIGKILL to the init through its pidfd (killing PID 1 kills its whole PID namespace); an init that is
  // gone already is no error.
  Status SendKill();
  bool OomKilled() const { return cgroup_ && cgroup_->OomKilled(); }

  const std::string id_;
  const pid_t pid_;
  const UniqueFd pidfd_;  // may be empty for an adopted sandbox whose init was gone already
  const std::unique_ptr<Cgroup> cgroup_;
  bool init_gone_ = false;  // the init's end was seen (reaped, or its pidfd became readable)

 private:
  bool destroyed_ = false;
};

}  // namespace kiln::sandbox
