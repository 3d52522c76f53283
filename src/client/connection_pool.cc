#include "connection_pool.h"

namespace kiln::client {

http::Client ConnectionPool::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.empty()) return http::Client::Unix(socket_path_);
  http::Client client = std::move(idle_.back());
  idle_.pop_back();
  return client;
}

void ConnectionPool::Give(http::Client client) {
  if (!client.connected()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(client));
}

}  // namespace kiln::client
