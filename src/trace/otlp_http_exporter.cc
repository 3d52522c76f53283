// OTLP/HTTP JSON exporter: a bounded queue filled by Export() and drained by one background thread that
// batches, serializes and POSTs with libcurl, retrying transient failures with backoff. libcurl is reached
// through the CurlApi table (loaded with dlopen when the first exporter is made), not linked.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "kiln/base/clock.h"
#include "kiln/base/curl_api.h"
#include "kiln/base/log.h"
#include "kiln/base/strings.h"
#include "kiln/trace/exporter.h"
#include "kiln/trace/otlp_json.h"

namespace kiln::trace {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int64_t kMs = 1'000'000;

struct HttpResponse {
  const CurlApi* api = nullptr;  // set by Post: the header callback parses HTTP-dates with it
  long status = 0;               // 0 when no HTTP response arrived
  CURLcode curl = CURLE_OK;
  int64_t retry_after_ms = -1;  // -1 when absent
  std::string body;             // first bytes only, for the log
};

// Retry-After is either delta-seconds or an HTTP-date.
int64_t ParseRetryAfter(const CurlApi& curl, std::string_view v) {
  v = Trim(v);
  if (v.empty()) return -1;
  if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return v.size() > 9 ? kNever / 2 : std::stoll(std::string(v)) * 1000;
  }
  time_t when = curl.getdate(std::string(v).c_str(), nullptr);
  if (when < 0) return -1;
  return std::max<int64_t>(0, static_cast<int64_t>(when - std::time(nullptr)) * 1000);
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string_view::npos && EqualsIgnoreCase(Trim(line.substr(0, colon)), "retry-after")) {
    auto* r = static_cast<HttpResponse*>(user);
    r->retry_after_ms = ParseRetryAfter(*r->api, line.substr(colon + 1));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  if (r->body.size() < 512) r->body.append(data, std::min<size_t>(size * n, 512 - r->body.size()));
  return size * n;
}

bool Retryable(const HttpResponse& r) {
  if (r.status != 0) return r.status == 429 || r.status == 502 || r.status == 503 || r.status == 504;
  // Transport errors (refused, reset, timeout, DNS) are transient; a bad URL is not.
  return r.curl != CURLE_URL_MALFORMAT && r.curl != CURLE_UNSUPPORTED_PROTOCOL;
}

std::string Describe(const HttpResponse& r) {
  if (r.status == 0) return std::string("transport error: ") + r.api->easy_strerror(r.curl);
  return "HTTP " + std::to_string(r.status) + (r.body.empty() ? "" : ": " + r.body.substr(0, 200));
}

// One reusable connection. Used only by the exporter's worker thread.
class CurlPoster {
 public:
  CurlPoster(const CurlApi& curl, const std::string& url,
             const std::vector<std::pair<std::string, std::string>>& headers)
      : curl_(curl), easy_(curl.easy_init()), multi_(curl.multi_init()) {
    headers_ = curl_.slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_.slist_append(headers_, "Expect:");  // no 100-continue round trip (up to 1 s) per batch
    for (const auto& [k, v] : headers) headers_ = curl_.slist_append(headers_, (k + ": " + v).c_str());
    curl_.easy_setopt(easy_, CURLOPT_URL, url.c_str());
    curl_.easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl_.easy_setopt(easy_, CURLOPT_USERAGENT, "kiln-trace");
    curl_.easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_.easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_.easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &OnBody);
  }
  ~CurlPoster() {
    curl_.multi_cleanup(multi_);
    curl_.easy_cleanup(easy_);
    curl_.slist_free_all(headers_);
  }
  CurlPoster(const CurlPoster&) = delete;
  CurlPoster& operator=(const CurlPoster&) = delete;

  // POSTs `body`, giving up at `timeout_ms` or as soon as the monotonic time passes `*abort_at` (which
  // another thread may lower, e.g. a shutdown deadline).
  HttpResponse Post(const std::string& body, int64_t timeout_ms, const std::atomic<int64_t>* abort_at) {
    HttpResponse r;
    r.api = &curl_;
    curl_.easy_setopt(easy_, CURLOPT_HEADERDATA, &r);
    curl_.easy_setopt(easy_, CURLOPT_WRITEDATA, &r);
    curl_.easy_setopt(easy_, CURLOPT_POSTFIELDS, body.data());
    curl_.easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_.easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, timeout_ms)));
    curl_.multi_add_handle(multi_, easy_);
    int running = 1;
    r.curl = CURLE_OPERATION_TIMEDOUT;
    while (running) {
      if (curl_.multi_perform(multi_, &running) != CURLM_OK) break;
      if (!running) {
        int left = 0;
        if (CURLMsg* m = curl_.multi_info_read(multi_, &left); m && m->msg == CURLMSG_DONE)
          r.curl = m->data.result;
        break;
      }
      if (MonotonicNanos() >= abort_at->load()) break;    // r.curl stays "timed out"
      curl_.multi_poll(multi_, nullptr, 0, 20, nullptr);  // short poll so a shutdown is noticed quickly
    }
    curl_.multi_remove_handle(multi_, easy_);
    if (r.curl == CURLE_OK) curl_.easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }

 private:
  const CurlApi& curl_;
  CURL* easy_;
  CURLM* multi_;
  curl_slist* headers_ = nullptr;
};

class OtlpHttpExporter : public Exporter {
 public:
  OtlpHttpExporter(const CurlApi& curl, OtlpHttpOptions o) : curl_(curl), opts_(std::move(o)) {
    worker_ = std::thread([this] { Run(); });
  }
  ~OtlpHttpExporter() override { (void)Shutdown(std::chrono::milliseconds(1000)); }

  void Export(SpanPtr span) override {
    std::lock_guard lock(mu_);
    if (shutting_down_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (queue_.size() >= opts_.max_queue_size) {
      queue_.pop_front();  // the oldest is the least useful when the collector lags
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    queue_.push_back(std::move(span));
    if (queue_.size() == opts_.max_batch_size) work_cv_.notify_one();
  }

  Status ForceFlush(std::chrono::milliseconds timeout) override;
  Status Shutdown(std::chrono::milliseconds timeout) override;

  ExporterStats stats() const override { return {exported_.load(), dropped_.load(), failures_.load()}; }
  std::string_view name() const override { return "otlp"; }

 private:
  void Run();
  bool Idle() const { return queue_.empty() && in_flight_ == 0; }
  bool SendWithRetry(CurlPoster& poster, const std::string& body);
  bool SleepUntil(int64_t wake_mono);
  int64_t Backoff(int attempt);

  const CurlApi& curl_;
  const OtlpHttpOptions opts_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // wakes the worker (batch full, flush, shutdown)
  std::condition_variable idle_cv_;  // wakes ForceFlush callers
  std::deque<SpanPtr> queue_;
  size_t in_flight_ = 0;
  bool flush_requested_ = false;
  bool shutting_down_ = false;
  bool failing_ = false;                   // worker only: log transitions, not every failure
  std::atomic<int64_t> deadline_{kNever};  // shutdown deadline, monotonic ns
  std::atomic<uint64_t> exported_{0}, dropped_{0}, failures_{0};
  std::thread worker_;
};

void OtlpHttpExporter::Run() {
  CurlPoster poster(curl_, opts_.endpoint, opts_.headers);
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait_for(lock, opts_.schedule_delay, [&] {
      return shutting_down_ || flush_requested_ || queue_.size() >= opts_.max_batch_size;
    });
    if (queue_.empty() || (shutting_down_ && MonotonicNanos() >= deadline_.load())) {
      dropped_.fetch_add(queue_.size());
      queue_.clear();
      flush_requested_ = false;
      idle_cv_.notify_all();
      if (shutting_down_) return;
      continue;
    }
    size_t n = std::min(queue_.size(), opts_.max_batch_size);
    std::vector<SpanPtr> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    in_flight_ = n;
    lock.unlock();
    std::string body = EncodeExportRequest(batch);
    bool ok = SendWithRetry(poster, body);
    if (ok && failing_) log::Info("trace: OTLP export to " + opts_.endpoint + " recovered");
    if (ok) failing_ = false;
    (ok ? exported_ : dropped_).fetch_add(n);
    if (!ok) failures_.fetch_add(1);
    lock.lock();
    in_flight_ = 0;
    if (Idle()) idle_cv_.notify_all();
  }
}

// Posts one batch until it is accepted, a non-retryable answer arrives, attempts run out or the shutdown
// deadline passes.
bool OtlpHttpExporter::SendWithRetry(CurlPoster& poster, const std::string& body) {
  for (int attempt = 0;; ++attempt) {
    int64_t remaining_ms = (deadline_.load() - MonotonicNanos()) / kMs;
    if (remaining_ms <= 0) return false;
    HttpResponse r =
        poster.Post(body, std::min<int64_t>(opts_.request_timeout.count(), remaining_ms), &deadline_);
    if (r.curl == CURLE_OK && r.status >= 200 && r.status < 300) return true;
    if (!failing_) log::Warn("trace: OTLP export to " + opts_.endpoint + " failed: " + Describe(r));
    failing_ = true;
    if (!Retryable(r) || attempt + 1 >= opts_.max_attempts) return false;
    int64_t wait_ms = r.retry_after_ms >= 0
                          ? std::min<int64_t>(r.retry_after_ms, opts_.max_retry_after.count())
                          : Backoff(attempt);
    if (!SleepUntil(MonotonicNanos() + wait_ms * kMs)) return false;
  }
}

int64_t OtlpHttpExporter::Backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  int64_t base = opts_.initial_backoff.count() << std::min(attempt, 20);
  base = std::max<int64_t>(1, std::min<int64_t>(base, opts_.max_backoff.count()));
  return base / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(base / 2 + 1));  // jitter in [b/2, b]
}

// Sleeps until `wake_mono`; false (without sleeping) if a shutdown deadline comes first.
bool OtlpHttpExporter::SleepUntil(int64_t wake_mono) {
  std::unique_lock lock(mu_);
  while (true) {
    int64_t now = MonotonicNanos();
    if (wake_mono > deadline_.load()) return false;
    if (now >= wake_mono) return true;
    work_cv_.wait_for(lock, std::chrono::nanoseconds(wake_mono - now));
  }
}

Status OtlpHttpExporter::ForceFlush(std::chrono::milliseconds timeout) {
  uint64_t failures_before = failures_.load();
  std::unique_lock lock(mu_);
  if (Idle()) return Status::Ok();
  flush_requested_ = true;
  work_cv_.notify_one();
  if (!idle_cv_.wait_for(lock, timeout, [&] { return Idle(); })) {
    return DeadlineExceeded("OTLP flush did not finish within " + std::to_string(timeout.count()) + "ms");
  }
  if (failures_.load() != failures_before) return Unavailable("OTLP export to " + opts_.endpoint + " failed");
  return Status::Ok();
}

Status OtlpHttpExporter::Shutdown(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return Status::Ok();
    shutting_down_ = true;
    deadline_.store(MonotonicNanos() + timeout.count() * kMs);
  }
  uint64_t dropped_before = dropped_.load(), failures_before = failures_.load();
  work_cv_.notify_all();
  worker_.join();
  if (dropped_.load() != dropped_before || failures_.load() != failures_before) {
    return Unavailable("OTLP shutdown: " + std::to_string(dropped_.load() - dropped_before) +
                       " span(s) not delivered to " + opts_.endpoint);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Exporter>> MakeOtlpHttpExporter(OtlpHttpOptions options) {
  if (options.endpoint.empty()) return InvalidArgument("OTLP endpoint is empty");
  if (options.max_queue_size == 0 || options.max_batch_size == 0 || options.max_attempts <= 0) {
    return InvalidArgument("OTLP queue size, batch size and attempts must be positive");
  }
  // Exporting is where libcurl is first needed: a missing libcurl fails here, at start-up of the export.
  Result<const CurlApi*> curl = LoadCurlApi();
  if (!curl.ok()) return curl.status().WithContext("OTLP/HTTP trace exporter");
  return std::unique_ptr<Exporter>(new OtlpHttpExporter(**curl, std::move(options)));
}

}  // namespace kiln::trace
