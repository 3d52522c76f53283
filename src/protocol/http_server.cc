#include "kiln/protocol/http_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"
#include "server_io.h"
#include "server_state.h"

namespace kiln::http {

struct Server::Impl : ServerState {};

Server::Server(Handler handler, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->options = options;
  impl_->wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  impl_->overflow = std::make_unique<internal::Overflow>(impl_->options);
}

Server::~Server() {
  Shutdown();
}

Status Server::Start(UniqueFd listen_fd) {
  std::lock_guard lock(impl_->mu);
  if (impl_->started || impl_->stopping) return FailedPrecondition("server already started or shut down");
  if (!impl_->wake.valid()) return Internal("eventfd failed");
  impl_->started = impl_->serving = true;
  impl_->accept_thread = std::thread([impl = impl_.get(), fd = std::move(listen_fd)]() mutable {
    Status s = impl->Loop(std::move(fd));
    if (!s.ok()) log::Error("http server stopped: " + s.ToString());
  });
  return Status::Ok();
}

Status Server::Serve(UniqueFd listen_fd) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->started || impl_->stopping) return FailedPrecondition("server already started or shut down");
    if (!impl_->wake.valid()) return Internal("eventfd failed");
    impl_->started = impl_->serving = true;
  }
  return impl_->Loop(std::move(listen_fd));
}

void Server::Shutdown() {
  std::thread accept;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    // Wakes threads blocked reading or writing; a streaming handler then sees Write fail and returns.
    for (auto& [id, c] : impl_->conns) {
      if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
    }
    accept = std::move(impl_->accept_thread);
  }
  uint64_t one = 1;
  if (impl_->wake.valid()) (void)!::write(impl_->wake.get(), &one, sizeof one);
  if (accept.joinable()) accept.join();
  {
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait(lock, [&] { return !impl_->serving; });
  }
  impl_->overflow->Stop();
  for (;;) {
    std::vector<std::shared_ptr<ServerState::Conn>> left;
    {
      std::lock_guard lock(impl_->mu);
      for (auto& [id, c] : impl_->conns) left.push_back(c);
      impl_->conns.clear();
    }
    if (left.empty()) break;
    for (auto& c : left) {
      if (c->thread.joinable()) c->thread.join();
    }
  }
}

Status ServerState::Loop(UniqueFd listen_fd) {
  int flags = ::fcntl(listen_fd.get(), F_GETFL);
  // Non-blocking so a connection that vanished between poll and accept cannot block the loop.
  if (flags < 0 || ::fcntl(listen_fd.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    Status s = ErrnoStatus("fcntl(listen socket)", errno);
    std::lock_guard lock(mu);
    serving = false;
    cv.notify_all();
    return s;
  }
  // Started first: past capacity there may be no thread to spare for it.
  Status result = overflow->Start();
  if (!result.ok()) {
    std::lock_guard lock(mu);
    serving = false;
    cv.notify_all();
    return result;
  }
  pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
  while (!Stopping()) {
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      result = ErrnoStatus("poll(listen socket)", errno);
      break;
    }
    if (fds[1].revents) break;
    if (fds[0].revents & (POLLERR | POLLNVAL)) {
      result = Internal("listen socket failed");
      break;
    }
    if (fds[0].revents & POLLIN) AcceptOne(listen_fd.get());
  }
  listen_fd.reset();
  std::lock_guard lock(mu);
  serving = false;
  cv.notify_all();
  return result;
}

void ServerState::Reap() {
  std::vector<std::shared_ptr<Conn>> finished;
  {
    std::lock_guard lock(mu);
    for (auto it = conns.begin(); it != conns.end();) {
      if (it->second->done) {
        finished.push_back(it->second);
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : finished) c->thread.join();
}

void ServerState::AcceptOne(int listen_fd) {
  int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      log::Warn("http: accept: " + std::string(std::strerror(errno)));
      // Out of descriptors: back off instead of spinning on a listen socket that stays readable.
      pollfd p{wake.get(), POLLIN, 0};
      ::poll(&p, 1, 50);
    }
    return;
  }
  Reap();
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on unix sockets
  if (options.idle_timeout_ms > 0) {
    // Bounds a send to a client that stopped reading, which poll on the read side cannot see.
    timeval tv{options.idle_timeout_ms / 1000, (options.idle_timeout_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  std::unique_lock lock(mu);
  if (stopping) {
    ::close(fd);
    return;
  }
  if (conns.size() >= options.max_connections) {
    lock.unlock();
    overflow->Hand(fd);
    return;
  }
  auto conn = std::make_shared<Conn>();
  conn->fd = fd;
  try {
    conn->thread = std::thread([this, conn] {
      ServeConnection(*this, conn.get());
      std::lock_guard lock(mu);
      if (conn->fd >= 0) ::close(conn->fd);
      conn->fd = -1;
      conn->done = true;
    });
  } catch (const std::system_error& e) {
    // Out of threads (a sandbox's pids limit counts them): answered by the overflow thread, not reset.
    log::Error(std::string("http: cannot start a connection thread: ") + e.what());
    lock.unlock();
    overflow->Hand(fd);
    return;
  }
  conns.emplace(next_id++, std::move(conn));
}

}  // namespace kiln::http
