// GET /templates over real TCP, and Sandbox.create of a built template through the API: its start command
// is running and its USER is the default when the create answers. Builds need root.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kiln/protocol/http_client.h"
#include "kiln/server/server.h"
#include "kiln/template/builder.h"

namespace kiln::server {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

class ServerTemplatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kiln-server-templates-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    home_ = dir;
    control::ControlOptions options;
    options.home = home_;
    auto opened = control::Control::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    control_ = std::move(*opened);
    key_ = control_->keys().Create("alice", false)->secret;
    ServerOptions server_options;
    server_options.port = 0;
    auto started = Server::Start(control_.get(), server_options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(*started);
  }
  void TearDown() override {
    server_.reset();
    control_.reset();
    if (!home_.empty()) fs::remove_all(home_);
  }

  http::Response Call(const std::string& method, const std::string& target, const std::string& key,
                      const std::string& body = "") {
    http::Headers headers;
    if (!key.empty()) headers.Set("X-API-Key", key);
    if (!body.empty()) headers.Set("Content-Type", "application/json");
    auto r = http::Client::Tcp("127.0.0.1", server_->port()).Do(method, target, headers, body, 60'000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::Response{-1, {}, ""};
  }
  static Json Body(const http::Response& r) { return Json::parse(r.body, nullptr, false); }

  std::string home_, key_;
  std::unique_ptr<control::Control> control_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTemplatesTest, ListsTheBuiltInTemplatesInE2bShapeAndNeedsAKey) {
  EXPECT_EQ(Call("GET", "/templates", "").status, 401);
  http::Response r = Call("GET", "/templates", key_);
  ASSERT_EQ(r.status, 200) << r.body;
  Json list = Body(r);
  ASSERT_TRUE(list.is_array()) << r.body;
  ASSERT_EQ(list.size(), 2u) << r.body;
  EXPECT_EQ(list[0]["templateID"], "base");
  EXPECT_EQ(list[1]["templateID"], "code-interpreter-v1");
  for (const Json& t : list) {
    for (const char* field : {"templateID", "buildID", "cpuCount", "memoryMB", "diskSizeMB", "public",
                              "aliases", "names", "createdAt", "updatedAt", "createdBy", "lastSpawnedAt",
                              "spawnCount", "buildCount", "envdVersion", "buildStatus"})
      EXPECT_TRUE(t.contains(field)) << field << " missing from " << t.dump();
    EXPECT_EQ(t["public"], true);
    EXPECT_EQ(t["buildStatus"], "ready");
    EXPECT_EQ(t["aliases"], Json::array({t["templateID"]}));
    EXPECT_EQ(t["memoryMB"], 512);
  }
}

TEST_F(ServerTemplatesTest, ABuiltTemplateIsListedAndCreatesReadySandboxes) {
  if (geteuid() != 0) GTEST_SKIP() << "template builds need root";
  fs::create_directories(home_ + "/ctx");
  std::ofstream(home_ + "/ctx/Dockerfile")
      << "FROM host\n"
         "USER root\n"
         "# kiln: cpu-count 2\n"
         "# kiln: memory-mb 256\n"
         "# kiln: start-cmd sleep 1; echo up > /srv/state; exec sleep 600\n"
         "# kiln: ready-cmd test -s /srv/state\n";
  tmpl::BuildRequest build;
  build.name = "svc";
  build.dockerfile = home_ + "/ctx/Dockerfile";
  build.home = home_;
  ASSERT_TRUE(tmpl::BuildTemplate(build).ok());

  Json list = Body(Call("GET", "/templates", key_));
  ASSERT_EQ(list.size(), 3u) << list.dump();
  const Json& svc = list[2];
  EXPECT_EQ(svc["templateID"], "svc");
  EXPECT_EQ(svc["public"], false);
  EXPECT_EQ(svc["cpuCount"], 2);
  EXPECT_EQ(svc["memoryMB"], 256);
  EXPECT_EQ(svc["buildCount"], 1);
  EXPECT_EQ(svc["startCmd"], "sleep 1; echo up > /srv/state; exec sleep 600");
  EXPECT_EQ(svc["readyCmd"], "test -s /srv/state");
  EXPECT_NE(svc["createdAt"].get<std::string>().substr(0, 4), "1970");

  http::Response created = Call("POST", "/v2/sandboxes", key_, R"({"templateID":"svc"})");
  ASSERT_EQ(created.status, 201) << created.body;
  Json sandbox = Body(created);
  EXPECT_EQ(sandbox["templateID"], "svc");
  // Ready means the start command wrote its file; the default user is root, who may read /srv.
  http::Headers headers;
  headers.Set("E2b-Sandbox-Id", sandbox["sandboxID"].get<std::string>());
  headers.Set("E2b-Sandbox-Port", "49983");
  headers.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
  auto file = http::Client::Tcp("127.0.0.1", server_->port())
                  .Do("GET", "/files?path=/srv/state", headers, "", 10'000);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->status, 200) << file->body;
  EXPECT_EQ(file->body, "up\n");
  auto owner = http::Client::Tcp("127.0.0.1", server_->port())
                   .Do(
                       "POST", "/filesystem.Filesystem/Stat",
                       [&] {
                         http::Headers h = headers;
                         h.Set("Content-Type", "application/json");
                         return h;
                       }(),
                       R"({"path":"/srv/state"})", 10'000);
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(Body(*owner)["entry"]["owner"], "root") << owner->body;
  EXPECT_EQ(Call("DELETE", "/sandboxes/" + sandbox["sandboxID"].get<std::string>(), key_).status, 204);
}

}  // namespace
}  // namespace kiln::server
