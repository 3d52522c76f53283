// Control against real sandboxes and a real SQLite database in a temporary home directory.
#include <unistd.h>
#include <limits>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include <fstream>
#include "control_test_util.h"
#include "kiln/control/control.h"
#include "kiln/protocol/http_client.h"
#include "kiln/template/builder.h"

namespace kiln::control {
namespace {

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::temp_directory_path() /
            ("kiln-control-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(home_);
    Open();
  }
  void TearDown() override {
    control_.reset();
    std::filesystem::remove_all(home_);
  }
  void Open(ControlOptions options = {}) {
    options.home = home_.string();
    auto opened = Control::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    control_ = std::move(*opened);
    alice_ = MakeKey("alice", false);
    bob_ = MakeKey("bob", false);
  }
  Principal MakeKey(const std::string& name, bool admin) {
    auto key = control_->keys().Create(name, admin);
    EXPECT_TRUE(key.ok());
    return Principal{key->key.id, admin};
  }
  SandboxRecord MustCreate(const Principal& who, CreateRequest request = {}) {
    auto created = control_->Create(who, request);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? *created : SandboxRecord{};
  }
  // envd's /health through the route the data plane would use.
  int Health(const std::string& id) {
    auto route = control_->Resolve(id);
    if (!route.ok()) return -1;
    auto response = http::Client::Unix(route->socket_path).Do("GET", "/health", {}, {}, 5000);
    return response.ok() ? response->status : -2;
  }

  std::filesystem::path home_;
  std::unique_ptr<Control> control_;
  Principal alice_, bob_;
};

TEST_F(ControlTest, CreateGetKill) {
  CreateRequest request;
  request.metadata = {{"k", "v w"}};
  request.env_vars = {{"A", "B"}};
  request.timeout_s = 120;
  SandboxRecord created = MustCreate(alice_, request);
  EXPECT_EQ(created.template_id, "base");
  EXPECT_EQ(created.state, "running");
  EXPECT_EQ(created.owner, alice_.key_id);
  EXPECT_FALSE(created.access_token.empty());
  EXPECT_NEAR(created.end_ms - created.started_ms, 120'000, 1000);
  EXPECT_EQ(Health(created.id), 204);

  auto got = control_->Get(alice_, created.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->metadata.at("k"), "v w");
  EXPECT_EQ(got->env_vars.at("A"), "B");
  EXPECT_EQ(control_->Resolve(created.id)->access_token, created.access_token);

  ASSERT_TRUE(control_->Kill(alice_, created.id).ok());
  EXPECT_EQ(Health(created.id), -1);
  EXPECT_EQ(control_->Get(alice_, created.id).status().code(), Code::kNotFound);
  EXPECT_EQ(control_->Kill(alice_, created.id).code(), Code::kNotFound);
  EXPECT_EQ(control_->Kill(alice_, "nonexistingsandbox").code(), Code::kNotFound);
}

TEST_F(ControlTest, UnknownTemplateNamesTheKnownOnes) {
  CreateRequest request;
  request.template_id = "ubuntu";
  auto created = control_->Create(alice_, request);
  EXPECT_EQ(created.status().code(), Code::kNotFound);
  EXPECT_NE(created.status().message().find("base, code-interpreter-v1"), std::string::npos);
}

TEST_F(ControlTest, AnotherKeysSandboxIsNotFoundButAnAdminSeesIt) {
  SandboxRecord mine = MustCreate(alice_);
  EXPECT_EQ(control_->Get(bob_, mine.id).status().code(), Code::kNotFound);
  EXPECT_EQ(control_->Kill(bob_, mine.id).code(), Code::kNotFound);
  EXPECT_EQ(control_->SetTimeout(bob_, mine.id, 10).code(), Code::kNotFound);
  EXPECT_EQ(control_->Connect(bob_, mine.id, 10).status().code(), Code::kNotFound);
  EXPECT_TRUE(control_->List(bob_, {})->sandboxes.empty());
  Principal root = MakeKey("root", true);
  EXPECT_TRUE(control_->Get(root, mine.id).ok());
  EXPECT_EQ(control_->List(root, {})->sandboxes.size(), 1u);
  EXPECT_TRUE(control_->Kill(root, mine.id).ok());
}

TEST_F(ControlTest, ListFiltersByMetadataAndPagesInOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    CreateRequest request;
    request.metadata = {{"job", i == 1 ? "other" : "build"}, {"n", std::to_string(i)}};
    ids.push_back(MustCreate(alice_, request).id);
  }
  ListRequest filter;
  filter.metadata = {{"job", "build"}};
  auto filtered = control_->List(alice_, filter);
  ASSERT_TRUE(filtered.ok());
  ASSERT_EQ(filtered->sandboxes.size(), 2u);
  EXPECT_EQ(filtered->sandboxes[0].id, ids[2]);  // newest first
  EXPECT_EQ(filtered->sandboxes[1].id, ids[0]);

  for (bool ascending : {false, true}) {
    ListRequest page;
    page.limit = 1;
    page.ascending = ascending;
    std::vector<std::string> seen;
    for (int i = 0; i < 5; ++i) {
      auto got = control_->List(alice_, page);
      ASSERT_TRUE(got.ok());
      for (const auto& r : got->sandboxes) seen.push_back(r.id);
      if (got->next_token.empty()) break;
      page.next_token = got->next_token;
    }
    std::vector<std::string> expected = ids;
    if (!ascending) std::reverse(expected.begin(), expected.end());
    EXPECT_EQ(seen, expected);
  }
  ListRequest bad;
  bad.next_token = "garbage";
  EXPECT_EQ(control_->List(alice_, bad).status().code(), Code::kInvalidArgument);
  bad.next_token.clear();
  bad.limit = 101;
  EXPECT_EQ(control_->List(alice_, bad).status().code(), Code::kInvalidArgument);
}

TEST_F(ControlTest, SetTimeoutOverwritesAndTheSandboxExpires) {
  SandboxRecord r = MustCreate(alice_);
  ASSERT_TRUE(control_->SetTimeout(alice_, r.id, 1).ok());
  EXPECT_LT(control_->Get(alice_, r.id)->end_ms, r.end_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto gone = control_->Get(alice_, r.id);
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_NE(gone.status().message().find("expired"), std::string::npos) << gone.status().message();
  EXPECT_TRUE(control_->List(alice_, {})->sandboxes.empty());
}

// autoPause: when the timeout ends the sandbox is paused, not killed (its data plane is closed while
// paused); connect resumes it, alive, with a fresh timeout. A sandbox without it is killed (test above).
TEST_F(ControlTest, AutoPauseSandboxIsPausedWhenItsTimeoutEndsAndConnectResumesIt) {
  CreateRequest request;
  request.timeout_s = 1;
  request.auto_pause = true;
  SandboxRecord r = MustCreate(alice_, request);
  EXPECT_TRUE(r.auto_pause);
  EXPECT_NEAR(r.end_ms - r.started_ms, 1000, 500);
  EXPECT_EQ(Health(r.id), 204);
  std::string state;
  for (int i = 0; i < 300 && state != "paused"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto got = control_->Get(alice_, r.id);
    ASSERT_TRUE(got.ok()) << "the autoPause sandbox ended: " << got.status().ToString();
    state = got->state;
  }
  ASSERT_EQ(state, "paused");
  EXPECT_EQ(Health(r.id), -1);  // Resolve refuses a paused sandbox
  auto listed = control_->List(alice_, {});
  ASSERT_EQ(listed->sandboxes.size(), 1u);
  EXPECT_EQ(listed->sandboxes[0].state, "paused");
  bool resumed = false;
  auto connected = control_->Connect(alice_, r.id, 60, &resumed);
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  EXPECT_TRUE(resumed);
  EXPECT_EQ(connected->state, "running");
  EXPECT_EQ(Health(r.id), 204);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the first timeout: not paused again
  EXPECT_EQ(control_->Get(alice_, r.id)->state, "running");
}

TEST_F(ControlTest, ConnectOnlyExtends) {
  CreateRequest request;
  request.timeout_s = 100;
  SandboxRecord r = MustCreate(alice_, request);
  auto same = control_->Connect(alice_, r.id, 10);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->end_ms, r.end_ms);
  auto longer = control_->Connect(alice_, r.id, 200);
  ASSERT_TRUE(longer.ok());
  EXPECT_GT(longer->end_ms, r.end_ms + 90'000);
  EXPECT_EQ(control_->Get(alice_, r.id)->end_ms, longer->end_ms);
}

TEST_F(ControlTest, LimitsNameWhatWasExceeded) {
  control_.reset();
  ControlOptions options;
  options.max_sandboxes_per_key = 1;
  options.max_sandboxes_total = 2;
  options.max_lifetime_s = 60;
  options.default_timeout_s = 30;
  Open(options);
  SandboxRecord first = MustCreate(alice_);
  auto second = control_->Create(alice_, {});
  EXPECT_EQ(second.status().code(), Code::kResourceExhausted);
  EXPECT_NE(second.status().message().find("maximum of 1"), std::string::npos);
  MustCreate(bob_);
  Principal carol = MakeKey("carol", false);
  auto third = control_->Create(carol, {});
  EXPECT_EQ(third.status().code(), Code::kResourceExhausted);
  EXPECT_NE(third.status().message().find("this server"), std::string::npos);
  EXPECT_EQ(control_->SetTimeout(alice_, first.id, 61).code(), Code::kInvalidArgument);
  // Past int64's milliseconds: refused (set) or clamped (connect) before any arithmetic overflows.
  const int64_t huge = std::numeric_limits<int64_t>::max() / 1000 + 1;
  EXPECT_EQ(control_->SetTimeout(alice_, first.id, huge).code(), Code::kInvalidArgument);
  Result<SandboxRecord> connected = control_->Connect(alice_, first.id, huge, nullptr);
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  EXPECT_EQ(connected->end_ms, first.started_ms + 60'000);
  CreateRequest too_long;
  too_long.timeout_s = 61;
  ASSERT_TRUE(control_->Kill(alice_, first.id).ok());
  EXPECT_EQ(control_->Create(alice_, too_long).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(control_->Create(alice_, {}).ok());  // the killed one freed its slot
}

TEST_F(ControlTest, OneServerPerHomeAndStoppedSandboxesAreRecorded) {
  SandboxRecord r = MustCreate(alice_);
  ControlOptions second;
  second.home = home_.string();
  EXPECT_EQ(Control::Open(second).status().code(), Code::kFailedPrecondition);
  control_.reset();  // stops the server: its sandboxes die with it
  auto reopened = Control::Open(second);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Principal admin = Principal{"", true};
  auto gone = (*reopened)->Get(admin, r.id);
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_NE(gone.status().message().find("server stopped"), std::string::npos) << gone.status().message();
  EXPECT_EQ((*reopened)->keys().Count().value(), 2);
}

TEST_F(ControlTest, CodeInterpreterTemplateRunsCode) {
  CreateRequest request;
  request.template_id = "code-interpreter-v1";
  SandboxRecord r = MustCreate(alice_, request);
  ExpectDefaultContextComputes(*control_, r.id);
}

TEST_F(ControlTest, ExecRunsOneProgramPerCall) {
  ExecRequest request;
  request.language = "python";
  request.code = "import os, sys\nprint(sys.argv[1:], os.environ['K'], input())\nsys.exit(4)";
  request.args = {"a", "b"};
  request.env = {{"K", "v"}};
  request.stdin_data = "from stdin\n";
  auto ran = control_->Exec(alice_, request);
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_EQ(ran->exit_code, 4);
  EXPECT_EQ(ran->stdout_data, "['a', 'b'] v from stdin\n");
  EXPECT_FALSE(ran->timed_out);

  request.language = "bash";
  request.code = "echo oops >&2; sleep 10";
  request.timeout_s = 1;
  ran = control_->Exec(alice_, request);
  ASSERT_TRUE(ran.ok());
  EXPECT_TRUE(ran->timed_out);
  EXPECT_EQ(ran->stderr_data, "oops\n");

  request.language = "cobol";
  auto unknown = control_->Exec(alice_, request);
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("python, javascript"), std::string::npos);
}

}  // namespace
}  // namespace kiln::control

namespace kiln::control {
namespace {

// Sandbox.create('NAME') of a template built into the server's home: its root, listed among the known ones.
TEST_F(ControlTest, CreatesFromABuiltTemplateAndListsItWhenUnknown) {
  if (geteuid() != 0) GTEST_SKIP() << "template builds need root";
  std::filesystem::create_directories(home_ / "ctx");
  std::ofstream(home_ / "ctx" / "Dockerfile") << "FROM host\nRUN echo from-the-template > /srv/marker\n";
  tmpl::BuildRequest build;
  build.name = "tiny";
  build.dockerfile = (home_ / "ctx" / "Dockerfile").string();
  build.home = home_.string();
  Result<tmpl::TemplateInfo> built = tmpl::BuildTemplate(build);
  ASSERT_TRUE(built.ok()) << built.status().ToString();

  CreateRequest request;
  request.template_id = "tiny";
  SandboxRecord created = MustCreate(alice_, request);
  EXPECT_EQ(created.template_id, "tiny");
  EXPECT_EQ(Health(created.id), 204);
  auto route = control_->Resolve(created.id);
  ASSERT_TRUE(route.ok());
  http::Headers token;
  token.Set("X-Access-Token", created.access_token);
  auto file = http::Client::Unix(route->socket_path)
                  .Do("GET", "/files?path=/srv/marker&username=user", token, {}, 5000);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->body, "from-the-template\n");

  request.template_id = "tiny2";
  auto unknown = control_->Create(alice_, request);
  EXPECT_EQ(unknown.status().code(), Code::kNotFound);
  EXPECT_NE(unknown.status().message().find("base, code-interpreter-v1, tiny"), std::string::npos)
      << unknown.status().message();
}

}  // namespace
}  // namespace kiln::control
