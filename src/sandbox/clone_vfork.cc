#include "clone_vfork.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "kiln/base/child_stack.h"

namespace kiln::sandbox {
namespace {

// The kernel's struct clone_args (linux/sched.h, which clashes with glibc's <sched.h>).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
      cgroup;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;  // Linux 5.7

}  // namespace
}  // namespace kiln::sandbox

#if defined(__x86_64__)
// long kiln_sandbox_clone3(CloneArgs* args, size_t size, int (*fn)(void*), void* arg)
// Debian 12's glibc has no clone3 wrapper that takes a stack, and a child sharing our memory cannot return
// through C frames: they belong to the suspended parent. The parent returns the syscall's result (pid or
// -errno). The child starts with its stack pointer at the top of args->stack (the kernel puts it there),
// calls fn(arg) and exits with its value. fn and arg ride in r8/r9, which the syscall preserves.
static_assert(SYS_clone3 == 435 && SYS_exit == 60);
asm(R"(
  .text
  .globl kiln_sandbox_clone3
  .hidden kiln_sandbox_clone3
  .type kiln_sandbox_clone3, @function
kiln_sandbox_clone3:
  movq %rdx, %r8
  movq %rcx, %r9
  movl $435, %eax
  syscall
  testq %rax, %rax
  jz 1f
  ret
1:
  xorl %ebp, %ebp
  movq %r9, %rdi
  callq *%r8
  movl %eax, %edi
  movl $60, %eax
  syscall
  hlt
  .size kiln_sandbox_clone3, .-kiln_sandbox_clone3
)");
extern "C" long kiln_sandbox_clone3(kiln::sandbox::CloneArgs* args, size_t size, int (*fn)(void*), void* arg);
#define KILN_CLONE_SHARES_MEMORY 1
#else
#define KILN_CLONE_SHARES_MEMORY 0
#endif

namespace kiln::sandbox {
namespace {

long CloneWithArgs(CloneArgs& args, const CloneRequest& request) {
#if KILN_CLONE_SHARES_MEMORY
  // The child's stack only has to last until exec; afterwards the child has a memory of its own.
  Result<ChildStack> stack = ChildStack::Take();
  if (!stack.ok()) return -ENOMEM;
  args.flags |= CLONE_VM | CLONE_VFORK;
  args.stack = reinterpret_cast<uintptr_t>(stack->base());
  args.stack_size = ChildStack::kSize;
  return kiln_sandbox_clone3(&args, sizeof args, request.fn, request.arg);
#else
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(request.fn(request.arg));  // on a copy of this stack, as after fork()
  return pid < 0 ? -errno : pid;
#endif
}

}  // namespace

bool CloneSharesMemory() {
  return KILN_CLONE_SHARES_MEMORY;
}

pid_t CloneChild(const CloneRequest& request) {
  CloneArgs args{};
  args.flags = request.flags | CLONE_PIDFD | CLONE_PARENT_SETTID;
  args.pidfd = reinterpret_cast<uintptr_t>(request.pidfd);
  args.parent_tid = reinterpret_cast<uintptr_t>(request.parent_tid);
  args.exit_signal = SIGCHLD;
  if (request.cgroup_fd >= 0) {
    args.flags |= kCloneIntoCgroup;
    args.cgroup = static_cast<uint64_t>(request.cgroup_fd);
  }
  // None of our signal handlers may run in a child that shares our memory; it resets them before it
  // unblocks anything.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  long pid = CloneWithArgs(args, request);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return static_cast<pid_t>(pid);
}

}  // namespace kiln::sandbox
