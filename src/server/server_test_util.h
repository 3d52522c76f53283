// The fixture of the server's tests: a Control on a temporary home with two keys (alice, bob), a Server on
// an ephemeral port, and helpers for control-plane and data-plane calls over real HTTP.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kiln/base/strings.h"
#include "kiln/protocol/http_client.h"
#include "kiln/server/server.h"

namespace kiln::server {

using Json = nlohmann::json;

// A raw TCP connection to the server on 127.0.0.1, for clients that misbehave on purpose and for exchanges
// checked byte by byte; -1 when it cannot connect. No read on it waits longer than 30 s.
inline int RawConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads until `want` bytes arrived (or `until` appears), the peer closed, or the receive timeout passed.
inline std::string Receive(int fd, size_t want, const std::string& until = "") {
  std::string got;
  char buf[65536];
  while (got.size() < want && (until.empty() || got.find(until) == std::string::npos)) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

class ServerTest : public ::testing::Test {
 protected:
  // A derived fixture changes the Control's options here (a pool, a retention time).
  virtual void Configure(control::ControlOptions&) {}
  // And the Server's (MCP tools, limits).
  virtual void ConfigureServer(ServerOptions&) {}

  void SetUp() override {
    home_ = std::filesystem::temp_directory_path() /
            ("kiln-server-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(home_);
    control::ControlOptions options;
    options.home = home_.string();
    Configure(options);
    auto opened = control::Control::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    control_ = std::move(*opened);
    alice_ = control_->keys().Create("alice", false)->secret;
    bob_ = control_->keys().Create("bob", false)->secret;
    ServerOptions server_options;
    server_options.port = 0;
    ConfigureServer(server_options);
    auto started = Server::Start(control_.get(), server_options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(*started);
  }
  void TearDown() override {
    server_.reset();
    control_.reset();
    std::filesystem::remove_all(home_);
  }

  http::Client Client() { return http::Client::Tcp("127.0.0.1", server_->port()); }
  http::Response Call(const std::string& method, const std::string& target, const std::string& key,
                      const std::string& body = "", http::Headers headers = {}) {
    if (!key.empty()) headers.Set("X-API-Key", key);
    if (!body.empty() && !headers.Has("Content-Type")) headers.Set("Content-Type", "application/json");
    auto r = Client().Do(method, target, headers, body, 60'000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::Response{-1, {}, ""};
  }
  // Creates a sandbox through the API: {sandboxID, envdAccessToken, ...}.
  Json Create(const std::string& key, const std::string& body = R"({"templateID":"base"})") {
    http::Response r = Call("POST", "/v2/sandboxes", key, body);
    EXPECT_EQ(r.status, 201) << r.body;
    return Json::parse(r.body, nullptr, false);
  }
  http::Response Envd(const std::string& method, const std::string& target, const Json& sandbox,
                      const std::string& body = "", http::Headers headers = {}) {
    headers.Set("E2b-Sandbox-Id", sandbox["sandboxID"].get<std::string>());
    headers.Set("E2b-Sandbox-Port", "49983");
    if (!headers.Has("X-Access-Token"))
      headers.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
    auto r = Client().Do(method, target, headers, body, 60'000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::Response{-1, {}, ""};
  }
  // Checks that `key`=`value` is in the sandbox-wide env: a command, the default python context, a new
  // code context, and envd's GET /envs all see it.
  void ExpectSandboxEnv(const Json& sandbox, const std::string& key, const std::string& value) {
    EXPECT_NE(Run(sandbox, "echo \"<$" + key + ">\"").find("<" + value + ">"), std::string::npos);
    std::string code =
        Json{{"code", "import os; print('<' + os.environ.get('" + key + "', '') + '>')"}}.dump();
    http::Response in_default = Envd("POST", "/execute", sandbox, code);
    EXPECT_NE(in_default.body.find("<" + value + ">"), std::string::npos) << in_default.body;
    http::Response made = Envd("POST", "/contexts", sandbox, R"({"language":"python"})");
    ASSERT_EQ(made.status, 200) << made.body;
    Json with_context = Json::parse(code);
    with_context["context_id"] = Json::parse(made.body)["id"];
    http::Response in_new = Envd("POST", "/execute", sandbox, with_context.dump());
    EXPECT_NE(in_new.body.find("<" + value + ">"), std::string::npos) << in_new.body;
    Json envs = Json::parse(Envd("GET", "/envs", sandbox).body, nullptr, false);
    EXPECT_EQ(envs.value(key, ""), value) << envs.dump();
  }
  // Runs `/bin/sh -c script` through envd's process.Start and returns its stdout (what arrived before the
  // call failed, if it did).
  std::string Run(const Json& sandbox, const std::string& script) {
    Json message = {{"process", {{"cmd", "/bin/sh"}, {"args", {"-c", script}}}}};
    std::string payload = message.dump();
    std::string envelope(5, '\0');
    for (int i = 0; i < 4; ++i) envelope[1 + i] = static_cast<char>(payload.size() >> (8 * (3 - i)));
    envelope += payload;
    http::Headers h;
    h.Set("E2b-Sandbox-Id", sandbox["sandboxID"].get<std::string>());
    h.Set("E2b-Sandbox-Port", "49983");
    h.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
    h.Set("Content-Type", "application/connect+json");
    std::string received;
    (void)Client().Stream(
        "POST", "/process.Process/Start", h, envelope, [](const http::Response&) {},
        [&](std::string_view piece) {
          received.append(piece);
          return true;
        },
        60'000);
    std::string out;
    // Connect envelopes: flags (1 byte), length (4 bytes, big-endian), JSON.
    for (size_t at = 0; at + 5 <= received.size();) {
      size_t length = 0;
      for (int i = 1; i <= 4; ++i) length = length << 8 | static_cast<unsigned char>(received[at + i]);
      Json event = Json::parse(received.substr(at + 5, length), nullptr, false);
      at += 5 + length;
      if (!event.is_object() || !event.contains("event") || !event["event"].contains("data")) continue;
      std::string piece;
      if (Base64Decode(event["event"]["data"].value("stdout", ""), &piece)) out += piece;
    }
    return out;
  }
  static Json Body(const http::Response& r) { return Json::parse(r.body, nullptr, false); }

  std::filesystem::path home_;
  std::unique_ptr<control::Control> control_;
  std::unique_ptr<Server> server_;
  std::string alice_, bob_;
};

}  // namespace kiln::server
