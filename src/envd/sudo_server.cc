// envd's end of sudo's socket (sudo_socket.h).
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include "kiln/base/log.h"
#include "kiln/envd/paths.h"
#include "kiln/envd/process.h"
#include "kiln/envd/sudo.h"
#include "kiln/envd/sudo_socket.h"
#include "sudo_io.h"

namespace kiln::envd {
namespace {

// A client has this long to send its whole request (a silent one must not hold a thread forever).
constexpr int kRequestTimeoutSeconds = 10;
// stdin, stdout, stderr and the cwd.
constexpr size_t kPassedFds = 4;

std::atomic<int> g_running{0};

struct Received {
  std::string body;
  std::vector<UniqueFd> fds;
};

// The first bytes carry the descriptors; the frame may continue over further reads.
Result<Received> ReceiveRequest(int conn) {
  Received r;
  unsigned char header[4];
  iovec iov{header, sizeof header};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kPassedFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus("reading the request", errno);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; ++i) r.fds.emplace_back(fds[i]);
  }
  if (msg.msg_flags & MSG_CTRUNC) return InvalidArgument("more than 4 descriptors were passed");
  if (n != static_cast<ssize_t>(sizeof header)) return InvalidArgument("the request ended before its length");
  uint32_t size =
      (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) | header[3];
  if (size > kMaxSudoRequestBytes)
    return InvalidArgument("request of " + std::to_string(size) + " bytes is over the limit of " +
                           std::to_string(kMaxSudoRequestBytes));
  if (r.fds.size() != kPassedFds)
    return InvalidArgument("expected 4 descriptors (stdin, stdout, stderr, cwd), got " +
                           std::to_string(r.fds.size()));
  r.body.resize(size);
  KILN_RETURN_IF_ERROR(sudo_io::RecvAll(conn, r.body.data(), r.body.size()));
  return r;
}

void Reply(int conn, const SudoReply& reply) {
  std::string frame = sudo_io::Frame(EncodeSudoReply(reply));
  (void)sudo_io::SendAll(conn, frame.data(), frame.size());
}

bool ForwardableSignal(int sig) {
  switch (sig) {
    case SIGINT:
    case SIGTERM:
    case SIGHUP:
    case SIGQUIT:
    case SIGWINCH:
    case SIGUSR1:
    case SIGUSR2:
      return true;
    default:
      return false;
  }
}

// Reads signal bytes until the shim closes the connection (then kills the command) or `finished` is set.
void ForwardSignals(int conn, Process* process, const std::atomic<bool>* finished) {
  for (;;) {
    unsigned char sig;
    ssize_t n = ::recv(conn, &sig, 1, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (finished->load()) return;
    if (n <= 0) {
      (void)process->Signal(SIGKILL);
      return;
    }
    if (ForwardableSignal(sig)) (void)process->Signal(sig);
  }
}

// Waits for the end event, forwarding signals meanwhile; returns the wait status.
int AwaitEnd(int conn, ProcessTable::Started& started) {
  std::atomic<bool> finished{false};
  timeval none{};  // the request deadline no longer applies: a command may run for hours
  ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  std::thread forwarder;
  try {
    forwarder = std::thread(ForwardSignals, conn, started.process.get(), &finished);
  } catch (const std::system_error&) {
    // No thread for signals: the command still runs to its end, but cannot be interrupted from the shim.
  }
  for (bool ended = false; !ended;) {
    for (const ProcessEvent& e :
         started.subscription->Take(std::chrono::steady_clock::now() + std::chrono::seconds(60)))
      ended = ended || e.kind == ProcessEvent::Kind::kEnd;
  }
  finished.store(true);
  ::shutdown(conn, SHUT_RD);  // wakes the forwarder
  if (forwarder.joinable()) forwarder.join();
  started.process->Unsubscribe(started.subscription);
  return started.process->wait_status().value_or(0);
}

Result<UserInfo> CallerOf(const UserDb& db, const ucred& cred) {
  if (std::optional<UserInfo> known = db.FindUid(cred.uid)) return *known;
  return UserInfo{std::to_string(cred.uid), cred.uid, cred.gid, "/", ""};
}

// Everything between a verified connection and the command's start.
Result<ProcessTable::Started> StartCommand(const RootFs& root, ProcessTable* table, const ucred& cred,
                                           Received& received) {
  KILN_ASSIGN_OR_RETURN(SudoRequest request, ParseSudoRequest(received.body));
  UserDb db = UserDb::Load(root);
  std::optional<UserInfo> target = db.FindUser(request.invocation.user);
  if (!target) return InvalidArgument("unknown user " + request.invocation.user);
  KILN_ASSIGN_OR_RETURN(UserInfo caller, CallerOf(db, cred));
  SudoCommand cmd = BuildSudoCommand(request, *target, caller);
  SpawnSpec spec;
  spec.program = cmd.program;
  spec.argv = cmd.argv;
  spec.env = cmd.env;
  spec.identity = SpawnIdentity{target->uid, target->gid};
  spec.stdin_fd = received.fds[0].get();
  spec.stdout_fd = received.fds[1].get();
  spec.stderr_fd = received.fds[2].get();
  UniqueFd home;
  spec.cwd_fd = received.fds[3].get();
  if (cmd.in_home) {
    auto opened = root.OpenPath(target->home, O_PATH | O_DIRECTORY);
    if (opened.ok()) home = std::move(opened).value();
    spec.cwd_fd = home ? home.get() : -1;
  }
  ProcessConfig config;
  config.cmd = cmd.program;
  config.args.assign(cmd.argv.begin() + 1, cmd.argv.end());
  Result<ProcessTable::Started> started = table->StartAttached(std::move(spec), std::move(config), "sudo");
  if (!started.ok() && started.status().code() == Code::kNotFound)
    return NotFound(cmd.program + ": command not found");
  return started;
}

void ServeConnection(UniqueFd conn, const RootFs* root, ProcessTable* table) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
    // pid 0: the peer is outside envd's pid namespace (the host, another sandbox).
    Reply(conn.get(), {0, 0, "the caller is not a process of this sandbox"});
    return;
  }
  if (g_running.fetch_add(1) >= kMaxConcurrentSudo) {
    g_running.fetch_sub(1);
    Reply(conn.get(), {0, 0, "too many sudo commands at once (" + std::to_string(kMaxConcurrentSudo) + ")"});
    return;
  }
  timeval deadline{kRequestTimeoutSeconds, 0};
  ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
  Result<Received> received = ReceiveRequest(conn.get());
  Result<ProcessTable::Started> started = received.ok() ? StartCommand(*root, table, cred, *received)
                                                        : Result<ProcessTable::Started>(received.status());
  if (!started.ok()) {
    Reply(conn.get(), {0, 0, started.status().message()});
    // Closing with unread bytes would reset the connection and lose the reply: drain a bounded amount.
    ::shutdown(conn.get(), SHUT_WR);
    char sink[4096];
    for (int i = 0; i < 256 && ::recv(conn.get(), sink, sizeof sink, 0) > 0; ++i) {
    }
  } else {
    received->fds.clear();  // the command holds its own copies: a terminal must not stay open in envd
    int status = AwaitEnd(conn.get(), *started);
    SudoReply reply;
    if (WIFSIGNALED(status))
      reply.signal = WTERMSIG(status);
    else
      reply.exit_code = WEXITSTATUS(status);
    Reply(conn.get(), reply);
  }
  g_running.fetch_sub(1);
}

}  // namespace

Status StartSudoServer(const EnvdConfig* config, ProcessTable* table) {
  KILN_ASSIGN_OR_RETURN(RootFs root, RootFs::Open(config->root_dir));
  socklen_t length;
  KILN_ASSIGN_OR_RETURN(sockaddr_un addr, sudo_io::OwnAddress(&length));
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoStatus("socket(sudo)", errno);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), length) != 0)
    return ErrnoStatus("bind(sudo socket @" + std::string(addr.sun_path + 1) + ")", errno);
  if (::listen(listener.get(), 64) != 0) return ErrnoStatus("listen(sudo)", errno);
  auto* kept_root = new RootFs(std::move(root));  // lives as long as the process, like the table
  std::thread([fd = std::move(listener), kept_root, table]() {
    for (;;) {
      int conn = ::accept4(fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) {
        if (errno != EINTR) ::usleep(50'000);  // EMFILE and the like: let the load pass
        continue;
      }
      try {
        std::thread(ServeConnection, UniqueFd(conn), kept_root, table).detach();
      } catch (const std::system_error&) {
        ::close(conn);  // out of threads (the sandbox's pids limit): the shim reports the closed connection
      }
    }
  }).detach();
  return Status::Ok();
}

}  // namespace kiln::envd
