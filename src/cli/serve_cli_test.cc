// Black-box tests of `kiln serve` and `kiln keys`: the first key is shown once, keys are listed without
// secrets and can be revoked, one server per home, and SIGTERM stops the server cleanly.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kiln/protocol/http_client.h"

#include "shell_test_util.h"

namespace {

using Json = nlohmann::json;

using kiln::cli::testing::Outcome;
using kiln::cli::testing::Shell;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kKiln = KILN_BINARY;

// The server is the child of a shell that has exited, so it is not ours to wait for: alive means present
// in /proc and not a zombie.
bool Alive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

class ServeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln-serve-cli-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    home_ = (dir_ / "home").string();
  }
  void TearDown() override {
    for (pid_t pid : servers_) kill(pid, SIGKILL);
    std::filesystem::remove_all(dir_);
  }
  // Starts `kiln serve` on a free port; returns its log once it listens (or after 10 s).
  std::string StartServer(const std::string& log, pid_t* pid) {
    Outcome started =
        Shell(kKiln + " serve --listen 127.0.0.1:0 --home " + home_ + " > " + log + " 2>&1 & echo $!");
    *pid = std::stoi(started.out);
    servers_.push_back(*pid);
    for (int i = 0; i < 100; ++i) {
      std::string text = ReadFile(log);
      if (text.find("listening on") != std::string::npos || kill(*pid, 0) != 0) return text;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return ReadFile(log);
  }
  static int Port(const std::string& log) {
    std::smatch m;
    return std::regex_search(log, m, std::regex("listening on http://127\\.0\\.0\\.1:([0-9]+)"))
               ? std::stoi(m[1])
               : -1;
  }

  std::filesystem::path dir_;
  std::string home_;
  std::vector<pid_t> servers_;
};

TEST_F(ServeCliTest, KeysCreateListRevoke) {
  Outcome created = Shell(kKiln + " keys --home " + home_ + " create --name ci --json");
  ASSERT_EQ(created.exit_code, 0) << created.out;
  Json key = Json::parse(created.out);
  EXPECT_EQ(key["name"], "ci");
  EXPECT_EQ(key["admin"], false);
  std::string secret = key["key"];
  Outcome listed = Shell(kKiln + " keys --home " + home_ + " list --json");
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_EQ(listed.out.find(secret), std::string::npos);
  Json all = Json::parse(listed.out);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["id"], key["id"]);
  EXPECT_EQ(all[0]["revoked"], false);
  EXPECT_EQ(Shell(kKiln + " keys --home " + home_ + " revoke " + key["id"].get<std::string>()).exit_code, 0);
  EXPECT_EQ(Json::parse(Shell(kKiln + " keys --home " + home_ + " list --json").out)[0]["revoked"], true);
  Outcome unknown = Shell(kKiln + " keys --home " + home_ + " revoke knothere 2>&1");
  EXPECT_EQ(unknown.exit_code, 125);
  EXPECT_NE(unknown.out.find("no API key with id 'knothere'"), std::string::npos) << unknown.out;
}

TEST_F(ServeCliTest, FirstStartShowsOneKeyAndOneServerPerHome) {
  pid_t first = 0;
  std::string log = StartServer((dir_ / "1.log").string(), &first);
  int port = Port(log);
  ASSERT_GT(port, 0) << log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("e2b_[0-9a-f]{40}"))) << log;
  std::string secret = m[0];

  kiln::http::Headers headers;
  headers.Set("X-API-Key", secret);
  auto listed = kiln::http::Client::Tcp("127.0.0.1", port).Do("GET", "/v2/sandboxes", headers, {}, 10'000);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->status, 200);
  EXPECT_EQ(listed->body, "[]");
  std::string access = ReadFile((dir_ / "1.log").string());
  EXPECT_NE(access.find(R"("method":"GET","ms":)"), std::string::npos) << access;
  EXPECT_NE(access.find(R"("path":"/v2/sandboxes","plane":"control","status":200,)"), std::string::npos)
      << access;

  Outcome second = Shell(kKiln + " serve --listen 127.0.0.1:0 --home " + home_ + " 2>&1");
  EXPECT_EQ(second.exit_code, 125);
  EXPECT_NE(second.out.find("another kiln server uses the home directory"), std::string::npos) << second.out;

  ASSERT_EQ(kill(first, SIGTERM), 0);
  for (int i = 0; i < 100 && Alive(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(Alive(first)) << "kiln serve did not stop on SIGTERM";

  pid_t again = 0;
  std::string relog = StartServer((dir_ / "2.log").string(), &again);
  EXPECT_GT(Port(relog), 0) << relog;
  EXPECT_EQ(relog.find("e2b_"), std::string::npos) << "a key was shown again:\n" << relog;
}

TEST_F(ServeCliTest, SandboxCommandsTalkToTheServer) {
  Outcome unreachable =
      Shell("KILN_URL=http://127.0.0.1:1 KILN_API_KEY=e2b_x " + kKiln + " sandbox list 2>&1");
  EXPECT_EQ(unreachable.exit_code, 125);
  EXPECT_NE(unreachable.out.find("cannot reach kiln serve at http://127.0.0.1:1"), std::string::npos)
      << unreachable.out;
  EXPECT_NE(Shell("KILN_API_KEY= " + kKiln + " sandbox list 2>&1").out.find("KILN_API_KEY is not set"),
            std::string::npos);

  pid_t server = 0;
  std::string log = StartServer((dir_ / "1.log").string(), &server);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("e2b_[0-9a-f]{40}"))) << log;
  std::string env =
      "KILN_URL=http://127.0.0.1:" + std::to_string(Port(log)) + " KILN_API_KEY=" + m[0].str() + " ";
  Outcome created = Shell(env + kKiln + " sandbox create --metadata team=a --timeout 60 --json");
  ASSERT_EQ(created.exit_code, 0) << created.out;
  std::string id = Json::parse(created.out)["sandboxID"];
  Outcome listed = Shell(env + kKiln + " sandbox list --json");
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  ASSERT_EQ(Json::parse(listed.out).size(), 1u);
  EXPECT_EQ(Json::parse(listed.out)[0]["metadata"]["team"], "a");
  EXPECT_EQ(Shell(env + kKiln + " sandbox timeout " + id + " 30").exit_code, 0);
  Outcome info = Shell(env + kKiln + " sandbox info " + id);
  EXPECT_NE(info.out.find("\"sandboxID\": \"" + id + "\""), std::string::npos) << info.out;
  Outcome bad = Shell(env + kKiln + " sandbox create --template ubuntu 2>&1");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("known templates: base, code-interpreter-v1"), std::string::npos) << bad.out;
  Shell(env + kKiln + " sandbox create");
  Outcome killed = Shell(env + kKiln + " sandbox kill --all");
  EXPECT_EQ(killed.exit_code, 0) << killed.out;
  EXPECT_NE(killed.out.find("killed " + id), std::string::npos) << killed.out;
  EXPECT_EQ(Shell(env + kKiln + " sandbox list --json").out, "[]\n");
  EXPECT_EQ(Shell(env + kKiln + " sandbox kill " + id + " 2>/dev/null").exit_code, 1);
}

// The host pid of the envd started with `token` (its command line carries it), or 0.
pid_t EnvdWithToken(const std::string& token) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFile(entry.path() / "cmdline");
    if (cmdline.find(token) != std::string::npos && cmdline.find("kiln-envd") != std::string::npos)
      return std::stoi(name);
  }
  return 0;
}

// kill -9 of the server leaves its sandboxes running (the runtime cannot re-adopt them yet): the next server
// kills them and reports them as ended because of the restart.
TEST_F(ServeCliTest, AfterACrashTheNextServerKillsTheOrphans) {
  pid_t first = 0;
  std::string log = StartServer((dir_ / "1.log").string(), &first);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("e2b_[0-9a-f]{40}"))) << log;
  kiln::http::Headers headers;
  headers.Set("X-API-Key", m[0]);
  auto created =
      kiln::http::Client::Tcp("127.0.0.1", Port(log)).Do("POST", "/v2/sandboxes", headers, "{}", 30'000);
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << created->body;
  Json sandbox = Json::parse(created->body);
  std::string id = sandbox["sandboxID"];
  ASSERT_EQ(kill(first, SIGKILL), 0);
  for (int i = 0; i < 100 && Alive(first); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pid_t orphan = EnvdWithToken(sandbox["envdAccessToken"]);

  pid_t second = 0;
  std::string relog = StartServer((dir_ / "2.log").string(), &second);
  ASSERT_GT(Port(relog), 0) << relog;
  if (orphan != 0) {
    EXPECT_FALSE(Alive(orphan)) << "the orphaned sandbox still runs";
  }
  EXPECT_EQ(EnvdWithToken(sandbox["envdAccessToken"]), 0);
  auto info =
      kiln::http::Client::Tcp("127.0.0.1", Port(relog)).Do("GET", "/sandboxes/" + id, headers, {}, 10'000);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->status, 404);
  EXPECT_NE(info->body.find("server restarted"), std::string::npos) << info->body;
}

}  // namespace
