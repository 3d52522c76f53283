#include "kiln/envd/event_log.h"

#include "kiln/base/clock.h"

namespace kiln::envd {
namespace {

// Cut at a UTF-8 character boundary, so that the JSON the log is served as stays valid text.
std::string Capped(std::string text) {
  if (text.size() <= EventLog::kMaxValueBytes) return text;
  size_t cut = EventLog::kMaxValueBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "...";
}

}  // namespace

void EventLog::Add(std::string level, std::string message, std::map<std::string, std::string> fields) {
  LogEntry entry{WallNanos() / 1'000'000, std::move(level), Capped(std::move(message)), {}};
  for (auto& [key, value] : fields) entry.fields[Capped(key)] = Capped(std::move(value));
  std::lock_guard<std::mutex> lock(mu_);
  if (ring_.size() < kMaxEntries) {
    ring_.push_back(std::move(entry));
    return;
  }
  ring_[next_] = std::move(entry);
  next_ = (next_ + 1) % kMaxEntries;
  ++dropped_;
}

std::vector<LogEntry> EventLog::Since(int64_t start_ms, size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LogEntry> out;
  for (size_t i = 0; i < ring_.size() && out.size() < limit; ++i) {
    const LogEntry& e = ring_[(next_ + i) % ring_.size()];
    if (e.timestamp_ms >= start_ms) out.push_back(e);
  }
  return out;
}

uint64_t EventLog::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

EventLog& SandboxEvents() {
  static EventLog* log = new EventLog();  // never destroyed: threads may log until the process exits
  return *log;
}

}  // namespace kiln::envd
