#include "kiln/llm/pricing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>
#include <vector>

namespace kiln::llm {
namespace {

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/kiln_llm_prices_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Pricing, BuiltinTableLoadsFromDataFile) {
  const PriceTable& t = PriceTable::Builtin();
  EXPECT_GT(t.size(), 5u);
  auto p = t.Find("gpt-4o");
  ASSERT_TRUE(p.has_value());
  EXPECT_GT(p->input_per_mtok, 0);
}

TEST(Pricing, CostFromTable) {
  PriceTable t;
  t.Set("m", Price{2.0, 10.0, 0.5});
  Usage u;
  u.input_tokens = 1'000'000;
  u.cache_read_input_tokens = 400'000;
  u.output_tokens = 100'000;
  Cost c = t.CostOf("m", u);
  EXPECT_TRUE(c.known);
  EXPECT_DOUBLE_EQ(c.usd, 0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 10.0);
  t.Set("n", Price{2.0, 10.0, std::nullopt});  // cached input at the input price
  EXPECT_DOUBLE_EQ(t.CostOf("n", u).usd, 2.0 + 1.0);
}

TEST(Pricing, LookupBySchemeAndDatedSnapshot) {
  PriceTable t;
  t.Set("gpt-4o", Price{2.5, 10, std::nullopt});
  t.Set("gpt-4o-mini", Price{0.15, 0.6, std::nullopt});
  EXPECT_DOUBLE_EQ(t.Find("openai:gpt-4o")->input_per_mtok, 2.5);
  EXPECT_DOUBLE_EQ(t.Find("gpt-4o-2024-08-06")->input_per_mtok, 2.5);
  EXPECT_DOUBLE_EQ(t.Find("gpt-4o-mini-2024-07-18")->input_per_mtok, 0.15);
  EXPECT_FALSE(t.Find("gpt-4").has_value());
  EXPECT_FALSE(t.Find("gpt-4ox").has_value());
}

TEST(Pricing, UnknownModelCostsZeroAndIsFlagged) {
  Usage u;
  u.input_tokens = 1000;
  Cost c = PriceTable::Builtin().CostOf("compat:my-local-model", u);
  EXPECT_FALSE(c.known);
  EXPECT_EQ(c.usd, 0);
}

TEST(Pricing, OverrideFileFromEnvMergesOverBuiltin) {
  std::string path =
      WriteTemp(R"({"version":1,"models":{"gpt-4o":{"input":1,"output":2},"mine":{"input":3,"output":4}}})");
  auto t = PriceTable::Default([&](const std::string& name) -> std::optional<std::string> {
    if (name == "KILN_PRICES") return path;
    return std::nullopt;
  });
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_DOUBLE_EQ(t->Find("gpt-4o")->input_per_mtok, 1);
  EXPECT_DOUBLE_EQ(t->Find("mine")->output_per_mtok, 4);
  EXPECT_TRUE(t->Find("gpt-4o-mini").has_value());  // built-in entries stay
  unlink(path.c_str());
}

TEST(Pricing, BadFilesAreClearErrors) {
  auto missing = PriceTable::FromFile("/nonexistent/prices.json");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  std::string path = WriteTemp(R"({"models":{"x":{"input":"cheap"}}})");
  auto bad = PriceTable::FromFile(path);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("\"x\""), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find(path), std::string::npos);
  unlink(path.c_str());
}

TEST(UsageTotals, SumsAcrossThreads) {
  PriceTable t;
  t.Set("m", Price{1.0, 1.0, std::nullopt});
  UsageTotals totals;
  ChatResponse r;
  r.usage.input_tokens = 10;
  r.usage.output_tokens = 5;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 250; ++j) totals.Add(t, "m", r);
    });
  }
  for (auto& th : threads) th.join();
  auto s = totals.Get();
  EXPECT_EQ(s.calls, 1000);
  EXPECT_EQ(s.usage.input_tokens, 10000);
  EXPECT_EQ(s.usage.output_tokens, 5000);
  EXPECT_NEAR(s.cost_usd, 15000 / 1e6, 1e-12);
  EXPECT_TRUE(s.all_priced);
  totals.Add(t, "unknown", r);
  EXPECT_FALSE(totals.Get().all_priced);
}

}  // namespace
}  // namespace kiln::llm
