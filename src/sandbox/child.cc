#include "child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kiln/base/child_stack.h"

namespace kiln::sandbox {
namespace {

// What init (kiln-envd) keeps inside the sandbox's user namespace: enough to switch to the sandbox user and
// to manage files and processes there. Nothing that reaches beyond the namespaces.
constexpr int kKeptCapabilities[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
                                     CAP_KILL,  CAP_SETGID,       CAP_SETUID,          CAP_SETPCAP};

[[noreturn]] void Fail(int sync_fd, const Status& status) {
  ChildFailure failure{};
  failure.code = static_cast<int>(status.code());
  std::snprintf(failure.message, sizeof failure.message, "%s", status.message().c_str());
  [[maybe_unused]] ssize_t n = send(sync_fd, &failure, sizeof failure, MSG_NOSIGNAL);
  _exit(125);
}

// The parent answers kHello with kGo, or shuts the channel down to abort.
void WaitForParent(int sync_fd) {
  if (send(sync_fd, &kHello, 1, MSG_NOSIGNAL) != 1) _exit(125);
  char go = 0;
  ssize_t n;
  do n = recv(sync_fd, &go, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n != 1 || go != kGo) _exit(125);  // the parent reports why
}

// Still single-threaded and with the host's credentials: "0" moves this thread, hence the whole process,
// without the kernel's global threadgroup lock (see Cgroup::SelfJoinFiles).
Status JoinCgroups(const ChildPlan& plan) {
  for (int fd : plan.cgroup_join_fds) {
    ssize_t n;
    do n = write(fd, "0", 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) return ErrnoStatus("joining the sandbox's cgroup (write 0 to tasks)", n < 0 ? errno : EIO);
    close(fd);
  }
  return Status::Ok();
}

// After the switch to the namespace's root: a change of credentials clears the parent-death signal. The
// launching thread waits in Launch until we exec, holding the other end of the channel open; if that end
// is gone, the parent died before the signal was armed. getppid() cannot tell: the parent is outside our
// PID namespace.
Status ArmParentDeathSignal(const ChildPlan& plan, int sync_fd) {
  if (!plan.die_with_parent) return Status::Ok();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return ErrnoStatus("prctl(PR_SET_PDEATHSIG)", errno);
  pollfd p{sync_fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP))) _exit(125);
  return Status::Ok();
}

// Our credentials are still the host's (unmapped here) until we switch to the mapped root explicitly;
// files we create would otherwise fail with EOVERFLOW. Raw syscalls: glibc's wrappers would try to change
// the credentials of every thread of the parent process it believes we still have, and wait forever.
Status BecomeNamespaceRoot(const ChildPlan& plan) {
  if (!plan.become_root) return Status::Ok();
  if (syscall(SYS_setgroups, 0, nullptr) != 0) return ErrnoStatus("setgroups(0)", errno);
  if (syscall(SYS_setresgid, 0, 0, 0) != 0) return ErrnoStatus("setresgid(0)", errno);
  if (syscall(SYS_setresuid, 0, 0, 0) != 0) return ErrnoStatus("setresuid(0)", errno);
  return Status::Ok();
}

Status BringUpLoopback() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket(AF_INET) for loopback", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  int err = errno;
  close(fd);
  return rc == 0 ? Status::Ok() : ErrnoStatus("ioctl(SIOCSIFFLAGS, lo up)", err);
}

// The child's own fds; they move out of the way of the mapped ones.
struct OwnFds {
  int sync = -1, init = -1;
};

// Moves host fds to their numbers inside; every other fd is closed at exec. Our own fds (init binary,
// sync channel) are first moved out of the way so a mapping cannot overwrite them.
Status ArrangeFds(const ChildPlan& plan, OwnFds& own) {
  for (int* fd : {&own.init, &own.sync}) {
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 100);
    if (moved < 0) return ErrnoStatus("fcntl(F_DUPFD_CLOEXEC)", errno);
    *fd = moved;
  }
  int highest = 2;
  int staged_hold = -1;
  if (plan.network_hold_fd >= 0 && (staged_hold = fcntl(plan.network_hold_fd, F_DUPFD_CLOEXEC, 100)) < 0)
    return ErrnoStatus("fcntl(F_DUPFD_CLOEXEC)", errno);
  int staged[kMaxMappedFds];
  const size_t count = std::min(plan.fds.size(), kMaxMappedFds);  // the parent has checked the bound
  for (size_t i = 0; i < count; ++i) {
    staged[i] = fcntl(plan.fds[i].first, F_DUPFD_CLOEXEC, 100);
    if (staged[i] < 0) return ErrnoStatus("fcntl(F_DUPFD_CLOEXEC)", errno);
    highest = std::max(highest, plan.fds[i].second);
  }
  for (size_t i = 0; i < count; ++i) {
    if (dup2(staged[i], plan.fds[i].second) < 0) return ErrnoStatus("dup2", errno);
  }
  if (staged_hold >= 0 && dup2(staged_hold, ++highest) < 0) return ErrnoStatus("dup2(network hold)", errno);
  if (syscall(SYS_close_range, highest + 1, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) != 0) {
    return ErrnoStatus("close_range(CLOEXEC)", errno);
  }
  return Status::Ok();
}

Status SetLimit(int resource, const char* name, rlim_t value) {
  rlimit rl{value, value};
  if (setrlimit(resource, &rl) != 0) return ErrnoStatus(std::string("setrlimit(") + name + ")", errno);
  return Status::Ok();
}

Status ApplyRlimits(const ChildPlan& plan) {
  KILN_RETURN_IF_ERROR(SetLimit(RLIMIT_CORE, "RLIMIT_CORE", 0));
  if (plan.max_file_bytes > 0)
    KILN_RETURN_IF_ERROR(SetLimit(RLIMIT_FSIZE, "RLIMIT_FSIZE", plan.max_file_bytes));
  if (plan.max_processes > 0)
    KILN_RETURN_IF_ERROR(SetLimit(RLIMIT_NPROC, "RLIMIT_NPROC", plan.max_processes));
  return SetLimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", static_cast<rlim_t>(plan.max_open_files));
}

Status RestrictCapabilities() {
  uint64_t keep = 0;
  for (int cap : kKeptCapabilities) keep |= 1ull << cap;
  for (int cap = 0; cap <= 63; ++cap) {
    if (keep & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      return ErrnoStatus("prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + ")", errno);
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    uint32_t bits = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective = data[i].permitted = bits;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &header, data) != 0) return ErrnoStatus("capset", errno);
  return Status::Ok();
}

// The checklist. Order matters: the filesystem needs CAP_SYS_ADMIN (dropped later), the fds must be
// arranged before RLIMIT_NOFILE shrinks, and seccomp comes last so it cannot block our own setup.
Status Contain(const ChildPlan& plan, OwnFds& own) {
  KILN_RETURN_IF_ERROR(JoinCgroups(plan));
  WaitForParent(own.sync);
  KILN_RETURN_IF_ERROR(BecomeNamespaceRoot(plan));
  KILN_RETURN_IF_ERROR(ArmParentDeathSignal(plan, own.sync));
  if (plan.new_cgroup_namespace && unshare(CLONE_NEWCGROUP) != 0) {
    return ErrnoStatus("unshare(CLONE_NEWCGROUP)", errno);
  }
  KILN_RETURN_IF_ERROR(plan.os->SetHostname(plan.hostname));
  KILN_RETURN_IF_ERROR(RunMountPlan(plan.mounts.steps, *plan.os));
  if (plan.setup_loopback) KILN_RETURN_IF_ERROR(BringUpLoopback());
  if (plan.egress_route_count > 0)
    KILN_RETURN_IF_ERROR(InstallEgressRoutes(plan.egress_routes, plan.egress_route_count));
  KILN_RETURN_IF_ERROR(ArrangeFds(plan, own));
  KILN_RETURN_IF_ERROR(ApplyRlimits(plan));
  KILN_RETURN_IF_ERROR(RestrictCapabilities());
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ErrnoStatus("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  sock_fprog prog = plan.seccomp->fprog();
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
    return ErrnoStatus("prctl(PR_SET_SECCOMP)", errno);
  syscall(SYS_execveat, own.init, "", plan.argv.data(), plan.envp.data(), AT_EMPTY_PATH);
  return ErrnoStatus("execveat(init)", errno);
}

}  // namespace

int ChildMain(void* arg) {
  const ChildPlan& plan = *static_cast<const ChildPlan*>(arg);
  // As PID 1 of its namespace with default handlers, this process ignores every signal from the host but
  // SIGKILL until init runs.
  (void)ResetSignalsInChild();
  if (plan.parent_sync_fd >= 0) close(plan.parent_sync_fd);
  OwnFds own{plan.sync_fd, plan.init_fd};
  Status status = Contain(plan, own);
  Fail(own.sync, status);
}

}  // namespace kiln::sandbox
