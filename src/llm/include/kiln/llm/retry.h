// Retry policy for provider HTTP calls: which failures are retried and how long to wait.
//
// Retried: network errors and timeouts, HTTP 408, 409, 429 and >= 500 (incl. Anthropic's 529), unless the
// server says `x-should-retry: false`; `x-should-retry: true` forces a retry of any status. The wait is the
// server's hint when given: `retry-after-ms` (milliseconds) first, then `retry-after` (seconds or an
// HTTP-date). A hint is obeyed when 0 <= hint <= max_retry_after (default 60 s, the Anthropic SDK's cap);
// a larger hint means "come back much later", so the call fails at once instead of sleeping (the OpenAI SDK's
// choice). Without a hint: initial_backoff * multiplier^retry, capped at max_backoff, minus up to `jitter`
// of itself at random (defaults as the official SDKs: 0.5 s, x2, 8 s cap, 25 % jitter, 2 retries).
// A RetryPolicy is a value; its hooks must be thread-safe if the provider is shared between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "kiln/base/status.h"

namespace kiln::llm {

struct HttpResponse;

struct RetryPolicy {
  int max_retries = 2;  // retries after the first attempt
  std::chrono::milliseconds initial_backoff{500};
  double multiplier = 2.0;
  std::chrono::milliseconds max_backoff{8'000};
  double jitter = 0.25;  // fraction in [0, 1]
  std::chrono::milliseconds max_retry_after{60'000};

  // Test seams. null: std::this_thread::sleep_for, a thread-local PRNG in [0, 1), time(nullptr).
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<double()> random;
  std::function<int64_t()> now_unix_seconds;
};

struct RetryDecision {
  bool retry = false;
  std::chrono::milliseconds delay{0};
  bool hint_too_long = false;  // the server asked for a wait above max_retry_after
};

// Decides what to do after attempt number `retries_done` (0 for the first attempt) failed with either an
// HTTP response (`response` non-null) or a transport error (`transport_error`, used when response is null).
RetryDecision DecideRetry(const RetryPolicy& policy, int retries_done, const HttpResponse* response,
                          const Status& transport_error);

// The server's wait hint from retry-after-ms / retry-after, or nullopt if absent or unparseable.
std::optional<std::chrono::milliseconds> RetryAfterHint(const HttpResponse& response,
                                                        int64_t now_unix_seconds);

// Sleeps via policy.sleep (or really).
void SleepFor(const RetryPolicy& policy, std::chrono::milliseconds delay);

}  // namespace kiln::llm
