#include "idmap.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kiln::sandbox {
namespace {

Status WriteProcFile(const std::string& path, const std::string& text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open(" + path + ")", errno);
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return ErrnoStatus("write(" + path + ")", errno);
  return Status::Ok();
}

}  // namespace

Result<UniqueFd> MakeIdmapNamespace(const std::string& uid_gid_map) {
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  if (pipe2(done, O_CLOEXEC) != 0) {
    close(ready[0]), close(ready[1]);
    return ErrnoStatus("pipe2", errno);
  }
  UniqueFd ready_r(ready[0]), ready_w(ready[1]), done_r(done[0]), done_w(done[1]);
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork (id map namespace)", errno);
  if (pid == 0) {    // async-signal-safe calls only: the parent may have other threads
    close(done[1]);  // else our own copy keeps the read below from seeing the end
    char ok = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    char c;
    (void)!read(done[0], &c, 1);  // wait until the parent holds the namespace (or is gone)
    _exit(0);
  }
  ready_w.reset();
  done_r.reset();
  char ok = 0;
  ssize_t n;
  do n = read(ready_r.get(), &ok, 1);
  while (n < 0 && errno == EINTR);
  Status s =
      (n == 1 && ok == 'y') ? Status::Ok() : ErrnoStatus("unshare(CLONE_NEWUSER) for the id map", EPERM);
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
