// Black-box tests of kiln-envd's process service through its real unix socket, with EnvdClient and with
// raw HTTP for wire details.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include <nlohmann/json.hpp>

#include "envd_test_util.h"
#include "kiln/protocol/connect.h"
#include "kiln/protocol/http_client.h"

namespace kiln::envd {
namespace {

using client::EnvdClient;
using client::ProcessCallbacks;
using client::ProcessConfig;
using client::StartOptions;
using Json = nlohmann::json;
using namespace std::chrono_literals;

struct Output {
  std::string out, err;
  std::vector<uint32_t> pids;
  ProcessCallbacks Callbacks() {
    return {[this](uint32_t pid) { pids.push_back(pid); }, [this](std::string_view b) { out.append(b); },
            [this](std::string_view b) { err.append(b); }, nullptr};
  }
};

ProcessConfig Sh(const std::string& script) {
  return {"/bin/sh", {"-c", script}, {}, std::nullopt};
}

class EnvdProcessTest : public ::testing::Test {
 protected:
  testing::EnvdProcess envd_;
  EnvdClient client_{envd_.socket()};

  // Starts `script` on another thread; returns the pid from its start event and the pending result.
  std::pair<uint32_t, std::future<Result<client::ProcessExit>>> StartInBackground(const std::string& script,
                                                                                  StartOptions options = {},
                                                                                  Output* output = nullptr) {
    auto pid = std::make_shared<std::promise<uint32_t>>();
    auto result = std::async(std::launch::async, [this, script, options, pid, output] {
      ProcessCallbacks cb;
      if (output) cb = output->Callbacks();
      cb.on_start = [pid](uint32_t p) { pid->set_value(p); };
      return client_.Start(Sh(script), options, cb);
    });
    auto f = pid->get_future();
    if (f.wait_for(5s) != std::future_status::ready) return {0, std::move(result)};
    return {f.get(), std::move(result)};
  }

  // Raw POST of a Connect stream request; returns status and the decoded envelopes.
  std::pair<int, std::vector<connect::Envelope>> RawStream(const std::string& method, const std::string& json,
                                                           http::Headers headers = {}) {
    auto http = http::Client::Unix(envd_.socket());
    headers.Set("Content-Type", "application/connect+json");
    auto r = http.Do("POST", method, headers, connect::EncodeEnvelope(0, json), 10'000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {0, {}};
    EXPECT_EQ(r->headers.Get("Content-Type").value_or(""), "application/connect+json");
    connect::EnvelopeReader reader;
    reader.Feed(r->body);
    std::vector<connect::Envelope> out;
    connect::Envelope e;
    Status error;
    while (reader.Next(&e, &error) == connect::EnvelopeReader::Outcome::kEnvelope) out.push_back(e);
    EXPECT_EQ(reader.pending(), 0u);
    return {r->status, out};
  }

  Result<http::Response> RawUnary(const std::string& method, const std::string& body) {
    auto http = http::Client::Unix(envd_.socket());
    http::Headers h;
    h.Set("Content-Type", "application/json");
    return http.Do("POST", method, h, body, 10'000);
  }
};

TEST_F(EnvdProcessTest, EchoStreamsStartOutputEnd) {
  Output o;
  auto exit = client_.Start(Sh("echo hi"), {}, o.Callbacks());
  ASSERT_TRUE(exit.ok()) << exit.status().ToString();
  ASSERT_EQ(o.pids.size(), 1u);
  EXPECT_GT(o.pids[0], 0u);
  EXPECT_EQ(o.out, "hi\n");
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->status, "exit status 0");
  EXPECT_FALSE(exit->error);
}

TEST_F(EnvdProcessTest, WireFraming) {
  auto [status, envelopes] = RawStream(
      "/process.Process/Start", R"({"process":{"cmd":"/bin/sh","args":["-c","printf abc"]},"stdin":false})");
  EXPECT_EQ(status, 200);
  ASSERT_GE(envelopes.size(), 3u);
  EXPECT_EQ(envelopes.front().flags, 0);
  Json first = Json::parse(envelopes.front().payload);
  EXPECT_GT(first["event"]["start"]["pid"].get<int>(), 0);
  Json data = Json::parse(envelopes[1].payload);
  EXPECT_EQ(data["event"]["data"]["stdout"], "YWJj");
  Json end = Json::parse(envelopes[envelopes.size() - 2].payload);
  EXPECT_EQ(end["event"]["end"]["status"], "exit status 0");
  EXPECT_EQ(envelopes.back().flags, connect::kFlagEndStream);
  EXPECT_EQ(envelopes.back().payload, "{}");
}

TEST_F(EnvdProcessTest, ExitCodeAndStderr) {
  Output o;
  auto exit = client_.Start(Sh("echo oops >&2; exit 3"), {}, o.Callbacks());
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(o.err, "oops\n");
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_EQ(exit->status, "exit status 3");
  EXPECT_EQ(exit->error.value_or(""), "exit status 3");
}

TEST_F(EnvdProcessTest, EnvironmentAndCwd) {
  Output o;
  ProcessConfig config = Sh("echo $HOME $USER $LOGNAME $GLOBAL_VAR $CALL_VAR; pwd; echo $PATH");
  config.envs = {{"CALL_VAR", "call"}, {"GLOBAL_VAR", "overridden"}};
  ASSERT_TRUE(client_.Start(config, {}, o.Callbacks()).ok());
  EXPECT_EQ(o.out,
            "/home/user user user overridden call\n" + envd_.root() +
                "/home/user\n/opt/kiln/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
  Output o2;
  config = Sh("pwd");
  config.cwd = "/etc";
  ASSERT_TRUE(client_.Start(config, {}, o2.Callbacks()).ok());
  EXPECT_EQ(o2.out, envd_.root() + "/etc\n");
}

TEST_F(EnvdProcessTest, BadCwdAndBadProgram) {
  ProcessConfig config = Sh("true");
  config.cwd = "/does/not/exist";
  EXPECT_EQ(client_.Start(config, {}, {}).status().code(), Code::kInvalidArgument);
  config.cwd = "../../../../etc/../..";  // clamped to the root: exists
  EXPECT_TRUE(client_.Start(config, {}, {}).ok());
  auto missing = client_.Start({"/no/such/program", {}, {}, std::nullopt}, {}, {});
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().ToString();
}

TEST_F(EnvdProcessTest, TimeoutKillsWithDeadlineExceeded) {
  auto begin = std::chrono::steady_clock::now();
  StartOptions options;
  options.timeout_ms = 300;
  auto exit = client_.Start(Sh("sleep 10"), options, {});
  EXPECT_EQ(exit.status().code(), Code::kDeadlineExceeded) << exit.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  EXPECT_TRUE(client_.List()->empty());
}

TEST_F(EnvdProcessTest, StdinPipeAndCloseStdin) {
  StartOptions options;
  options.stdin = true;
  Output o;
  auto [pid, result] = StartInBackground("cat", options, &o);
  ASSERT_GT(pid, 0u);
  ASSERT_TRUE(client_.SendInput(pid, "hello ").ok());
  ASSERT_TRUE(client_.SendInput(pid, "").ok());
  ASSERT_TRUE(client_.SendInput(pid, "world").ok());
  ASSERT_TRUE(client_.CloseStdin(pid).ok());
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  auto exit = result.get();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(o.out, "hello world");
}

TEST_F(EnvdProcessTest, StdinIsDevNullByDefault) {
  Output o;
  ASSERT_TRUE(client_.Start(Sh("cat; echo eof"), {}, o.Callbacks()).ok());
  EXPECT_EQ(o.out, "eof\n");
  auto [pid, result] = StartInBackground("sleep 5");
  EXPECT_EQ(client_.SendInput(pid, "x").code(), Code::kFailedPrecondition);
  ASSERT_TRUE(client_.SendSignal(pid, 9).ok());
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
}

TEST_F(EnvdProcessTest, SendSignalKillsTheGroup) {
  auto [pid, result] = StartInBackground("sleep 30 & sleep 30; wait");
  ASSERT_GT(pid, 0u);
  ASSERT_TRUE(client_.SendSignal(pid, 9).ok());
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  auto exit = result.get();
  ASSERT_TRUE(exit.ok()) << exit.status().ToString();
  EXPECT_EQ(exit->exit_code, -1);
  EXPECT_FALSE(exit->exited);
  EXPECT_EQ(exit->status, "signal: killed");
  EXPECT_EQ(exit->error.value_or(""), "signal: killed");
}

TEST_F(EnvdProcessTest, SigtermByName) {
  auto [pid, result] = StartInBackground("sleep 30");
  auto r = RawUnary("/process.Process/SendSignal",
                    R"({"process":{"pid":)" + std::to_string(pid) + R"(},"signal":"SIGNAL_SIGTERM"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(result.get()->status, "signal: terminated");
}

TEST_F(EnvdProcessTest, UnknownPidIsNotFound) {
  EXPECT_EQ(client_.SendSignal(999999, 9).code(), Code::kNotFound);
  EXPECT_EQ(client_.CloseStdin(999999).code(), Code::kNotFound);
  EXPECT_EQ(client_.Connect(999999, {}).status().code(), Code::kNotFound);
  auto r = RawUnary("/process.Process/SendSignal", R"({"process":{"pid":999999},"signal":"SIGNAL_SIGKILL"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->headers.Get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(Json::parse(r->body)["code"], "not_found");
}

TEST_F(EnvdProcessTest, DeadProcessIsGone) {
  uint32_t pid = 0;
  ASSERT_TRUE(client_.Start(Sh("true"), {}, {[&](uint32_t p) { pid = p; }, nullptr, nullptr, nullptr}).ok());
  EXPECT_EQ(client_.SendSignal(pid, 9).code(), Code::kNotFound);
  EXPECT_EQ(client_.SendInput(pid, "x").code(), Code::kNotFound);
}

TEST_F(EnvdProcessTest, KeepalivesWhenIdle) {
  StartOptions options;
  options.keepalive_seconds = 1;
  std::atomic<int> keepalives{0};
  ProcessCallbacks cb;
  cb.on_keepalive = [&] { ++keepalives; };
  ASSERT_TRUE(client_.Start(Sh("sleep 2.5"), options, cb).ok());
  EXPECT_GE(keepalives.load(), 1);
}

TEST_F(EnvdProcessTest, ListAndConnectByPid) {
  StartOptions options;
  options.tag = "my-tag";
  auto [pid, result] = StartInBackground("sleep 1; echo later", options);
  ASSERT_GT(pid, 0u);
  auto list = client_.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].pid, pid);
  EXPECT_EQ((*list)[0].tag.value_or(""), "my-tag");
  EXPECT_EQ((*list)[0].config.cmd, "/bin/sh");
  EXPECT_EQ((*list)[0].config.args, (std::vector<std::string>{"-c", "sleep 1; echo later"}));
  Output o;
  auto attached = client_.Connect(pid, o.Callbacks());
  ASSERT_TRUE(attached.ok()) << attached.status().ToString();
  EXPECT_EQ(o.pids, std::vector<uint32_t>{pid});
  EXPECT_EQ(o.out, "later\n");
  EXPECT_EQ(attached->exit_code, 0);
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
}

TEST_F(EnvdProcessTest, ConnectByTag) {
  StartOptions options;
  options.tag = "t1";
  auto [pid, result] = StartInBackground("sleep 0.5", options);
  auto [status, envelopes] = RawStream("/process.Process/Connect", R"({"process":{"tag":"t1"}})");
  EXPECT_EQ(status, 200);
  ASSERT_GE(envelopes.size(), 3u);
  EXPECT_EQ(Json::parse(envelopes[0].payload)["event"]["start"]["pid"], pid);
  EXPECT_EQ(envelopes.back().payload, "{}");
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
}

TEST_F(EnvdProcessTest, ClientDisconnectKeepsProcessRunning) {
  auto http = http::Client::Unix(envd_.socket());
  http::Headers h;
  h.Set("Content-Type", "application/connect+json");
  std::string body = connect::EncodeEnvelope(
      0, R"({"process":{"cmd":"/bin/sh","args":["-c","sleep 1; echo done > marker"]}})");
  bool saw_start = false;
  (void)http.Stream(
      "POST", "/process.Process/Start", h, body, [](const http::Response&) {},
      [&](std::string_view data) {
        saw_start = data.find("start") != std::string_view::npos;
        return false;  // hang up right after the start event
      },
      10'000);
  http.Close();
  ASSERT_TRUE(saw_start);
  EXPECT_EQ(client_.List()->size(), 1u);
  Result<std::string> marker = NotFound("");
  for (int i = 0; i < 100 && !marker.ok(); ++i) {
    std::this_thread::sleep_for(50ms);
    marker = client_.Read("marker");
  }
  ASSERT_TRUE(marker.ok()) << marker.status().ToString();
  EXPECT_EQ(*marker, "done\n");
}

TEST_F(EnvdProcessTest, ProtocolErrors) {
  auto malformed = RawUnary("/process.Process/List", "{not json");
  ASSERT_TRUE(malformed.ok());
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(Json::parse(malformed->body)["code"], "invalid_argument");
  auto unknown = RawUnary("/process.Process/Nope", "{}");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(unknown->headers.Get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(Json::parse(unknown->body)["code"], "unimplemented");
  auto pty = RawStream("/process.Process/Start",
                       R"({"process":{"cmd":"/bin/sh"},"pty":{"size":{"cols":0,"rows":24}}})");
  ASSERT_EQ(pty.second.size(), 1u);
  EXPECT_EQ(Json::parse(pty.second[0].payload)["error"]["code"], "invalid_argument");
  auto bad_stream = RawStream("/process.Process/Start", "{oops");
  ASSERT_EQ(bad_stream.second.size(), 1u);
  EXPECT_EQ(Json::parse(bad_stream.second[0].payload)["error"]["code"], "invalid_argument");
  auto bad_signal =
      RawUnary("/process.Process/SendSignal", R"({"process":{"pid":1},"signal":"SIGNAL_BOGUS"})");
  EXPECT_EQ(bad_signal->status, 404);  // the process is looked up first: pid 1 is not envd's child
  auto unknown_keys = RawUnary("/process.Process/List", R"({"whatever":[1,2,3]})");
  EXPECT_EQ(unknown_keys->status, 200);
}

TEST_F(EnvdProcessTest, RunsAsAnotherUserWhenRoot) {
  StartOptions options;
  if (::geteuid() != 0) {  // unprivileged envd acts only as its own uid
    options.user = "root";
    EXPECT_EQ(client_.Start(Sh("true"), options, {}).status().code(), Code::kPermissionDenied);
    return;
  }
  options.user = "nobody";
  Output o;
  auto exit = client_.Start(Sh("id -u; echo $HOME"), options, o.Callbacks());
  ASSERT_TRUE(exit.ok()) << exit.status().ToString();
  EXPECT_EQ(o.out, "65534\n/home/nobody\n");
  // Another user has no capabilities at all; root (envd's own identity here) keeps kSandboxRootCaps only,
  // bounded to them (0x4ff: envd on the host has every capability to take them from).
  Output user_caps;
  ASSERT_TRUE(
      client_
          .Start(Sh("grep -E 'CapBnd|CapEff|NoNewPrivs' /proc/self/status"), options, user_caps.Callbacks())
          .ok());
  EXPECT_NE(user_caps.out.find("CapEff:\t0000000000000000"), std::string::npos) << user_caps.out;
  EXPECT_NE(user_caps.out.find("CapBnd:\t0000000000000000"), std::string::npos) << user_caps.out;
  EXPECT_NE(user_caps.out.find("NoNewPrivs:\t1"), std::string::npos) << user_caps.out;
  Output caps;
  ASSERT_TRUE(
      client_.Start(Sh("grep -E 'CapBnd|CapEff|NoNewPrivs' /proc/self/status"), {}, caps.Callbacks()).ok());
  EXPECT_NE(caps.out.find("CapEff:\t00000000000004ff"), std::string::npos) << caps.out;
  EXPECT_NE(caps.out.find("CapBnd:\t00000000000004ff"), std::string::npos) << caps.out;
  EXPECT_NE(caps.out.find("NoNewPrivs:\t1"), std::string::npos) << caps.out;
  options.user = "ghost";
  EXPECT_EQ(client_.Start(Sh("true"), options, {}).status().code(), Code::kInvalidArgument);
}

TEST_F(EnvdProcessTest, NoFdLeaksIntoChildren) {
  Output o;
  ASSERT_TRUE(client_.Start(Sh("ls /proc/self/fd | wc -l"), {}, o.Callbacks()).ok());
  EXPECT_EQ(o.out, "4\n");  // 0, 1, 2 and the fd ls opens to read the directory
}

}  // namespace
}  // namespace kiln::envd
