// The state an HTTP server shares between its accept loop (http_server.cc) and its connection threads
// (server_connection.cc). Internal to kiln_protocol.
#pragma once

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "kiln/base/fd.h"
#include "kiln/protocol/http_server.h"
#include "server_io.h"

namespace kiln::http {

// Everything a Server owns, visible to the connection code below (Server::Impl itself is private).
struct ServerState {
  struct Conn {
    int fd = -1;  // -1 once closed; closed only under `mu` so Shutdown never touches a reused number
    std::thread thread;
    bool done = false;
  };

  Handler handler;
  ServerOptions options;
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool stopping = false;
  bool serving = false;
  UniqueFd wake;  // eventfd: wakes the accept loop on Shutdown
  std::thread accept_thread;
  std::unique_ptr<internal::Overflow> overflow;  // answers connections past capacity
  std::map<uint64_t, std::shared_ptr<Conn>> conns;
  uint64_t next_id = 0;
  std::atomic<uint64_t> buffered{0};  // bytes of buffered request bodies, all connections (see Reserve)

  bool Stopping() {
    std::lock_guard lock(mu);
    return stopping;
  }
  void CloseConn(Conn* c) {
    std::lock_guard lock(mu);
    if (c->fd >= 0) ::close(c->fd);
    c->fd = -1;
  }
  BodyPolicy PolicyFor(const Request& request) const {
    if (options.body_policy) return options.body_policy(request);
    return BodyPolicy{false, options.limits.max_body_bytes};
  }
  Status Loop(UniqueFd listen_fd);
  void AcceptOne(int listen_fd);
  void Reap();
};

// Serves one accepted connection's requests, in order, until it closes; runs on the connection's thread.
void ServeConnection(ServerState& state, ServerState::Conn* conn);

}  // namespace kiln::http
