#include "seccomp_filter.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "kiln/sandbox/sandbox.h"

namespace kiln::sandbox {

const std::vector<DeniedSyscall>& DeniedSyscalls() {
  static const std::vector<DeniedSyscall> kList = {
      {"mount", "changing the filesystem view could hide or reveal files"},
      {"umount2", "unmounting could reveal what mounts cover"},
      {"pivot_root", "changing the root filesystem"},
      {"chroot", "changing the root; never needed by sandboxed programs"},
      {"move_mount", "new mount API"},
      {"open_tree", "new mount API"},
      {"fsopen", "new mount API"},
      {"fsconfig", "new mount API"},
      {"fsmount", "new mount API"},
      {"fspick", "new mount API"},
      {"mount_setattr", "new mount API"},
      {"unshare", "new namespaces widen the kernel attack surface (nested user namespaces)"},
      {"setns", "joining other namespaces"},
      {"ptrace", "debugging other processes, including the sandbox's init"},
      {"process_vm_readv", "reading another process's memory"},
      {"process_vm_writev", "writing another process's memory"},
      {"kcmp", "comparing kernel objects of other processes"},
      {"bpf", "loading eBPF programs: a large kernel attack surface"},
      {"perf_event_open", "performance counters leak information and have had many CVEs"},
      {"keyctl", "the kernel keyring is not namespaced"},
      {"add_key", "the kernel keyring is not namespaced"},
      {"request_key", "the kernel keyring is not namespaced"},
      {"kexec_load", "replacing the running kernel"},
      {"kexec_file_load", "replacing the running kernel"},
      {"init_module", "loading kernel modules"},
      {"finit_module", "loading kernel modules"},
      {"delete_module", "unloading kernel modules"},
      {"userfaultfd", "a common primitive for exploiting kernel races"},
      {"clock_settime", "the clock is shared with the host"},
      {"clock_adjtime", "the clock is shared with the host"},
      {"settimeofday", "the clock is shared with the host"},
      {"adjtimex", "the clock is shared with the host"},
      {"reboot", "rebooting or halting"},
      {"swapon", "host swap configuration"},
      {"swapoff", "host swap configuration"},
      {"open_by_handle_at", "opens files by handle, bypassing the mount view (the 'shocker' escape)"},
      {"name_to_handle_at", "companion of open_by_handle_at"},
      {"acct", "process accounting is host-wide"},
      {"quotactl", "host disk quotas"},
      {"syslog", "the kernel log leaks host information"},
      {"iopl", "raw I/O port access"},
      {"ioperm", "raw I/O port access"},
      {"vhangup", "terminal hangup of the controlling terminal"},
      {"fanotify_init", "filesystem-wide monitoring"},
      {"lookup_dcookie", "kernel profiling interface"},
      {"io_uring_setup", "io_uring bypasses seccomp for the operations it performs and has had many CVEs"},
      {"io_uring_enter", "see io_uring_setup"},
      {"io_uring_register", "see io_uring_setup"},
      {"nfsservctl", "kernel NFS server control"},
      {"uselib", "obsolete loader interface"},
  };
  return kList;
}

namespace {

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

Status AddRule(scmp_filter_ctx ctx, uint32_t action, const char* name, unsigned count,
               const scmp_arg_cmp* args) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return Status::Ok();  // not on this architecture
  int rc = seccomp_rule_add_array(ctx, action, nr, count, args);
  if (rc < 0) return ErrnoStatus(std::string("seccomp_rule_add(") + name + ")", -rc);
  return Status::Ok();
}

Status AddRules(scmp_filter_ctx ctx) {
  for (const DeniedSyscall& d : DeniedSyscalls()) {
    KILN_RETURN_IF_ERROR(AddRule(ctx, SCMP_ACT_ERRNO(EPERM), d.name, 0, nullptr));
  }
  const uint64_t kNsFlags = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                            CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;
  // clone(flags, ...) with any namespace flag: EPERM. Each flag is its own rule (libseccomp ORs rules).
  for (uint64_t bit = 1; bit != 0 && bit <= kNsFlags; bit <<= 1) {
    if (!(kNsFlags & bit)) continue;
    scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit);
    KILN_RETURN_IF_ERROR(AddRule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &cmp));
  }
  KILN_RETURN_IF_ERROR(AddRule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, nullptr));
  for (uint64_t request : {static_cast<uint64_t>(TIOCSTI), static_cast<uint64_t>(TIOCLINUX)}) {
    scmp_arg_cmp cmp = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, request);
    KILN_RETURN_IF_ERROR(AddRule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &cmp));
  }
  return Status::Ok();
}

Result<SeccompProgram> Compile() {
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Internal("seccomp_init failed");
  // Syscalls from a foreign ABI (i386, x32) are not covered by the rules above: kill them.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  // No_new_privs is set by the launcher itself, at the right moment.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  KILN_RETURN_IF_ERROR(AddRules(ctx.get()));
  // Export through a pipe-free path: seccomp_export_bpf writes to an fd, so use a memfd.
  int fd = memfd_create("kiln-seccomp", MFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus("memfd_create(kiln-seccomp)", errno);
  int rc = seccomp_export_bpf(ctx.get(), fd);
  if (rc < 0) {
    close(fd);
    return ErrnoStatus("seccomp_export_bpf", -rc);
  }
  off_t size = lseek(fd, 0, SEEK_END);
  SeccompProgram program;
  program.instructions.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  ssize_t n = pread(fd, program.instructions.data(), static_cast<size_t>(size), 0);
  close(fd);
  if (n != size) return Internal("seccomp: short read of the exported program");
  return program;
}

}  // namespace

Result<const SeccompProgram*> DefaultSeccompProgram() {
  static std::once_flag once;
  static Result<SeccompProgram>* compiled = nullptr;
  std::call_once(once, [] { compiled = new Result<SeccompProgram>(Compile()); });
  if (!compiled->ok()) return compiled->status();
  return &compiled->value();
}

}  // namespace kiln::sandbox
