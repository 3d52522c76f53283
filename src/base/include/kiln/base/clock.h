// Clocks. Monotonic time for durations and deadlines, wall time for timestamps shown to people.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

// Nanoseconds on CLOCK_MONOTONIC.
int64_t MonotonicNanos();
inline int64_t MonotonicMillis() {
  return MonotonicNanos() / 1'000'000;
}
// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
int64_t WallNanos();
// RFC 3339 UTC with milliseconds, e.g. "2026-01-01T00:00:00.123Z".
std::string Rfc3339(int64_t wall_nanos);

}  // namespace kiln
