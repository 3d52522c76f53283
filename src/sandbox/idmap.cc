#include "idmap.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace kiln::sandbox {
namespace {

Status WriteProcFile(const std::string& path, const std::string& text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open(" + path + ")", errno);
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return ErrnoStatus("write(" + path + ")", errno);
  return Status::Ok();
}

// The child only has to exist, in its own user namespace, while the parent writes the maps and opens the
// namespace. It shares the parent's memory (no page tables copied, no copy-on-write faults afterwards, which
// a fork of the 60 MB kiln process costs on every run) and runs on its own small stack, so it may make raw
// system calls only: it blocks reading `done` until the parent closes its end, then exits.
int WaitForParentThenExit(void* arg) {
  const int* done = static_cast<const int*>(arg);
  syscall(SYS_close, done[1]);  // else our own copy keeps the read below from seeing the end
  char c;
  (void)!syscall(SYS_read, done[0], &c, 1);
  syscall(SYS_exit, 0);
  return 0;
}

}  // namespace

Result<UniqueFd> MakeIdmapNamespace(const std::string& uid_gid_map) {
  int done[2];
  if (pipe2(done, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  UniqueFd done_r(done[0]), done_w(done[1]);
  constexpr size_t kStackSize = 64 * 1024;
  std::unique_ptr<char[]> stack(new char[kStackSize]);
  pid_t pid =
      clone(WaitForParentThenExit, stack.get() + kStackSize, CLONE_VM | CLONE_NEWUSER | SIGCHLD, done);
  if (pid < 0)
    return ErrnoStatus("clone(CLONE_NEWUSER) for the id map", errno)
        .WithContext("making the id map namespace for idmapped mounts");
  done_r.reset();
  Status s = Status::Ok();
  std::string proc = "/proc/" + std::to_string(pid);
  if (s.ok()) s = WriteProcFile(proc + "/uid_map", uid_gid_map);
  if (s.ok()) s = WriteProcFile(proc + "/gid_map", uid_gid_map);
  UniqueFd ns;
  if (s.ok()) {
    ns.reset(open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) s = ErrnoStatus("open(" + proc + "/ns/user)", errno);
  }
  done_w.reset();  // the child's read returns; it exits
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!s.ok()) return s.WithContext("making the id map namespace for idmapped mounts");
  return ns;
}

}  // namespace kiln::sandbox
