// EventLog: what envd logged about its sandbox (envd started, a process started, a process ended), kept in
// memory for `kiln serve`'s GET /sandboxes/{id}/logs, which reads it through envd's GET /logs.
//
// Bounded: the newest kMaxEntries entries are kept (older ones are dropped and counted), each message and
// field value cut to kMaxValueBytes, so a sandbox that starts processes in a loop costs envd a fixed amount
// of memory. The log lives in envd's memory only: nothing is written to the host, so the sandbox's code
// (which may run as root in its namespace) can neither fill the host's disk through it nor forge entries.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace kiln::envd {

struct LogEntry {
  int64_t timestamp_ms = 0;  // wall clock
  std::string level;         // "debug", "info", "warn" or "error"
  std::string message;
  std::map<std::string, std::string> fields;
};

class EventLog {
 public:
  static constexpr size_t kMaxEntries = 2000;
  static constexpr size_t kMaxValueBytes = 1024;

  void Add(std::string level, std::string message, std::map<std::string, std::string> fields = {});
  // Entries with timestamp_ms >= start_ms, oldest first, at most `limit` of them (the oldest that match).
  std::vector<LogEntry> Since(int64_t start_ms, size_t limit) const;
  uint64_t dropped() const;

 private:
  mutable std::mutex mu_;
  std::vector<LogEntry> ring_;  // kMaxEntries slots once full; next_ is the oldest then
  size_t next_ = 0;
  uint64_t dropped_ = 0;
};

// The one log of this envd process.
EventLog& SandboxEvents();

}  // namespace kiln::envd
