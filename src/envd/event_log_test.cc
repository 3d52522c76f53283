#include "kiln/envd/event_log.h"

#include <gtest/gtest.h>

namespace kiln::envd {
namespace {

TEST(EventLogTest, KeepsTheNewestEntriesAndCountsTheDropped) {
  EventLog log;
  for (size_t i = 0; i < EventLog::kMaxEntries + 5; ++i) log.Add("info", "entry " + std::to_string(i));
  std::vector<LogEntry> all = log.Since(0, EventLog::kMaxEntries * 2);
  ASSERT_EQ(all.size(), EventLog::kMaxEntries);
  EXPECT_EQ(all.front().message, "entry 5");
  EXPECT_EQ(all.back().message, "entry " + std::to_string(EventLog::kMaxEntries + 4));
  EXPECT_EQ(log.dropped(), 5u);
  std::vector<LogEntry> first = log.Since(0, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1].message, "entry 6");
}

TEST(EventLogTest, FiltersByStartAndCapsValuesOnACharacterBoundary) {
  EventLog log;
  log.Add("warn", std::string(EventLog::kMaxValueBytes - 1, 'a') + "\xc3\xa9", {{"cmd", "x"}});
  std::vector<LogEntry> got = log.Since(0, 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message, std::string(EventLog::kMaxValueBytes - 1, 'a') + "...");
  EXPECT_EQ(got[0].fields.at("cmd"), "x");
  EXPECT_EQ(got[0].level, "warn");
  EXPECT_TRUE(log.Since(got[0].timestamp_ms + 1, 10).empty());
  EXPECT_EQ(log.Since(got[0].timestamp_ms, 10).size(), 1u);
}

}  // namespace
}  // namespace kiln::envd
