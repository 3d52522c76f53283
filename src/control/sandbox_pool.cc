#include "sandbox_pool.h"

#include <algorithm>
#include <chrono>

#include "kiln/base/log.h"

namespace kiln::control {

SandboxPool::SandboxPool(std::map<std::string, int64_t> sizes, Make make)
    : sizes_(std::move(sizes)), make_(std::move(make)) {
  bool any = std::any_of(sizes_.begin(), sizes_.end(), [](const auto& s) { return s.second > 0; });
  if (any) refiller_ = std::thread([this] { Refill(); });
}

SandboxPool::~SandboxPool() {
  Stop();
}

void SandboxPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (refiller_.joinable()) refiller_.join();
}

std::optional<SandboxRecord> SandboxPool::Take(const std::string& template_id) {
  std::optional<SandboxRecord> taken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ready_.find(template_id);
    if (it == ready_.end() || it->second.empty()) return std::nullopt;
    taken = std::move(it->second.front());
    it->second.pop_front();
    held_.erase(taken->id);
  }
  wake_.notify_all();
  return taken;
}

bool SandboxPool::Holds(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.count(id) != 0;
}

std::map<std::string, int64_t> SandboxPool::Ready(int64_t* making) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [id, size] : sizes_) {
    auto it = ready_.find(id);
    out[id] = it == ready_.end() ? 0 : static_cast<int64_t>(it->second.size());
  }
  if (making) *making = making_;
  return out;
}

std::string SandboxPool::Neediest() const {
  std::string best;
  int64_t best_deficit = 0;
  for (const auto& [id, size] : sizes_) {
    auto it = ready_.find(id);
    int64_t deficit = size - (it == ready_.end() ? 0 : static_cast<int64_t>(it->second.size()));
    if (deficit > best_deficit) best = id, best_deficit = deficit;
  }
  return best;
}

void SandboxPool::Refill() {
  std::chrono::milliseconds backoff(0);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (backoff.count() > 0 && wake_.wait_for(lock, backoff, [&] { return stopping_; })) break;
    std::string template_id = Neediest();
    if (template_id.empty()) {
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || !Neediest().empty(); });
      continue;
    }
    ++making_;
    lock.unlock();
    Result<SandboxRecord> made = make_(template_id);
    lock.lock();
    --making_;
    if (!made.ok()) {
      log::Warn("warm pool: cannot start a '" + template_id + "' sandbox: " + made.status().ToString());
      backoff = std::clamp(backoff * 2, std::chrono::milliseconds(1000), std::chrono::milliseconds(30'000));
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    held_.insert(made->id);
    ready_[template_id].push_back(std::move(*made));
  }
}

}  // namespace kiln::control
