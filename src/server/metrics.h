// Server metrics in the Prometheus text exposition format (version 0.0.4), served at GET /metrics.
//
// Thread-safety: every method may be called from any thread (relaxed atomics; a scrape may see one
// counter a moment ahead of another).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace kiln::server {

class Metrics {
 public:
  // Upper bounds (seconds) of the create-latency histogram's buckets; +Inf is implied.
  static constexpr std::array<double, 9> kCreateBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  void CountRequest(bool data_plane) { (data_plane ? data_requests_ : api_requests_).fetch_add(1, kRelaxed); }
  void ObserveCreate(double seconds, bool ok);
  void StreamOpened() { open_streams_.fetch_add(1, kRelaxed); }
  void StreamClosed() { open_streams_.fetch_sub(1, kRelaxed); }
  void AddProxyBytes(bool to_sandbox, uint64_t n) {
    (to_sandbox ? bytes_in_ : bytes_out_).fetch_add(n, kRelaxed);
  }

  // The exposition text; the counts are the server's sandboxes and warm pools (template -> ready) at scrape
  // time.
  std::string Render(int64_t running, int64_t paused,
                     const std::map<std::string, int64_t>& pool_sizes = {}) const;

 private:
  static constexpr std::memory_order kRelaxed = std::memory_order_relaxed;
  std::atomic<uint64_t> api_requests_{0}, data_requests_{0};
  std::atomic<uint64_t> creates_ok_{0}, creates_failed_{0};
  std::array<std::atomic<uint64_t>, kCreateBuckets.size()> create_buckets_{};
  std::atomic<uint64_t> create_micros_total_{0};
  std::atomic<int64_t> open_streams_{0};
  std::atomic<uint64_t> bytes_in_{0}, bytes_out_{0};
};

}  // namespace kiln::server
