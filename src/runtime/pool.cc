#include "kiln/runtime/pool.h"

#include <algorithm>
#include <chrono>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"
#include "kiln/client/code_client.h"

namespace kiln::runtime {
namespace {

bool IsDottedIdentifier(const std::string& name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  char prev = '.';
  for (char c : name) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (c == '.' ? prev == '.' : !(alpha || (digit && prev != '.'))) return false;
    prev = c;
  }
  return true;
}

bool PreloadsMatplotlib(const std::vector<std::string>& preload) {
  return std::any_of(preload.begin(), preload.end(), [](const std::string& m) {
    return m == "matplotlib" || m.rfind("matplotlib.", 0) == 0;
  });
}

}  // namespace

std::string WarmupCode(const std::vector<std::string>& preload) {
  std::string code =
      "import os as _kiln_os\n_kiln_os.environ.setdefault('MPLCONFIGDIR', '/tmp/.matplotlib')\n";
  for (const std::string& module : preload) code += "import " + module + "\n";
  if (PreloadsMatplotlib(preload)) {
    // Builds the font cache now rather than on the user's first plot.
    code +=
        "import io as _kiln_io, matplotlib.pyplot as _kiln_plt\n"
        "_kiln_fig = _kiln_plt.figure(figsize=(1, 1))\n"
        "_kiln_fig.savefig(_kiln_io.BytesIO(), format='png')\n"
        "_kiln_plt.close(_kiln_fig)\n"
        "del _kiln_io, _kiln_plt, _kiln_fig\n";
  }
  code += "del _kiln_os\n";
  return code;
}

Result<std::unique_ptr<WarmPool>> WarmPool::Create(Runtime* runtime, PoolOptions options) {
  if (runtime == nullptr) return InvalidArgument("runtime: must not be null");
  if (options.max_parallel_refills == 0) return InvalidArgument("max_parallel_refills: must be >= 1");
  for (const std::string& module : options.preload) {
    if (!IsDottedIdentifier(module))
      return InvalidArgument("preload: not a Python module name: '" + module + "'");
  }
  KILN_RETURN_IF_ERROR(options.spec.Validate().WithContext("spec"));
  return std::unique_ptr<WarmPool>(new WarmPool(runtime, std::move(options)));
}

WarmPool::WarmPool(Runtime* runtime, PoolOptions options) : runtime_(runtime), options_(std::move(options)) {
  for (size_t i = 0; i < options_.max_parallel_refills; ++i) workers_.emplace_back([this] { RefillLoop(); });
}

WarmPool::~WarmPool() {
  Shutdown();
}

void WarmPool::Shutdown() {
  std::vector<std::thread> workers;
  std::deque<SandboxInfo> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  changed_.notify_all();
  // Workers kill what they were creating when they see stopping_; join before draining ready_.
  for (std::thread& t : workers) t.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    doomed.swap(ready_);
    stats_.ready = 0;
  }
  changed_.notify_all();
  for (const SandboxInfo& info : doomed) (void)runtime_->Kill(info.id);
}

void WarmPool::RefillLoop() {
  int64_t backoff_ms = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (backoff_ms > 0) {
      changed_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stopping_; });
    }
    changed_.wait(lock, [this] { return stopping_ || ready_.size() + in_flight_ < options_.size; });
    if (stopping_) return;
    ++in_flight_;
    stats_.in_flight = in_flight_;
    lock.unlock();
    Result<SandboxInfo> created = CreateWarm();
    lock.lock();
    --in_flight_;
    stats_.in_flight = in_flight_;
    if (!created.ok()) {
      RecordFailure(created.status());
      backoff_ms = std::min<int64_t>(backoff_ms == 0 ? 1000 : backoff_ms * 2, 30'000);
      log::Warn("warm pool: creating a sandbox failed (" + std::to_string(stats_.consecutive_failures) +
                " in a row; next try in " + std::to_string(backoff_ms / 1000) +
                " s): " + created.status().ToString());
    } else if (stopping_) {
      lock.unlock();
      (void)runtime_->Kill(created->id);
      return;
    } else {
      backoff_ms = 0;
      stats_.consecutive_failures = 0;
      ++stats_.refills;
      ready_.push_back(std::move(created).value());
      stats_.ready = ready_.size();
    }
    changed_.notify_all();
  }
}

Result<SandboxInfo> WarmPool::CreateWarm() {
  CreateOptions create;
  create.preload_python = true;
  create.spec = options_.spec;
  create.spec.limits.timeout_ms = 0;  // the user's lifetime starts at Acquire()
  create.spec.env.emplace("MPLCONFIGDIR", "/tmp/.matplotlib");
  create.env_vars = options_.env_vars;
  create.env_vars.emplace("MPLCONFIGDIR", "/tmp/.matplotlib");
  create.access_token = options_.access_token;
  KILN_ASSIGN_OR_RETURN(SandboxInfo info, runtime_->CreateSandbox(create));
  Status warmed = Warm(info);
  if (!warmed.ok()) {
    (void)runtime_->Kill(info.id);
    return warmed.WithContext("warming sandbox " + info.id);
  }
  return info;
}

Status WarmPool::Warm(const SandboxInfo& info) const {
  client::CodeClient code(info.socket_path, info.access_token);
  client::ExecuteOptions run;
  run.request_timeout_ms = options_.warmup_timeout_ms;
  KILN_ASSIGN_OR_RETURN(client::Execution done, code.Execute(WarmupCode(options_.preload), run));
  if (done.error) {
    return FailedPrecondition("warm-up cell raised " + done.error->name + ": " + done.error->value);
  }
  return Status::Ok();
}

Result<PooledSandbox> WarmPool::Acquire() {
  int64_t start = MonotonicMillis();
  PooledSandbox out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return FailedPrecondition("warm pool: shut down");
    if (!ready_.empty()) {
      out.info = std::move(ready_.front());
      ready_.pop_front();
      out.from_pool = true;
      ++stats_.hits;
    } else {
      ++stats_.misses;
    }
    stats_.ready = ready_.size();
  }
  changed_.notify_all();
  if (!out.from_pool) {
    Result<SandboxInfo> created = CreateWarm();
    if (!created.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      RecordFailure(created.status());
      return created.status();
    }
    out.info = std::move(created).value();
  }
  if (options_.spec.limits.timeout_ms > 0) {
    Status s = runtime_->SetTimeout(out.info.id, options_.spec.limits.timeout_ms);
    if (!s.ok()) return s.WithContext("acquired sandbox " + out.info.id);  // died while parked
    Result<SandboxInfo> updated = runtime_->Get(out.info.id);
    if (updated.ok()) out.info = std::move(updated).value();
  }
  out.acquire_ms = MonotonicMillis() - start;
  return out;
}

Status WarmPool::Release(const std::string& id) {
  return runtime_->Kill(id);
}

PoolStats WarmPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void WarmPool::RecordFailure(const Status& error) {
  ++stats_.failures;
  ++stats_.consecutive_failures;
  stats_.last_error = error;
}

Status WarmPool::WaitUntilFull(int64_t timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t failures_before = stats_.failures;
  auto failing = [&] { return stats_.consecutive_failures > 0 || stats_.failures != failures_before; };
  bool done = changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                [&] { return stopping_ || ready_.size() >= options_.size || failing(); });
  if (done && !stopping_ && ready_.size() < options_.size && failing()) {
    return stats_.last_error.WithContext("warm pool cannot fill (" + std::to_string(ready_.size()) + " of " +
                                         std::to_string(options_.size) + " ready)");
  }
  if (!done) {
    return DeadlineExceeded("warm pool: " + std::to_string(ready_.size()) + " of " +
                            std::to_string(options_.size) + " ready after " + std::to_string(timeout_ms) +
                            " ms");
  }
  return Status::Ok();
}

}  // namespace kiln::runtime
