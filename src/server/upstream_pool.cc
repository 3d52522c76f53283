#include "upstream_pool.h"

#include <poll.h>

#include <vector>

#include "kiln/base/clock.h"

namespace kiln::server {
namespace {

// An idle HTTP connection has nothing to read: readable means closed (or envd broke the protocol).
bool LooksOpen(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0;
}

}  // namespace

UpstreamPool::UpstreamPool() : sweeper_([this] { Sweep(); }) {}

UpstreamPool::~UpstreamPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  sweeper_.join();
}

UniqueFd UpstreamPool::Take(const std::string& socket_path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(socket_path);
  int64_t now = MonotonicMillis();
  while (it != idle_.end() && !it->second.empty()) {
    Idle entry = std::move(it->second.back());  // the most recently used: the least likely to be stale
    it->second.pop_back();
    --total_;
    if (it->second.empty()) idle_.erase(it), it = idle_.end();
    if (now - entry.since_ms < kMaxIdleMs && LooksOpen(entry.fd.get())) return std::move(entry.fd);
  }
  return UniqueFd();
}

void UpstreamPool::Give(const std::string& socket_path, UniqueFd fd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::deque<Idle>& list = idle_[socket_path];
    if (stopping_ || list.size() >= kPerSocket || total_ >= kTotal) {
      if (list.empty()) idle_.erase(socket_path);
      return;  // fd closes here
    }
    list.push_back(Idle{std::move(fd), MonotonicMillis()});
    ++total_;
  }
  wake_.notify_all();
}

size_t UpstreamPool::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

void UpstreamPool::Sweep() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // Asleep while nothing is kept: an idle server does not wake for this.
    if (total_ == 0) {
      wake_.wait(lock, [this] { return stopping_ || total_ > 0; });
      continue;
    }
    wake_.wait_for(lock, std::chrono::milliseconds(kSweepMs), [this] { return stopping_; });
    int64_t now = MonotonicMillis();
    std::vector<UniqueFd> doomed;  // closed outside the lock
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& list = it->second;
      for (auto entry = list.begin(); entry != list.end();) {
        if (now - entry->since_ms < kMaxIdleMs && LooksOpen(entry->fd.get())) {
          ++entry;
          continue;
        }
        doomed.push_back(std::move(entry->fd));
        entry = list.erase(entry);
        --total_;
      }
      it = list.empty() ? idle_.erase(it) : std::next(it);
    }
    lock.unlock();
    doomed.clear();
    lock.lock();
  }
}

}  // namespace kiln::server
