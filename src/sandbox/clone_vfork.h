// clone3() for the sandbox's first process, vfork-style where the architecture allows it.
//
// Where a trampoline exists (x86-64), the child shares the caller's memory (CLONE_VM | CLONE_VFORK): no
// copy of the caller's page tables, no copy-on-write faults, no teardown of the copy at exec. A server with
// hundreds of MiB mapped and many threads pays for those on every launch otherwise. The calling thread is
// suspended until the child execs or exits, so whatever the parent must do while the child runs (write its
// uid/gid maps, release it) has to happen on another thread; the kernel writes the child's pid to
// `*parent_tid` and its pidfd to `*pidfd` before the child runs, so that thread can read them as soon as
// the child reports in. Elsewhere the child gets a copy of the caller's memory, as with fork().
//
// Either way `fn(arg)` runs in the child on a private stack with every signal blocked (the caller's mask is
// restored in the caller), and the child exits with fn's return value if fn returns. In the shared-memory
// case fn must not allocate on its success path and must leave the caller's data as it found it.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace kiln::sandbox {

struct CloneRequest {
  uint64_t flags = 0;  // CLONE_NEW*; CLONE_PIDFD and CLONE_PARENT_SETTID are always added
  int cgroup_fd = -1;  // a cgroup v2 directory to be born in (CLONE_INTO_CGROUP), or -1
  int (*fn)(void*) = nullptr;
  void* arg = nullptr;
  pid_t* parent_tid = nullptr;  // receives the child's pid (in the caller's PID namespace)
  int* pidfd = nullptr;         // receives a pidfd of the child
};

// True when CloneChild shares the caller's memory on this build.
bool CloneSharesMemory();

// The child's pid, or -errno (nothing was created).
pid_t CloneChild(const CloneRequest& request);

}  // namespace kiln::sandbox
