// The `sudo` shim (sudo_socket.h): kiln-envd run under the name `sudo`.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kiln/base/fd.h"
#include "kiln/envd/sudo.h"
#include "kiln/envd/sudo_socket.h"
#include "sudo_io.h"

extern char** environ;

namespace kiln::envd {
namespace {

int g_socket = -1;  // for the signal handler

void ForwardSignal(int sig) {
  unsigned char byte = static_cast<unsigned char>(sig);
  int saved = errno;
  [[maybe_unused]] ssize_t n = ::send(g_socket, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  errno = saved;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "sudo: %s\n", message.c_str());
  return 1;
}

Result<UniqueFd> ConnectToEnvd() {
  socklen_t length;
  KILN_ASSIGN_OR_RETURN(sockaddr_un addr, sudo_io::OwnAddress(&length));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus("socket", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), length) != 0)
    return ErrnoStatus("cannot reach kiln-envd (sudo works only inside a Kiln sandbox)", errno);
  // Only this sandbox's envd (PID 1 here, root) may receive our terminal: a socket of the same name bound
  // by someone outside the pid namespace shows pid 0.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid != 1 || cred.uid != 0)
    return PermissionDenied("the sudo socket is not served by this sandbox's kiln-envd");
  return fd;
}

// fd 0-2 as they are, or /dev/null when closed (envd needs three descriptors).
UniqueFd StdioOrNull(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) copy = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  return UniqueFd(copy);
}

Status SendRequest(int sock, const SudoRequest& request) {
  std::string frame = sudo_io::Frame(EncodeSudoRequest(request));
  if (frame.size() > kMaxSudoRequestBytes + 4)
    return InvalidArgument("the command line and environment are larger than 256 KiB");
  UniqueFd fds[4] = {StdioOrNull(0), StdioOrNull(1), StdioOrNull(2),
                     UniqueFd(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC))};
  if (!fds[3]) fds[3] = UniqueFd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  int raw[4];
  for (int i = 0; i < 4; ++i) {
    if (!fds[i]) return ErrnoStatus("open the descriptors to pass", errno);
    raw[i] = fds[i].get();
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof raw)] = {};
  iovec iov{frame.data(), 4};  // the descriptors ride on the length; the body follows
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof raw);
  std::memcpy(CMSG_DATA(c), raw, sizeof raw);
  ssize_t n;
  do n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != 4) return ErrnoStatus("send the request to kiln-envd", errno);
  return sudo_io::SendAll(sock, frame.data() + 4, frame.size() - 4);
}

}  // namespace

int RunSudoShim(const std::vector<std::string>& args) {
  Result<SudoInvocation> inv = ParseSudoArgs(args);
  if (!inv.ok()) {
    std::fprintf(stderr, "sudo: %s\n%s", inv.status().message().c_str(), kSudoUsage);
    return 1;
  }
  switch (inv->action) {
    case SudoInvocation::Action::kHelp:
      std::fputs(kSudoUsage, stdout);
      return 0;
    case SudoInvocation::Action::kVersion:
      std::puts("Kiln sudo (kiln-envd): passwordless, no setuid");
      return 0;
    case SudoInvocation::Action::kNothing:
      return 0;
    case SudoInvocation::Action::kRun:
      break;
  }
  SudoRequest request{*inv, {}};
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq && eq != *e)
      request.env.emplace_back(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
  }
  Result<UniqueFd> sock = ConnectToEnvd();
  if (!sock.ok()) return Fail(sock.status().message());
  if (Status sent = SendRequest(sock->get(), request); !sent.ok()) return Fail(sent.message());
  g_socket = sock->get();
  struct sigaction sa {};
  sa.sa_handler = ForwardSignal;
  sa.sa_flags = SA_RESTART;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2})
    ::sigaction(sig, &sa, nullptr);
  Result<std::string> frame = sudo_io::RecvFrame(sock->get(), 64 * 1024);
  if (!frame.ok()) return Fail("kiln-envd closed the connection: " + frame.status().message());
  Result<SudoReply> reply = ParseSudoReply(*frame);
  if (!reply.ok()) return Fail("bad reply from kiln-envd: " + reply.status().message());
  if (reply->error) return Fail(*reply->error);
  return reply->signal ? 128 + reply->signal : reply->exit_code;
}

}  // namespace kiln::envd
