// WarmPool: a number of sandboxes kept ready, each with its default Python code context started and the
// configured modules already imported, so that a code-interpreter session starts without paying for
// sandbox creation, interpreter start-up or `import numpy`.
//
// Life of a pooled sandbox: a refill thread creates it (no lifetime limit while it waits), runs one warm-up
// cell through kiln-envd's /execute on the default Python context, and parks it. Acquire() hands it out
// (its lifetime from options.spec.limits.timeout_ms starts then) and forgets it: a sandbox serves one user
// and is never returned to the pool. Release() kills it. When the pool is empty, Acquire() creates and warms
// one synchronously and counts a miss.
//
// Warm-up cell (python): `import os; os.environ.setdefault("MPLCONFIGDIR", "/tmp/.matplotlib")`, then
// `import <module>` for each preload module; when matplotlib is preloaded, a 1x1 figure is rendered once
// to PNG so that the font cache is built (in MPLCONFIGDIR, on the sandbox's writable /tmp) before any user
// code runs. The cache is per sandbox: matplotlib refuses a read-only cache directory, and building it
// happens in the background refill, off the user's path. The warm-up leaves the context's execution
// counter at 1, so the user's first cell is number 2.
//
// Refills run on `options.max_parallel_refills` threads (default 1), so a burst of Acquire() calls never
// creates more than that many sandboxes at once in the background. A failed refill is counted, logged,
// kept as the pool's last error (stats().last_error) and retried after a back-off (1 s doubling up to
// 30 s), so a broken host does not spin; while the pool is failing, WaitUntilFull() returns that error at
// once instead of waiting out its timeout.
//
// Thread-safety: every method may be called concurrently from any thread. The Runtime must outlive the pool.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {

struct PoolOptions {
  size_t size = 2;                   // ready sandboxes the pool aims to hold; 0 = every Acquire is a miss
  sandbox::SandboxSpec spec;         // of every sandbox; limits.timeout_ms counts from Acquire()
  std::vector<std::string> preload;  // Python modules to import, e.g. {"numpy", "pandas", "matplotlib"}
  std::map<std::string, std::string> env_vars;  // global envd environment (E2B envVars)
  std::string access_token;                     // envd's X-Access-Token; empty: none
  size_t max_parallel_refills = 1;              // background creations at once (>= 1)
  int64_t warmup_timeout_ms = 120'000;          // for the warm-up cell
};

struct PoolStats {
  uint64_t hits = 0;      // Acquire() served from the pool
  uint64_t misses = 0;    // Acquire() had to create a sandbox synchronously
  uint64_t refills = 0;   // sandboxes created and warmed by the background threads
  uint64_t failures = 0;  // creations or warm-ups that failed (background or synchronous)
  size_t ready = 0;       // sandboxes waiting in the pool now
  size_t in_flight = 0;   // background creations under way now
  // The error of the latest failed creation, and how many creations in a row have failed since the last
  // success (0: the pool is healthy; last_error then tells what went wrong before, if anything).
  Status last_error;
  uint64_t consecutive_failures = 0;
};

struct PooledSandbox {
  SandboxInfo info;        // id, socket_path, access_token; the default python context is warm
  bool from_pool = false;  // false: created synchronously by Acquire() (a miss)
  int64_t acquire_ms = 0;  // time Acquire() took
};

class WarmPool {
 public:
  // Validates the options (InvalidArgument names the field: a preload entry that is not a dotted Python
  // identifier, max_parallel_refills 0, a spec that fails Validate()) and starts the refill threads.
  static Result<std::unique_ptr<WarmPool>> Create(Runtime* runtime, PoolOptions options);
  ~WarmPool();  // Shutdown()

  // A ready sandbox, now owned by the caller (kill it with Release() or Runtime::Kill()). From the pool
  // when one is ready (a hit), else created and warmed on the calling thread (a miss; the error of that
  // creation is returned). FailedPrecondition after Shutdown().
  Result<PooledSandbox> Acquire();
  // Kills an acquired sandbox (Runtime::Kill). NotFound if it is already gone.
  Status Release(const std::string& id);
  PoolStats stats() const;
  // Blocks until `ready` reaches options.size or `timeout_ms` passes (DeadlineExceeded) or Shutdown(). When
  // a creation fails meanwhile, or the latest one had failed, returns that error (with its context) at once.
  Status WaitUntilFull(int64_t timeout_ms) const;
  // Stops the refill threads (waiting for creations under way) and kills every sandbox still in the pool.
  // Sandboxes already acquired belong to their callers and are left alone. Idempotent.
  void Shutdown();

 private:
  WarmPool(Runtime* runtime, PoolOptions options);
  void RefillLoop();
  void RecordFailure(const Status& error);  // with mu_ held
  // Creates a sandbox (lifetime unlimited) and runs the warm-up cell; kills it on failure.
  Result<SandboxInfo> CreateWarm();
  Status Warm(const SandboxInfo& info) const;

  Runtime* runtime_;
  const PoolOptions options_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // ready_, in_flight_ or stopping_ changed
  std::deque<SandboxInfo> ready_;
  size_t in_flight_ = 0;
  bool stopping_ = false;
  PoolStats stats_;
  std::vector<std::thread> workers_;
};

// The warm-up cell for `preload` (exposed for tests and the benchmark).
std::string WarmupCode(const std::vector<std::string>& preload);

}  // namespace kiln::runtime
