#include "kiln/llm/retry.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <random>
#include <string>
#include <thread>

#include "kiln/base/strings.h"
#include "kiln/llm/http.h"

namespace kiln::llm {
namespace {

using std::chrono::milliseconds;

bool RetryableStatus(int status) {
  return status == 408 || status == 409 || status == 429 || status >= 500;
}

bool RetryableTransportError(const Status& s) {
  return s.code() == Code::kUnavailable || s.code() == Code::kDeadlineExceeded;
}

double DefaultRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::optional<double> ParseNumber(std::string_view s) {
  s = Trim(s);
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT" (RFC 9110 §5.6.7).
std::optional<int64_t> ParseHttpDate(const std::string& s) {
  struct tm tm = {};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

milliseconds Backoff(const RetryPolicy& p, int retries_done) {
  double ms = static_cast<double>(p.initial_backoff.count()) * std::pow(p.multiplier, retries_done);
  ms = std::min(ms, static_cast<double>(p.max_backoff.count()));
  double r = p.random ? p.random() : DefaultRandom();
  ms *= 1.0 - std::clamp(p.jitter, 0.0, 1.0) * std::clamp(r, 0.0, 1.0);
  return milliseconds(static_cast<int64_t>(ms));
}

}  // namespace

std::optional<milliseconds> RetryAfterHint(const HttpResponse& response, int64_t now_unix_seconds) {
  if (auto ms = ParseNumber(response.Header("retry-after-ms")); ms && *ms >= 0) {
    return milliseconds(static_cast<int64_t>(*ms));
  }
  std::string ra = std::string(Trim(response.Header("retry-after")));
  if (ra.empty()) return std::nullopt;
  if (auto secs = ParseNumber(ra); secs && *secs >= 0) {
    return milliseconds(static_cast<int64_t>(*secs * 1000));
  }
  if (auto when = ParseHttpDate(ra))
    return milliseconds(std::max<int64_t>(0, *when - now_unix_seconds) * 1000);
  return std::nullopt;
}

RetryDecision DecideRetry(const RetryPolicy& policy, int retries_done, const HttpResponse* response,
                          const Status& transport_error) {
  RetryDecision d;
  if (retries_done >= policy.max_retries) return d;
  if (response == nullptr) {
    d.retry = RetryableTransportError(transport_error);
  } else {
    std::string should = ToLower(Trim(response->Header("x-should-retry")));
    d.retry = should == "true" || (should != "false" && RetryableStatus(response->status));
    int64_t now = policy.now_unix_seconds ? policy.now_unix_seconds() : static_cast<int64_t>(time(nullptr));
    if (auto hint = d.retry ? RetryAfterHint(*response, now) : std::nullopt) {
      if (*hint > policy.max_retry_after) {
        d.retry = false;
        d.hint_too_long = true;
        return d;
      }
      d.delay = *hint;
      return d;
    }
  }
  if (d.retry) d.delay = Backoff(policy, retries_done);
  return d;
}

void SleepFor(const RetryPolicy& policy, milliseconds delay) {
  if (policy.sleep) {
    policy.sleep(delay);
  } else if (delay.count() > 0) {
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace kiln::llm
