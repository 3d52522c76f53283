// Directory watching's failure and end paths, 1000 times each, against the real kiln-envd binary: a watch on
// a missing path, watches past the limit, polling watchers created and removed, streams whose client goes
// away. envd's descriptors (inotify instances among them) and threads must come back to where they were.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "envd_test_util.h"
#include "kiln/base/fd.h"
#include "kiln/protocol/connect.h"
#include "kiln/protocol/http_client.h"

namespace kiln::envd {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// Opens a WatchDir stream by hand and drops the connection once the server has answered its head.
void OpenAndAbandonWatch(const std::string& socket, const std::string& path) {
  UniqueFd fd = testing::ConnectUnix(socket);
  ASSERT_TRUE(fd.valid());
  std::string body = connect::EncodeEnvelope(0, Json{{"path", path}}.dump());
  std::string request =
      "POST /filesystem.Filesystem/WatchDir HTTP/1.1\r\nHost: envd\r\n"
      "Content-Type: application/connect+json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char head[256];
  ASSERT_GT(::recv(fd.get(), head, sizeof head, 0), 0);  // the stream has started (or failed)
}

class EnvdWatchLeakTest : public ::testing::Test {
 protected:
  EnvdWatchLeakTest() : envd_({"--max-watchers", "4"}) {}
  std::pair<int, Json> Unary(http::Client& http, const std::string& method, const Json& request) {
    http::Headers h;
    h.Set("Content-Type", "application/json");
    auto r = http.Do("POST", "/filesystem.Filesystem/" + method, h, request.dump(), 10'000);
    if (!r.ok()) return {0, Json()};
    return {r->status, r->body.empty() ? Json::object() : Json::parse(r->body)};
  }
  testing::EnvdProcess envd_;
};

TEST_F(EnvdWatchLeakTest, FailuresAndEndsLeaveNoDescriptorsOrThreads) {
  std::filesystem::create_directories(envd_.root() + "/home/user/w");
  {
    auto probe = http::Client::Unix(envd_.socket());
    ASSERT_EQ(probe.Do("GET", "/health", {}, {}, 10'000)->status, 204);
  }
  std::this_thread::sleep_for(200ms);  // with no client connected: the baseline
  const int fds = testing::FdCount(envd_.pid());
  const int64_t threads = testing::ProcStatus(envd_.pid(), "Threads");
  auto http = http::Client::Unix(envd_.socket());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(Unary(http, "CreateWatcher", {{"path", "missing"}}).second["code"], "not_found");
    std::vector<std::string> ids;
    for (int w = 0; w < 4; ++w)
      ids.push_back(Unary(http, "CreateWatcher", {{"path", "w"}}).second["watcherId"]);
    EXPECT_EQ(Unary(http, "CreateWatcher", {{"path", "w"}}).second["code"], "resource_exhausted") << i;
    for (const std::string& id : ids) EXPECT_EQ(Unary(http, "RemoveWatcher", {{"watcherId", id}}).first, 200);
  }
  http.Close();
  for (int i = 0; i < 1000; ++i) OpenAndAbandonWatch(envd_.socket(), i % 2 ? "w" : "missing");
  for (int i = 0; i < 200 && (testing::FdCount(envd_.pid()) != fds ||
                              testing::ProcStatus(envd_.pid(), "Threads") != threads);
       ++i)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(testing::FdCount(envd_.pid()), fds);
  EXPECT_EQ(testing::ProcStatus(envd_.pid(), "Threads"), threads);
  // And the watch slots came back: the limit admits four watchers again.
  auto again = http::Client::Unix(envd_.socket());
  for (int w = 0; w < 4; ++w) EXPECT_EQ(Unary(again, "CreateWatcher", {{"path", "w"}}).first, 200) << w;
}

}  // namespace
}  // namespace kiln::envd
