#include "kiln/base/clock.h"

#include <time.h>

#include <cstdio>

namespace kiln {

static int64_t Nanos(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t MonotonicNanos() {
  return Nanos(CLOCK_MONOTONIC);
}
int64_t WallNanos() {
  return Nanos(CLOCK_REALTIME);
}

std::string Rfc3339(int64_t wall_nanos) {
  time_t secs = static_cast<time_t>(wall_nanos / 1'000'000'000);
  int millis = static_cast<int>((wall_nanos / 1'000'000) % 1000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
  return buf;
}

}  // namespace kiln
