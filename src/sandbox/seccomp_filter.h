// Builds the sandbox's seccomp program with libseccomp, in the parent, once; the child only installs it.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "kiln/base/status.h"

namespace kiln::sandbox {

// A compiled classic-BPF program ready for prctl(PR_SET_SECCOMP).
struct SeccompProgram {
  std::vector<sock_filter> instructions;
  sock_fprog fprog() const {
    return {static_cast<unsigned short>(instructions.size()), const_cast<sock_filter*>(instructions.data())};
  }
};

// The default policy: allow everything except DeniedSyscalls() (EPERM), namespace flags on clone (EPERM),
// clone3 (ENOSYS, so libc falls back to clone where the flags can be inspected), ioctl(TIOCSTI/TIOCLINUX)
// (EPERM); syscalls of other architectures kill the process. The result is cached: thread-safe.
Result<const SeccompProgram*> DefaultSeccompProgram();

}  // namespace kiln::sandbox
