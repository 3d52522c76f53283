// POST /init's body and the sandbox-wide env vars it merges (InitEnv).
#include "kiln/envd/config.h"

#include <chrono>

#include <gtest/gtest.h>

namespace kiln::envd {
namespace {

TEST(InitBodyTest, ParsesTheEnvVarsAndNamesWhatIsWrong) {
  auto vars = ParseInitBody(R"({"envVars":{"B":"2","A":"1"},"other":true})");
  ASSERT_TRUE(vars.ok()) << vars.status().ToString();
  EXPECT_EQ(*vars, (EnvVars{{"A", "1"}, {"B", "2"}}));
  EXPECT_TRUE(ParseInitBody("")->empty());
  EXPECT_TRUE(ParseInitBody(R"({"envVars":null})")->empty());
  for (const char* bad : {"[1]", R"({"envVars":)", R"({"envVars":{"A":1}})", R"({"envVars":["A"]})"}) {
    auto refused = ParseInitBody(bad);
    EXPECT_EQ(refused.status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseInitBody(R"({"envVars":{"A":1}})").status().message().find("envVars"), std::string::npos);
}

TEST(InitEnvTest, BadNamesAndTheBoundsSetNothing) {
  InitEnv env;
  ASSERT_TRUE(env.Merge({{"KEEP", "1"}}).ok());
  for (const EnvVars& bad :
       {EnvVars{{"", "x"}}, EnvVars{{"A=B", "x"}}, EnvVars{{std::string("A\0B", 3), "x"}},
        EnvVars{{"A", std::string("x\0y", 3)}}, EnvVars{{"BIG", std::string(300 << 10, 'v')}}})
    EXPECT_EQ(env.Merge(bad).code(), Code::kInvalidArgument);
  EXPECT_EQ(env.Get(), (EnvVars{{"KEEP", "1"}}));
  ASSERT_TRUE(env.Merge({{"KEEP", "2"}}).ok());
  EXPECT_EQ(env.Get(), (EnvVars{{"KEEP", "2"}}));
}

// Regression: the variable bound was checked after every key had been merged, each merge searching all the
// keys before it, so one 4 MiB body of small keys kept envd's /init busy for minutes (quadratic). Now the
// 513th new key is refused at once (milliseconds; the old code took over a minute on this input).
TEST(InitEnvTest, AHugeBodyOfKeysIsRefusedAtTheBound) {
  std::string body = R"({"envVars":{)";
  for (int i = 0; i < 400'000; ++i) body += (i ? ",\"" : "\"") + std::to_string(i) + "\":\"\"";
  body += "}}";
  auto vars = ParseInitBody(body);
  ASSERT_TRUE(vars.ok());
  ASSERT_EQ(vars->size(), 400'000u);
  InitEnv env;
  auto started = std::chrono::steady_clock::now();
  Status merged = env.Merge(*vars);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_EQ(merged.code(), Code::kInvalidArgument);
  EXPECT_NE(merged.message().find("512"), std::string::npos) << merged.ToString();
  EXPECT_TRUE(env.Get().empty());
}

}  // namespace
}  // namespace kiln::envd
