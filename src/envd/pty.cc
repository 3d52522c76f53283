#include "kiln/envd/pty.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace kiln::envd {
namespace {

Result<uint16_t> Dimension(const Json& size, const char* name) {
  KILN_ASSIGN_OR_RETURN(int64_t v, GetInt(size, name));
  if (v < 1 || v > kMaxPtyDimension)
    return InvalidArgument(std::string("pty.size.") + name + " must be between 1 and " +
                           std::to_string(kMaxPtyDimension) + ", got " + std::to_string(v));
  return static_cast<uint16_t>(v);
}

// The slave of `master`: TIOCGPTPEER opens it without a path lookup (immune to whatever is mounted on
// /dev/pts); older kernels fall back to the name ptsname gives.
Result<UniqueFd> OpenSlave(int master) {
  int fd = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) return UniqueFd(fd);
  if (errno != EINVAL && errno != ENOTTY)
    return ErrnoStatus("open the terminal's slave (TIOCGPTPEER)", errno);
  char name[64];
  if (::ptsname_r(master, name, sizeof name) != 0) return ErrnoStatus("ptsname", errno);
  fd = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(std::string("open ") + name, errno);
  return UniqueFd(fd);
}

}  // namespace

Result<PtySize> ParsePtySize(const Json& pty) {
  KILN_ASSIGN_OR_RETURN(Json size, GetObject(pty, "size"));
  PtySize out;
  KILN_ASSIGN_OR_RETURN(out.rows, Dimension(size, "rows"));
  KILN_ASSIGN_OR_RETURN(out.cols, Dimension(size, "cols"));
  return out;
}

Result<Pty> OpenPty(PtySize size, std::optional<uid_t> owner) {
  int fd = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return ErrnoStatus("open /dev/ptmx (does the sandbox have /dev/pts?)", err);
  }
  Pty pty{UniqueFd(fd), UniqueFd()};
  if (::unlockpt(fd) != 0) return ErrnoStatus("unlockpt", errno);
  KILN_ASSIGN_OR_RETURN(pty.slave, OpenSlave(fd));
  KILN_RETURN_IF_ERROR(ResizePty(fd, size));
  if (owner && ::fchown(pty.slave.get(), *owner, static_cast<gid_t>(-1)) != 0 && errno != EPERM)
    return ErrnoStatus("chown the terminal", errno);
  // Input writes poll with a deadline instead of blocking (a program that never reads its terminal).
  if (::fcntl(fd, F_SETFL, O_NONBLOCK) != 0) return ErrnoStatus("fcntl(O_NONBLOCK)", errno);
  return pty;
}

Status ResizePty(int master, PtySize size) {
  winsize ws{};
  ws.ws_row = size.rows;
  ws.ws_col = size.cols;
  if (::ioctl(master, TIOCSWINSZ, &ws) != 0) return ErrnoStatus("resize the terminal (TIOCSWINSZ)", errno);
  return Status::Ok();
}

}  // namespace kiln::envd
