// The server's sandbox logs, retention of ended sandboxes and warm pools, over real HTTP with real sandboxes.
#include <time.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "server_test_util.h"

namespace kiln::server {
namespace {

// Entries of a logs answer whose message is `message` and, when `cmd_part` is given, whose command line
// contains it (v2 and legacy logEntries share the shape).
std::vector<Json> WithMessage(const Json& entries, const std::string& message,
                              const std::string& cmd_part = "") {
  std::vector<Json> out;
  for (const Json& e : entries) {
    if (e["message"] != message) continue;
    if (!cmd_part.empty() && e["fields"].value("cmd", "").find(cmd_part) == std::string::npos) continue;
    out.push_back(e);
  }
  return out;
}

// envd's own log of the sandbox: its start, then each process started and ended, with the command line and
// exit code, in both of E2B's shapes; start/limit and cursor/direction/level/search select; another key's
// sandbox and bad parameters are refused.
TEST_F(ServerTest, LogsSayWhatEnvdDid) {
  Json sandbox = Create(alice_);
  std::string id = sandbox["sandboxID"];
  std::string ran = Run(sandbox, "echo logged-marker; exit 3");
  ASSERT_NE(ran.find("logged-marker"), std::string::npos) << ran;

  http::Response legacy = Call("GET", "/sandboxes/" + id + "/logs", alice_);
  ASSERT_EQ(legacy.status, 200) << legacy.body;
  Json body = Body(legacy);
  ASSERT_TRUE(body["logs"].is_array() && body["logEntries"].is_array()) << legacy.body;
  ASSERT_EQ(body["logs"].size(), body["logEntries"].size());
  EXPECT_EQ(body["logEntries"][0]["message"], "envd started");
  std::vector<Json> started = WithMessage(body["logEntries"], "process started", "logged-marker");
  std::vector<Json> ended = WithMessage(body["logEntries"], "process ended", "logged-marker");
  ASSERT_EQ(started.size(), 1u) << legacy.body;
  ASSERT_EQ(ended.size(), 1u) << legacy.body;
  EXPECT_EQ(started[0]["fields"]["cmd"], "/bin/sh -c echo logged-marker; exit 3");
  EXPECT_EQ(ended[0]["fields"]["exitCode"], "3");
  EXPECT_EQ(ended[0]["level"], "warn");
  EXPECT_EQ(ended[0]["fields"]["pid"], started[0]["fields"]["pid"]);
  EXPECT_NE(body["logs"][0]["line"].get<std::string>().find("\"message\":\"envd started\""),
            std::string::npos);
  EXPECT_NE(body["logs"][0]["timestamp"].get<std::string>().find('T'), std::string::npos);

  Json one = Body(Call("GET", "/sandboxes/" + id + "/logs?limit=1", alice_));
  ASSERT_EQ(one["logEntries"].size(), 1u);
  EXPECT_EQ(one["logEntries"][0]["message"], "envd started");
  int64_t far_future_ms =
      (std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1)) + 3'600'000;
  EXPECT_EQ(Body(Call("GET", "/sandboxes/" + id + "/logs?start=" + std::to_string(far_future_ms),
                      alice_))["logEntries"]
                .size(),
            0u);

  Json v2 = Body(Call("GET", "/v2/sandboxes/" + id + "/logs", alice_));
  ASSERT_EQ(v2["logs"].size(), body["logEntries"].size()) << v2.dump();
  EXPECT_EQ(v2["logs"][0]["message"], "envd started");
  Json newest = Body(Call("GET", "/v2/sandboxes/" + id + "/logs?direction=backward&limit=1", alice_));
  ASSERT_EQ(newest["logs"].size(), 1u);
  EXPECT_EQ(newest["logs"][0]["message"], "process ended");
  Json warnings = Body(Call("GET", "/v2/sandboxes/" + id + "/logs?level=warn", alice_));
  ASSERT_GE(warnings["logs"].size(), 1u) << warnings.dump();
  for (const Json& e : warnings["logs"]) EXPECT_NE(e["level"], "info") << warnings.dump();
  EXPECT_EQ(WithMessage(warnings["logs"], "process ended", "logged-marker").size(), 1u);
  EXPECT_EQ(Body(Call("GET", "/v2/sandboxes/" + id + "/logs?search=envd", alice_))["logs"].size(), 1u);

  EXPECT_EQ(Call("GET", "/sandboxes/" + id + "/logs", bob_).status, 404);
  EXPECT_EQ(Call("GET", "/sandboxes/nosuchsandbox/logs", alice_).status, 404);
  http::Response bad = Call("GET", "/sandboxes/" + id + "/logs?limit=lots", alice_);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(Body(bad)["message"].get<std::string>().find("limit"), std::string::npos);
  EXPECT_EQ(Call("GET", "/v2/sandboxes/" + id + "/logs?direction=sideways", alice_).status, 400);
  EXPECT_EQ(Call("GET", "/v2/sandboxes/" + id + "/logs?level=loud", alice_).status, 400);
  EXPECT_EQ(Call("GET", "/sandboxes/" + id + "/logs", "").status, 401);

  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/pause", alice_, "{}").status, 204);
  http::Response paused = Call("GET", "/sandboxes/" + id + "/logs", alice_);
  EXPECT_EQ(paused.status, 409) << paused.body;
  EXPECT_EQ(Call("DELETE", "/sandboxes/" + id, alice_).status, 204);
  EXPECT_EQ(Call("GET", "/sandboxes/" + id + "/logs", alice_).status, 404);
}

class RetentionTest : public ServerTest {
 protected:
  void Configure(control::ControlOptions& options) override { options.retain_ended_s = 1; }
};

// An ended sandbox's row is kept for --retain-ended (its get names why it ended), then pruned in the
// background (the id reads as never known); a running sandbox's row is left alone however old.
TEST_F(RetentionTest, EndedRowsArePrunedAfterTheRetention) {
  Json kept = Create(alice_);
  Json ended = Create(alice_);
  std::string id = ended["sandboxID"];
  ASSERT_EQ(Call("DELETE", "/sandboxes/" + id, alice_).status, 204);
  http::Response first = Call("GET", "/sandboxes/" + id, alice_);
  EXPECT_EQ(first.status, 404);
  EXPECT_NE(Body(first)["message"].get<std::string>().find("it ended: killed"), std::string::npos)
      << first.body;
  std::string message;
  for (int i = 0; i < 300; ++i) {
    message = Body(Call("GET", "/sandboxes/" + id, alice_))["message"];
    if (message.find("ended") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(message, "sandbox '" + id + "' not found");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the retention: still listed
  http::Response alive = Call("GET", "/sandboxes/" + kept["sandboxID"].get<std::string>(), alice_);
  EXPECT_EQ(alive.status, 200) << alive.body;
  EXPECT_EQ(Envd("GET", "/health", kept).status, 204);
}

class PoolTest : public ServerTest {
 protected:
  void Configure(control::ControlOptions& options) override { options.pool_sizes = {{"base", 2}}; }

  // The value of the metric line `name` in GET /metrics, or -1 when it is absent.
  double Metric(const std::string& name) {
    std::string text = Call("GET", "/metrics", alice_).body;
    size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
  }
  bool WaitForPool(double want) {
    for (int i = 0; i < 1200; ++i) {
      if (Metric("kiln_pool_size{template=\"base\"}") == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // When the sandbox's envd started (its first log entry), in unix ms.
  int64_t EnvdStartedMs(const std::string& id) {
    Json logs = Body(Call("GET", "/v2/sandboxes/" + id + "/logs?limit=1", alice_))["logs"];
    EXPECT_EQ(logs.size(), 1u);
    auto parsed = ParseRfc3339(logs[0]["timestamp"].get<std::string>());
    return parsed;
  }
  static int64_t ParseRfc3339(const std::string& text) {
    std::tm tm{};
    strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
    size_t dot = text.find('.');
    if (dot != std::string::npos) ms += std::stoll((text.substr(dot + 1, 3) + "000").substr(0, 3));
    return ms;
  }
  static int64_t NowMs() {
    return std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1);
  }
};

// A create of a pooled template gets a sandbox whose envd had started before the create was sent, with the
// create's metadata and timeout; the pool refills to its size in the background and its sandboxes are
// nobody's (not listed, not counted as running). A create with envVars takes one too and gets them.
TEST_F(PoolTest, CreatesTakeFromThePoolAndItRefills) {
  ASSERT_TRUE(WaitForPool(2)) << Call("GET", "/metrics", alice_).body;
  EXPECT_EQ(Metric("kiln_sandboxes{state=\"running\"}"), 0);
  int64_t before_create = NowMs();
  Json pooled = Create(alice_, R"({"templateID":"base","metadata":{"from":"pool"},"timeout":90})");
  std::string id = pooled["sandboxID"];
  EXPECT_LT(EnvdStartedMs(id), before_create - 5);
  Json info = Body(Call("GET", "/sandboxes/" + id, alice_));
  EXPECT_EQ(info["metadata"]["from"], "pool");
  EXPECT_EQ(ParseRfc3339(info["endAt"]) - ParseRfc3339(info["startedAt"]), 90'000) << info.dump();
  EXPECT_GE(ParseRfc3339(info["startedAt"]), before_create - 1000);
  EXPECT_NE(Run(pooled, "echo from-the-pool").find("from-the-pool"), std::string::npos);
  EXPECT_EQ(Envd("GET", "/envs", pooled, "",
                 [] {
                   http::Headers h;
                   h.Set("X-Access-Token", "wrong");
                   return h;
                 }())
                .status,
            401);
  ASSERT_TRUE(WaitForPool(2));
  EXPECT_EQ(Metric("kiln_sandboxes{state=\"running\"}"), 1);
  Json listed = Body(Call("GET", "/v2/sandboxes", alice_));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["sandboxID"], id);

  int64_t before_env = NowMs();
  Json with_env = Create(alice_, R"({"templateID":"base","envVars":{"POOL_TEST":"from a pooled create"}})");
  EXPECT_LT(EnvdStartedMs(with_env["sandboxID"]), before_env - 5);
  ExpectSandboxEnv(with_env, "POOL_TEST", "from a pooled create");
  EXPECT_EQ(Call("DELETE", "/sandboxes/" + id, alice_).status, 204);
  EXPECT_EQ(Metric("kiln_sandboxes{state=\"running\"}"), 1);
}

// Without a pool, a create's envVars are envd's start-time env: the same places see them.
TEST_F(ServerTest, ColdCreateEnvVarsReachCommandsAndContexts) {
  Json cold = Create(alice_, R"({"templateID":"base","envVars":{"POOL_TEST":"cold start"}})");
  ExpectSandboxEnv(cold, "POOL_TEST", "cold start");
}

// envd's POST /init takes the access token and bounds what it is given.
TEST_F(ServerTest, EnvdInitRequiresTheTokenAndBoundsTheVars) {
  Json sandbox = Create(alice_);
  http::Headers wrong;
  wrong.Set("X-Access-Token", "wrong");
  EXPECT_EQ(Envd("POST", "/init", sandbox, R"({"envVars":{"A":"1"}})", wrong).status, 401);
  EXPECT_EQ(Envd("POST", "/init", sandbox, R"({"envVars":{"A=B":"1"}})").status, 400);
  Json many = {{"envVars", Json::object()}};
  for (int i = 0; i < 600; ++i) many["envVars"]["V" + std::to_string(i)] = "x";
  http::Response too_many = Envd("POST", "/init", sandbox, many.dump());
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(too_many.body.find("512"), std::string::npos) << too_many.body;
  EXPECT_EQ(Envd("POST", "/init", sandbox, R"({"envVars":{"A":"1"}})").status, 204);
  EXPECT_EQ(Envd("POST", "/init", sandbox, R"({"envVars":{"A":"2","B":"3"}})").status, 204);
  ExpectSandboxEnv(sandbox, "A", "2");
  ExpectSandboxEnv(sandbox, "B", "3");
}

TEST(PoolOptionsTest, AnUnknownTemplateIsRefusedByName) {
  control::ControlOptions options;
  options.home =
      (std::filesystem::temp_directory_path() / ("kiln-pool-options-" + std::to_string(getpid()))).string();
  options.pool_sizes = {{"nosuchtemplate", 1}};
  auto opened = control::Control::Open(options);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("nosuchtemplate"), std::string::npos)
      << opened.status().ToString();
  std::filesystem::remove_all(options.home);
}

}  // namespace
}  // namespace kiln::server
