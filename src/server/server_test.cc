// The server over real TCP with real sandboxes: the control plane's routes and error paths, and the data
// plane's routing, auth and streaming proxy.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server_test_util.h"

namespace kiln::server {
namespace {

TEST_F(ServerTest, KeysAreRequiredAndCheckedByHeaderOrBearer) {
  EXPECT_EQ(Call("GET", "/health", "").status, 204);
  http::Response missing = Call("GET", "/v2/sandboxes", "");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(Body(missing)["code"], 401);
  EXPECT_NE(Body(missing)["message"].get<std::string>().find("X-API-Key"), std::string::npos);
  http::Response wrong = Call("GET", "/v2/sandboxes", "e2b_" + std::string(40, '0'));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(Body(wrong)["message"], "invalid API key");
  http::Headers bearer;
  bearer.Set("Authorization", "Bearer " + alice_);
  http::Response ok = Call("GET", "/v2/sandboxes", "", "", bearer);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "[]");
}

TEST_F(ServerTest, CreateListGetTimeoutKill) {
  Json created =
      Create(alice_, R"({"templateID":"base","metadata":{"k":"v w"},"envVars":{"A":"B"},"timeout":60})");
  std::string id = created["sandboxID"];
  EXPECT_EQ(created["templateID"], "base");
  EXPECT_EQ(created["envdVersion"], "0.5.7");
  EXPECT_FALSE(created["envdAccessToken"].get<std::string>().empty());
  EXPECT_TRUE(created["domain"].is_null());

  http::Response listed = Call("GET", "/v2/sandboxes?metadata=k%3Dv%252520w&state=running", alice_);
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(Body(listed).size(), 1u);
  EXPECT_EQ(Body(listed)[0]["sandboxID"], id);
  EXPECT_EQ(Body(listed)[0]["metadata"]["k"], "v w");
  EXPECT_EQ(Body(Call("GET", "/v2/sandboxes?metadata=k%3Dother", alice_)).size(), 0u);

  http::Response info = Call("GET", "/sandboxes/" + id, alice_);
  ASSERT_EQ(info.status, 200);
  EXPECT_EQ(Body(info)["state"], "running");
  EXPECT_EQ(Body(info)["envdAccessToken"], created["envdAccessToken"]);

  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/timeout", alice_, R"({"timeout":30})").status, 204);
  http::Response connected = Call("POST", "/v2/sandboxes/" + id + "/connect", alice_, "{}");
  EXPECT_EQ(connected.status, 200);
  EXPECT_EQ(Body(connected)["envdAccessToken"], created["envdAccessToken"]);

  EXPECT_EQ(Envd("GET", "/health", created).status, 204);
  http::Response killed = Call("DELETE", "/sandboxes/" + id, alice_);
  EXPECT_EQ(killed.status, 204);
  EXPECT_TRUE(killed.body.empty());
  http::Response again = Call("DELETE", "/sandboxes/" + id, alice_);
  EXPECT_EQ(again.status, 404);
  EXPECT_EQ(Body(again)["code"], 404);
  http::Response dead = Envd("GET", "/health", created);
  EXPECT_EQ(dead.status, 502);
  EXPECT_EQ(Body(dead), Json({{"sandboxId", id}, {"message", "The sandbox was not found"}, {"code", 502}}));
}

// Network is off unless a create asks (allowInternetAccess, unlike E2B's default); network.allowOut /
// denyOut are checked before anything starts. The sandbox's resolver file tells which it got.
TEST_F(ServerTest, NetworkOnlyWhenAllowInternetAccessIsTrue) {
  if (access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "slirp4netns is not installed";
  auto resolver = [&](const Json& sandbox) {
    return Envd("GET", "/files?path=/etc/resolv.conf", sandbox).body;
  };
  EXPECT_NE(resolver(Create(alice_)).find("no network"), std::string::npos);
  Json on = Create(
      alice_, R"({"templateID":"base","allowInternetAccess":true,"network":{"denyOut":["1.2.3.0/24"]}})");
  EXPECT_NE(resolver(on).find("nameserver 10.0.2.3"), std::string::npos);
  Json off = Create(alice_, R"({"templateID":"base","allowInternetAccess":false})");
  EXPECT_NE(resolver(off).find("no network"), std::string::npos);
  http::Response bad_flag = Call("POST", "/v2/sandboxes", alice_, R"({"allowInternetAccess":"yes"})");
  EXPECT_EQ(bad_flag.status, 400) << bad_flag.body;
  EXPECT_NE(bad_flag.body.find("allowInternetAccess"), std::string::npos);
  http::Response bad_cidr = Call("POST", "/v2/sandboxes", alice_,
                                 R"({"allowInternetAccess":true,"network":{"allowOut":["example.com"]}})");
  EXPECT_EQ(bad_cidr.status, 400) << bad_cidr.body;
  EXPECT_NE(bad_cidr.body.find("network.allow_out[0]"), std::string::npos) << bad_cidr.body;
  EXPECT_EQ(Body(Call("GET", "/v2/sandboxes?state=running", alice_)).size(), 3u);
}

TEST_F(ServerTest, ErrorPathsAnswerJsonWithTheRightStatus) {
  auto expect = [&](const http::Response& r, int status, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.body;
    Json body = Body(r);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_EQ(body["code"], status);
    EXPECT_NE(body["message"].get<std::string>().find(fragment), std::string::npos) << r.body;
  };
  expect(Call("POST", "/v2/sandboxes", alice_, "{\"templateID\":"), 400, "malformed JSON");
  expect(Call("POST", "/v2/sandboxes", alice_, "[1]"), 400, "JSON object");
  expect(Call("POST", "/v2/sandboxes", alice_, R"({"templateID":7})"), 400, "templateID");
  expect(Call("POST", "/v2/sandboxes", alice_, R"({"timeout":"soon"})"), 400, "timeout");
  expect(Call("POST", "/v2/sandboxes", alice_, R"({"metadata":{"a":1}})"), 400, "metadata.a");
  expect(Call("POST", "/v2/sandboxes", alice_, R"({"templateID":"ubuntu"})"), 404,
         "base, code-interpreter-v1");
  expect(Call("POST", "/v2/sandboxes", alice_, std::string(2 << 20, ' ')), 413, "larger than");
  expect(Call("GET", "/sandboxes/nonexistingsandbox", alice_), 404, "not found");
  expect(Call("DELETE", "/sandboxes/nonexistingsandbox", alice_), 404, "not found");
  expect(Call("GET", "/v2/sandboxes?limit=0", alice_), 400, "limit");
  expect(Call("GET", "/v2/sandboxes?state=frozen", alice_), 400, "state");
  expect(Call("GET", "/v2/sandboxes?nextToken=zz", alice_), 400, "nextToken");
  expect(Call("GET", "/v2/sandboxes?startedAfter=noon", alice_), 400, "RFC 3339");
  expect(Call("GET", "/nowhere", alice_), 404, "no route");
  expect(Call("PUT", "/v2/sandboxes", alice_), 405, "not allowed");
  expect(Call("POST", "/sandboxes/abc/pause", alice_, "{}"), 404, "not found");
  expect(Call("POST", "/sandboxes/abc/resume", alice_, "{}"), 404, "not found");

  Json mine = Create(alice_);
  std::string id = mine["sandboxID"];
  expect(Call("GET", "/sandboxes/" + id, bob_), 404, "not found");
  expect(Call("DELETE", "/sandboxes/" + id, bob_), 404, "not found");
  expect(Call("POST", "/sandboxes/" + id + "/timeout", bob_, R"({"timeout":5})"), 404, "not found");
  EXPECT_EQ(Call("GET", "/v2/sandboxes", bob_).body, "[]");
  EXPECT_EQ(Call("GET", "/sandboxes/" + id, alice_).status, 200);  // still there
}

// Found by the server_routing fuzz target: the 502 body echoed a sandbox id that was not UTF-8, the JSON
// writer threw, and one unauthenticated request took the whole server down.
TEST_F(ServerTest, BytesThatAreNotUtf8AnswerAndTheServerLives) {
  http::Headers bad_id;
  bad_id.Set("E2b-Sandbox-Id", "ab\xff");
  http::Response routed = Call("GET", "/health", "", "", bad_id);
  EXPECT_EQ(routed.status, 502);
  EXPECT_TRUE(Body(routed).is_object()) << routed.body;
  http::Response state = Call("GET", "/v2/sandboxes?state=fr%FFozen", alice_);
  EXPECT_EQ(state.status, 400);
  EXPECT_TRUE(Body(state).is_object()) << state.body;
  EXPECT_EQ(Call("GET", "/sandboxes/ab%FF", alice_).status, 404);
  EXPECT_EQ(Call("POST", "/v2/sandboxes", alice_, "{\"templateID\":\"\xff\"}").status, 400);
  EXPECT_EQ(Call("GET", "/v2/sandboxes", alice_).status, 200);  // still serving
}

TEST_F(ServerTest, ListPagesWithNextToken) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Create(alice_)["sandboxID"]);
  std::vector<std::string> seen;
  std::string target = "/v2/sandboxes?limit=1";
  for (int page = 0; page < 5; ++page) {
    http::Response r = Call("GET", target, alice_);
    ASSERT_EQ(r.status, 200);
    for (const Json& s : Body(r)) seen.push_back(s["sandboxID"]);
    auto next = r.headers.Get("X-Next-Token");
    if (!next) break;
    target = "/v2/sandboxes?limit=1&nextToken=" + std::string(*next);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{ids[2], ids[1], ids[0]}));
}

TEST_F(ServerTest, DataPlaneNeedsTheTokenAndRoutesByHost) {
  Json sandbox = Create(alice_);
  http::Headers no_token;
  no_token.Set("X-Access-Token", "");
  http::Response refused = Envd("GET", "/files?path=/etc/hostname", sandbox, "", no_token);
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(Body(refused)["code"], 401);
  http::Headers wrong;
  wrong.Set("X-Access-Token", std::string(sandbox["envdAccessToken"].get<std::string>().size(), 'x'));
  EXPECT_EQ(Envd("GET", "/files?path=/etc/hostname", sandbox, "", wrong).status, 401);
  EXPECT_EQ(Envd("GET", "/files?path=/etc/hostname", sandbox).status, 200);

  http::Headers host;
  host.Set("Host", "49983-" + sandbox["sandboxID"].get<std::string>() + ".kiln.test");
  auto by_host = Client().Do("GET", "/health", host, {}, 10'000);
  ASSERT_TRUE(by_host.ok());
  EXPECT_EQ(by_host->status, 204);
  host.Set("Host", "49983-nosuchsandbox.kiln.test");
  auto unknown = Client().Do("GET", "/health", host, {}, 10'000);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 502);
  host.Set("Host", "8080-" + sandbox["sandboxID"].get<std::string>() + ".kiln.test");
  EXPECT_EQ(Client().Do("GET", "/", host, {}, 10'000)->status, 502);
}

TEST_F(ServerTest, LargeFilesStreamThroughBothWays) {
  Json sandbox = Create(alice_);
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919) >> 3);
  http::Headers octet;
  octet.Set("Content-Type", "application/octet-stream");
  http::Response up = Envd("POST", "/files?path=/home/user/big.bin", sandbox, data, octet);
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(Body(up)[0]["path"], "/home/user/big.bin");
  http::Response down = Envd("GET", "/files?path=/home/user/big.bin", sandbox);
  ASSERT_EQ(down.status, 200);
  EXPECT_EQ(down.body.size(), data.size());
  EXPECT_TRUE(down.body == data);
}

// curl sends Expect: 100-continue with large uploads; the proxy answers it, and envd's own interim answer
// never reaches the client in place of the real response.
TEST_F(ServerTest, ExpectContinueUploadsGetTheRealResponse) {
  Json sandbox = Create(alice_);
  std::string data(2 << 20, 'e');
  std::string path = (home_ / "upload.bin").string();
  { std::ofstream(path, std::ios::binary) << data; }
  std::string command =
      "curl -s -m 20 -o - -w ' %{http_code}' -H 'Expect: 100-continue' -H 'E2b-Sandbox-Id: " +
      sandbox["sandboxID"].get<std::string>() +
      "' -H 'X-Access-Token: " + sandbox["envdAccessToken"].get<std::string>() +
      "' -H 'Content-Type: application/octet-stream' --data-binary @" + path +
      " 'http://127.0.0.1:" + std::to_string(server_->port()) + "/files?path=/tmp/up.bin'";
  FILE* p = popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  pclose(p);
  EXPECT_NE(out.find("\"path\":\"/tmp/up.bin\""), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 4), " 200") << out;
  EXPECT_EQ(Envd("GET", "/files?path=/tmp/up.bin", sandbox).body.size(), data.size());
}

// A Connect-RPC server stream (process Start of `sleep 60`) is cut, not ended cleanly, when the sandbox is
// killed, and the data plane answers 502 afterwards.
TEST_F(ServerTest, KillingASandboxCutsItsStreams) {
  Json sandbox = Create(alice_);
  std::string message = R"({"process":{"cmd":"/bin/sleep","args":["60"]}})";
  std::string envelope(5, '\0');
  envelope[1] = static_cast<char>(message.size() >> 24);
  envelope[2] = static_cast<char>(message.size() >> 16);
  envelope[3] = static_cast<char>(message.size() >> 8);
  envelope[4] = static_cast<char>(message.size());
  envelope += message;
  std::promise<void> started;
  std::string received;
  auto stream = std::async(std::launch::async, [&] {
    http::Client client = Client();
    http::Headers h;
    h.Set("E2b-Sandbox-Id", sandbox["sandboxID"].get<std::string>());
    h.Set("E2b-Sandbox-Port", "49983");
    h.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
    h.Set("Content-Type", "application/connect+json");
    bool signalled = false;
    return client.Stream(
        "POST", "/process.Process/Start", h, envelope, [](const http::Response&) {},
        [&](std::string_view piece) {
          received.append(piece);
          if (!signalled && received.find("\"pid\"") != std::string::npos) {
            signalled = true;
            started.set_value();
          }
          return true;
        },
        30'000);
  });
  ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready) << received;
  EXPECT_EQ(Call("DELETE", "/sandboxes/" + sandbox["sandboxID"].get<std::string>(), alice_).status, 204);
  ASSERT_EQ(stream.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Status end = stream.get();
  EXPECT_FALSE(end.ok()) << "the stream ended cleanly: " << received;
  EXPECT_EQ(Envd("GET", "/health", sandbox).status, 502);
}

TEST_F(ServerTest, PrometheusMetricsCountWhatHappened) {
  EXPECT_EQ(Call("GET", "/metrics", "").status, 401);
  Json sandbox = Create(alice_);
  EXPECT_EQ(Envd("GET", "/health", sandbox).status, 204);
  // The proxy finishes its exchange just after the client has the whole response: allow it a moment.
  http::Response r;
  for (int i = 0; i < 50; ++i) {
    r = Call("GET", "/metrics", alice_);
    if (r.body.find("kiln_proxy_open_streams 0\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "text/plain; version=0.0.4");
  EXPECT_NE(r.body.find("kiln_sandboxes{state=\"running\"} 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("kiln_sandboxes{state=\"paused\"} 0\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("kiln_sandbox_creates_total{result=\"ok\"} 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("kiln_sandbox_create_seconds_count 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("kiln_sandbox_create_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("kiln_requests_total{plane=\"data\"} 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("kiln_proxy_open_streams 0\n"), std::string::npos) << r.body;
}

// The sandbox's file `path` read from the host through /proc/PID/root of one of its processes (the data
// plane of a paused sandbox answers 502), or "" when there is none.
std::string ReadInSandbox(const std::string& id, const std::string& path) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cgroup(entry.path() / "cgroup");
    std::string text((std::istreambuf_iterator<char>(cgroup)), std::istreambuf_iterator<char>());
    if (text.find("/" + id + "\n") == std::string::npos) continue;
    std::ifstream in(entry.path().string() + "/root" + path);
    std::string value;
    if (std::getline(in, value) && !value.empty()) return value;
  }
  return "";
}

// Pause freezes the sandbox (a counting loop stops, its memory kept), the data plane answers 502, list and
// get say "paused", a second pause is 409; connect resumes it (201) and the loop counts on from where it
// stopped.
TEST_F(ServerTest, PauseFreezesAndConnectResumes) {
  Json sandbox = Create(alice_);
  std::string id = sandbox["sandboxID"];
  std::string message =
      R"({"process":{"cmd":"/bin/bash","args":["-c","i=0; while :; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done"]}})";
  std::string envelope(5, '\0');
  for (int i = 0; i < 4; ++i) envelope[1 + i] = static_cast<char>(message.size() >> (8 * (3 - i)));
  envelope += message;
  http::Headers h;
  h.Set("E2b-Sandbox-Id", id);
  h.Set("E2b-Sandbox-Port", "49983");
  h.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
  h.Set("Content-Type", "application/connect+json");
  std::string received;
  // envd keeps the process running once the stream is left.
  (void)Client().Stream(
      "POST", "/process.Process/Start", h, envelope, [](const http::Response&) {},
      [&](std::string_view piece) {
        received.append(piece);
        return received.find("\"pid\"") == std::string::npos;
      },
      30'000);
  auto count = [&] {
    std::string v = ReadInSandbox(id, "/tmp/count");
    return v.empty() ? 0L : std::stol(v);
  };
  for (int i = 0; i < 200 && count() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_GE(count(), 3) << "the counting loop did not start: " << received;

  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/pause", alice_, "{}").status, 204);
  long frozen = count();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(count(), frozen) << "the loop counted on while paused";
  EXPECT_EQ(Body(Call("GET", "/sandboxes/" + id, alice_))["state"], "paused");
  Json listed = Body(Call("GET", "/v2/sandboxes?state=paused", alice_));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["state"], "paused");
  EXPECT_EQ(Body(Call("GET", "/v2/sandboxes?state=running", alice_)).size(), 0u);
  // The Prometheus gauge counts it as paused, not running.
  std::string scraped = Call("GET", "/metrics", alice_).body;
  EXPECT_NE(scraped.find("kiln_sandboxes{state=\"running\"} 0\n"), std::string::npos) << scraped;
  EXPECT_NE(scraped.find("kiln_sandboxes{state=\"paused\"} 1\n"), std::string::npos) << scraped;
  http::Response dead = Envd("GET", "/health", sandbox);
  EXPECT_EQ(dead.status, 502);
  EXPECT_EQ(Body(dead)["message"], "The sandbox was not found");
  http::Response again = Call("POST", "/sandboxes/" + id + "/pause", alice_, "{}");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Body(again)["code"], 409);
  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/pause", bob_, "{}").status, 404);

  http::Response resumed = Call("POST", "/v2/sandboxes/" + id + "/connect", alice_, "{}");
  EXPECT_EQ(resumed.status, 201) << resumed.body;
  EXPECT_EQ(Body(resumed)["envdAccessToken"], sandbox["envdAccessToken"]);
  EXPECT_EQ(Body(Call("GET", "/sandboxes/" + id, alice_))["state"], "running");
  for (int i = 0; i < 200 && count() <= frozen; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(count(), frozen) << "the loop did not continue after resume";
  EXPECT_EQ(Envd("GET", "/health", sandbox).status, 204);
  EXPECT_EQ(Call("POST", "/v2/sandboxes/" + id + "/connect", alice_, "{}").status, 200);
  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/resume", alice_, "{}").status, 409);

  // The deprecated resume route, and killing a paused sandbox.
  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/pause", alice_, "{}").status, 204);
  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/resume", alice_, "{}").status, 201);
  EXPECT_EQ(Envd("GET", "/health", sandbox).status, 204);
  EXPECT_EQ(Call("POST", "/sandboxes/" + id + "/pause", alice_, "{}").status, 204);
  EXPECT_EQ(Call("DELETE", "/sandboxes/" + id, alice_).status, 204);
  for (int i = 0; i < 100 && !ReadInSandbox(id, "/tmp/count").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ReadInSandbox(id, "/tmp/count"), "") << "a process of the killed paused sandbox is left";
}

// Metrics sample the sandbox's cgroup and home filesystem: a file written to the home shows in disk and
// memory (tmpfs), a busy loop in CPU; a window before the sandbox started is [].
TEST_F(ServerTest, SandboxMetricsComeFromItsCgroupAndFilesystem) {
  Json sandbox = Create(alice_);
  std::string id = sandbox["sandboxID"];
  http::Headers octet;
  octet.Set("Content-Type", "application/octet-stream");
  ASSERT_EQ(Envd("POST", "/files?path=/home/user/blob", sandbox, std::string(4 << 20, 'm'), octet).status,
            200);
  std::string message =
      R"({"process":{"cmd":"/bin/sh","args":["-c","end=$(($(date +%s)+1)); while [ $(date +%s) -le $end ]; do :; done"]}})";
  std::string envelope(5, '\0');
  for (int i = 0; i < 4; ++i) envelope[1 + i] = static_cast<char>(message.size() >> (8 * (3 - i)));
  envelope += message;
  http::Headers h;
  h.Set("Content-Type", "application/connect+json");
  http::Response ran = Envd("POST", "/process.Process/Start", sandbox, envelope, h);  // until it ends
  EXPECT_NE(ran.body.find("\"end\""), std::string::npos) << ran.body;

  http::Response r = Call("GET", "/sandboxes/" + id + "/metrics", alice_);
  ASSERT_EQ(r.status, 200) << r.body;
  Json metrics = Body(r);
  ASSERT_EQ(metrics.size(), 1u) << r.body;
  const Json& m = metrics[0];
  EXPECT_TRUE(m["timestamp"].is_string());
  EXPECT_GE(m["cpuCount"].get<int64_t>(), 1);
  EXPECT_GT(m["cpuUsedPct"].get<double>(), 0) << r.body;
  EXPECT_GE(m["memUsed"].get<int64_t>(), 4 << 20) << r.body;
  EXPECT_GE(m["memTotal"].get<int64_t>(), m["memUsed"].get<int64_t>()) << r.body;
  EXPECT_GE(m["diskUsed"].get<int64_t>(), 4 << 20) << r.body;
  EXPECT_GT(m["diskTotal"].get<int64_t>(), m["diskUsed"].get<int64_t>()) << r.body;
  int64_t now = m["timestampUnix"];
  EXPECT_EQ(Call("GET",
                 "/sandboxes/" + id + "/metrics?start=" + std::to_string(now - 3600) +
                     "&end=" + std::to_string(now),
                 alice_)
                .body.front(),
            '[');
  EXPECT_EQ(Body(Call("GET",
                      "/sandboxes/" + id + "/metrics?start=" + std::to_string(now - 7200) +
                          "&end=" + std::to_string(now - 3600),
                      alice_))
                .size(),
            0u);
  EXPECT_EQ(Call("GET", "/sandboxes/" + id + "/metrics?start=soon", alice_).status, 400);
  EXPECT_EQ(Call("GET", "/sandboxes/" + id + "/metrics", bob_).status, 404);
  EXPECT_EQ(Call("GET", "/sandboxes/nonexistingsandbox/metrics", alice_).status, 404);
}

size_t CountDir(const char* dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST_F(ServerTest, OversizedHeadersAndSlowClientsAreCutOff) {
  http::Headers huge;
  huge.Set("X-Padding", std::string(20 << 10, 'p'));
  http::Response r = Call("GET", "/v2/sandboxes", alice_, "", huge);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(Body(r)["code"], 431);

  server_.reset();
  ServerOptions options;
  options.port = 0;
  options.idle_timeout_s = 1;
  auto restarted = Server::Start(control_.get(), options);
  ASSERT_TRUE(restarted.ok());
  server_ = std::move(restarted).value();
  int fd = RawConnect(server_->port());
  ASSERT_GE(fd, 0);
  std::string partial = "GET /v2/sandboxes HTTP/1.1\r\nHost: x\r\n";  // and then nothing more
  ASSERT_EQ(send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  auto start = std::chrono::steady_clock::now();
  char byte;
  ssize_t got = recv(fd, &byte, 1, 0);  // blocks until the server gives up on the header
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(fd);
  EXPECT_LE(got, 0);
  EXPECT_GT(waited, 0.5);
  EXPECT_LT(waited, 5.0);
}

// Create, use and kill sandboxes through the server repeatedly: no fd, thread or stream is left behind.
TEST_F(ServerTest, CyclesLeaveNothingBehind) {
  auto cycle = [&] {
    Json sandbox = Create(alice_);
    http::Headers octet;
    octet.Set("Content-Type", "application/octet-stream");
    EXPECT_EQ(Envd("POST", "/files?path=/tmp/x", sandbox, "payload", octet).status, 200);
    EXPECT_EQ(Envd("GET", "/files?path=/tmp/x", sandbox).body, "payload");
    EXPECT_EQ(Call("DELETE", "/sandboxes/" + sandbox["sandboxID"].get<std::string>(), alice_).status, 204);
  };
  for (int i = 0; i < 3; ++i) cycle();  // lazily opened process-wide fds (envd binary, seccomp) settle
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  size_t fds = CountDir("/proc/self/fd"), threads = CountDir("/proc/self/task");
  for (int i = 0; i < 50; ++i) cycle();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // closing connections settle
  EXPECT_LE(CountDir("/proc/self/fd"), fds + 2);
  EXPECT_LE(CountDir("/proc/self/task"), threads + 1);
  http::Response metrics = Call("GET", "/metrics", alice_);
  EXPECT_NE(metrics.body.find("kiln_proxy_open_streams 0\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("kiln_sandboxes{state=\"running\"} 0\n"), std::string::npos) << metrics.body;
}

TEST_F(ServerTest, RizaStyleExecute) {
  http::Headers bearer;
  bearer.Set("Authorization", "Bearer " + alice_);
  Json request = {{"language", "python"},
                  {"code", "import sys; print(sys.argv[1], input()); sys.exit(2)"},
                  {"args", {"arg"}},
                  {"stdin", "in\n"}};
  http::Response r = Call("POST", "/v1/execute", "", request.dump(), bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["exit_code"], 2);
  EXPECT_EQ(Body(r)["stdout"], "arg in\n");
  EXPECT_EQ(Body(r)["stderr"], "");
  EXPECT_GT(Body(r)["duration_ms"].get<int64_t>(), 0);
  EXPECT_EQ(Call("POST", "/v1/execute", "", R"({"language":"python"})", bearer).status, 400);
  EXPECT_EQ(Call("POST", "/v1/execute", "", R"({"language":"cobol","code":""})", bearer).status, 400);
  EXPECT_EQ(Call("POST", "/v1/execute", "", R"({"language":"sh","code":"true","args":[1]})", bearer).status,
            400);
  EXPECT_EQ(Call("POST", "/v1/execute", "", request.dump()).status, 401);
}

}  // namespace
}  // namespace kiln::server
