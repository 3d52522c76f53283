// Black-box tests of `kiln serve` and `kiln keys`: the first key is shown once, keys are listed without
// secrets and can be revoked, one server per home, and SIGTERM stops the server cleanly.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
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
  // SIGTERM first: a server stopped cleanly kills its sandboxes, which outlive one killed by SIGKILL.
  void TearDown() override {
    for (pid_t pid : servers_) kill(pid, SIGTERM);
    for (pid_t pid : servers_) {
      for (int i = 0; i < 200 && Alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      kill(pid, SIGKILL);
    }
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

// Processes (host pids) whose cgroup path names sandbox `id`: the sandbox's processes, on v1 and v2 alike.
std::vector<pid_t> ProcessesOfSandbox(const std::string& id) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (ReadFile(entry.path() / "cgroup").find("/" + id + "\n") != std::string::npos)
      out.push_back(std::stoi(name));
  }
  return out;
}

// Cgroup directories named `id` under /sys/fs/cgroup (one per v1 controller, or one on v2).
std::vector<std::string> CgroupDirsOfSandbox(const std::string& id) {
  std::vector<std::string> out;
  std::error_code ec;
  auto options = std::filesystem::directory_options::skip_permission_denied;
  for (auto it = std::filesystem::recursive_directory_iterator("/sys/fs/cgroup", options, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_directory(ec) || it->is_symlink(ec)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename() == id) out.push_back(it->path().string());
    if (it.depth() >= 4 || it->path().filename() == id) it.disable_recursion_pending();
  }
  return out;
}

// The sandbox's envd socket: the server's default socket directory holds <id>.sock.
std::string SocketOfSandbox(const std::string& id) {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  std::string dir = geteuid() == 0             ? "/run/kiln/sockets"
                    : (xdg != nullptr && *xdg) ? std::string(xdg) + "/kiln/sockets"
                                               : "/tmp/kiln-" + std::to_string(geteuid()) + "/sockets";
  return dir + "/" + id + ".sock";
}

// Waits (up to 10 s) until sandbox `id` has no process, cgroup or socket left, reaping the processes that a
// killed server left to this test (a child subreaper). Returns what is still there.
std::string LeftOfSandbox(const std::string& id, const std::vector<pid_t>& known) {
  std::string left;
  for (int i = 0; i < 200; ++i) {
    for (pid_t pid : known) waitpid(pid, nullptr, WNOHANG);
    left.clear();
    for (pid_t pid : ProcessesOfSandbox(id)) left += "process " + std::to_string(pid) + "; ";
    for (const std::string& dir : CgroupDirsOfSandbox(id)) left += "cgroup " + dir + "; ";
    if (std::filesystem::exists(SocketOfSandbox(id))) left += "socket " + SocketOfSandbox(id) + "; ";
    if (left.empty()) return left;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return left;
}

// A Connect-RPC request envelope (flags 0, big-endian length) around `message`.
std::string Envelope(const std::string& message) {
  std::string e(5, '\0');
  for (int i = 0; i < 4; ++i) e[1 + i] = static_cast<char>(message.size() >> (8 * (3 - i)));
  return e + message;
}

class ServerCrashTest : public ServeCliTest {
 protected:
  void SetUp() override {
    ServeCliTest::SetUp();
    // This machine's PID 1 reaps no orphans: what a SIGKILLed server leaves (its sandboxes' init processes,
    // once they die) is reparented to this test instead, which reaps it.
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  }
  void TearDown() override {
    ServeCliTest::TearDown();
    for (pid_t pid : servers_) waitpid(pid, nullptr, 0);
  }
  kiln::http::Response Call(int port, const std::string& method, const std::string& target,
                            const std::string& body = "") {
    kiln::http::Headers h;
    h.Set("X-API-Key", key_);
    if (!body.empty()) h.Set("Content-Type", "application/json");
    auto r = kiln::http::Client::Tcp("127.0.0.1", port).Do(method, target, h, body, 60'000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : kiln::http::Response{-1, {}, ""};
  }
  kiln::http::Response Envd(int port, const Json& sandbox, const std::string& method,
                            const std::string& target, const std::string& body = "",
                            const std::string& type = "application/json") {
    kiln::http::Headers h;
    h.Set("E2b-Sandbox-Id", sandbox["sandboxID"].get<std::string>());
    h.Set("E2b-Sandbox-Port", "49983");
    h.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
    if (!body.empty()) h.Set("Content-Type", type);
    auto r = kiln::http::Client::Tcp("127.0.0.1", port).Do(method, target, h, body, 30'000);
    return r.ok() ? *r : kiln::http::Response{-1, {}, r.status().ToString()};
  }
  // Starts the first server and remembers its key.
  int StartFirst(pid_t* pid) {
    std::string log = StartServer((dir_ / "1.log").string(), pid);
    std::smatch m;
    EXPECT_TRUE(std::regex_search(log, m, std::regex("e2b_[0-9a-f]{40}"))) << log;
    key_ = m.size() ? m[0].str() : "";
    return Port(log);
  }
  void KillMinus9(pid_t server) {
    ASSERT_EQ(kill(server, SIGKILL), 0);
    ASSERT_EQ(waitpid(server, nullptr, 0), server);  // ours: reparented when its shell exited
    servers_.erase(std::remove(servers_.begin(), servers_.end(), server), servers_.end());  // pid reusable
  }

  std::string key_;
};

// kill -9 of the server, with a stream open: the sandbox lives on, and the next server on the same home
// takes it over: listed, reachable, its files and processes intact, and killing it leaves nothing behind.
TEST_F(ServerCrashTest, TheNextServerReadoptsWhatRuns) {
  pid_t first = 0;
  int port = StartFirst(&first);
  ASSERT_GT(port, 0);
  kiln::http::Response created =
      Call(port, "POST", "/v2/sandboxes", R"({"templateID":"base","timeout":600,"metadata":{"k":"v"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  Json sandbox = Json::parse(created.body);
  std::string id = sandbox["sandboxID"];
  ASSERT_EQ(Envd(port, sandbox, "POST", "/files?path=/home/user/kept.txt", "written before the crash",
                 "application/octet-stream")
                .status,
            200);
  std::vector<pid_t> processes = ProcessesOfSandbox(id);
  ASSERT_FALSE(processes.empty()) << "the test cannot see the sandbox's processes";
  ASSERT_FALSE(CgroupDirsOfSandbox(id).empty()) << "the test cannot see the sandbox's cgroups";
  ASSERT_TRUE(std::filesystem::exists(SocketOfSandbox(id)));

  // A command streaming through the server when it dies: its stream is cut, the command runs on.
  std::promise<void> started;
  auto stream = std::async(std::launch::async, [&] {
    kiln::http::Headers h;
    h.Set("E2b-Sandbox-Id", id);
    h.Set("E2b-Sandbox-Port", "49983");
    h.Set("X-Access-Token", sandbox["envdAccessToken"].get<std::string>());
    h.Set("Content-Type", "application/connect+json");
    std::string received;
    bool signalled = false;
    return kiln::http::Client::Tcp("127.0.0.1", port)
        .Stream(
            "POST", "/process.Process/Start", h,
            Envelope(R"({"process":{"cmd":"/bin/sleep","args":["3600"]},"tag":"survivor"})"),
            [](const kiln::http::Response&) {},
            [&](std::string_view piece) {
              received.append(piece);
              if (!signalled && received.find("\"pid\"") != std::string::npos) {
                signalled = true;
                started.set_value();
              }
              return true;
            },
            60'000);
  });
  ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  processes = ProcessesOfSandbox(id);
  KillMinus9(first);
  ASSERT_EQ(stream.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(stream.get().ok()) << "the stream ended cleanly although the server was killed";
  for (pid_t pid : processes) EXPECT_TRUE(Alive(pid)) << "sandbox process " << pid << " died with the server";

  pid_t second = 0;
  std::string relog = StartServer((dir_ / "2.log").string(), &second);
  int port2 = Port(relog);
  ASSERT_GT(port2, 0) << relog;
  kiln::http::Response info = Call(port2, "GET", "/sandboxes/" + id);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(Json::parse(info.body)["state"], "running");
  EXPECT_EQ(Json::parse(info.body)["metadata"]["k"], "v");
  kiln::http::Response listed = Call(port2, "GET", "/v2/sandboxes");
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(Json::parse(listed.body).size(), 1u) << listed.body;
  EXPECT_EQ(Json::parse(listed.body)[0]["sandboxID"], id);
  EXPECT_EQ(Envd(port2, sandbox, "GET", "/health").status, 204);
  kiln::http::Response kept = Envd(port2, sandbox, "GET", "/files?path=/home/user/kept.txt");
  EXPECT_EQ(kept.status, 200);
  EXPECT_EQ(kept.body, "written before the crash");
  kiln::http::Response running = Envd(port2, sandbox, "POST", "/process.Process/List", "{}");
  EXPECT_EQ(running.status, 200);
  EXPECT_NE(running.body.find("survivor"), std::string::npos) << running.body;
  // The lifetime is enforced by the new server: a short timeout ends it.
  EXPECT_EQ(Call(port2, "POST", "/sandboxes/" + id + "/timeout", R"({"timeout":600})").status, 204);

  EXPECT_EQ(Call(port2, "DELETE", "/sandboxes/" + id).status, 204);
  EXPECT_EQ(LeftOfSandbox(id, processes), "");
  EXPECT_EQ(Envd(port2, sandbox, "GET", "/health").status, 502);
  EXPECT_EQ(Call(port2, "GET", "/v2/sandboxes").body, "[]");
}

// A sandbox created with network.allowPublicTraffic false keeps its traffic token across kill -9 of the
// server: the next server answers the same token on connect and still refuses its ports without it.
TEST_F(ServerCrashTest, ARestrictedSandboxKeepsItsTrafficToken) {
  pid_t first = 0;
  int port = StartFirst(&first);
  ASSERT_GT(port, 0);
  kiln::http::Response created =
      Call(port, "POST", "/v2/sandboxes", R"({"timeout":600,"network":{"allowPublicTraffic":false}})");
  ASSERT_EQ(created.status, 201) << created.body;
  Json sandbox = Json::parse(created.body);
  ASSERT_TRUE(sandbox["trafficAccessToken"].is_string()) << created.body;
  std::string id = sandbox["sandboxID"], token = sandbox["trafficAccessToken"];
  KillMinus9(first);

  pid_t second = 0;
  int port2 = Port(StartServer((dir_ / "2.log").string(), &second));
  ASSERT_GT(port2, 0);
  kiln::http::Response connected = Call(port2, "POST", "/v2/sandboxes/" + id + "/connect", "{}");
  ASSERT_EQ(connected.status, 200) << connected.body;
  EXPECT_EQ(Json::parse(connected.body)["trafficAccessToken"], token);
  auto port_8000 = [&](const std::string& traffic) {
    kiln::http::Headers h;
    h.Set("E2b-Sandbox-Id", id);
    h.Set("E2b-Sandbox-Port", "8000");
    if (!traffic.empty()) h.Set("E2B-Traffic-Access-Token", traffic);
    auto r = kiln::http::Client::Tcp("127.0.0.1", port2).Do("GET", "/", h, "", 30'000);
    return r.ok() ? r->status : -1;
  };
  EXPECT_EQ(port_8000(""), 403);
  EXPECT_EQ(port_8000(token), 502);  // let through: nothing listens on the port
  EXPECT_EQ(Envd(port2, sandbox, "GET", "/health").status, 204);
  EXPECT_EQ(Call(port2, "DELETE", "/sandboxes/" + id).status, 204);
}

// One whose lifetime ended while no server ran is killed by the next server and reported as expired; a
// paused one is re-adopted paused and resumes, then expires under the new server's reaper; neither leaves
// anything behind.
TEST_F(ServerCrashTest, WhatExpiredMeanwhileIsRemoved) {
  pid_t first = 0;
  int port = StartFirst(&first);
  ASSERT_GT(port, 0);
  kiln::http::Response expiring = Call(port, "POST", "/v2/sandboxes", R"({"timeout":2})");
  kiln::http::Response lasting = Call(port, "POST", "/v2/sandboxes", R"({"timeout":600})");
  ASSERT_EQ(expiring.status, 201) << expiring.body;
  ASSERT_EQ(lasting.status, 201) << lasting.body;
  std::string gone_id = Json::parse(expiring.body)["sandboxID"];
  Json kept = Json::parse(lasting.body);
  std::string kept_id = kept["sandboxID"];
  std::vector<pid_t> gone_processes = ProcessesOfSandbox(gone_id);
  std::vector<pid_t> kept_processes = ProcessesOfSandbox(kept_id);
  ASSERT_FALSE(gone_processes.empty());
  ASSERT_EQ(Call(port, "POST", "/sandboxes/" + kept_id + "/pause", "{}").status, 204);
  KillMinus9(first);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // past the first one's end
  for (pid_t pid : gone_processes) EXPECT_TRUE(Alive(pid)) << "nobody should have killed it yet";

  pid_t second = 0;
  std::string relog = StartServer((dir_ / "2.log").string(), &second);
  int port2 = Port(relog);
  ASSERT_GT(port2, 0) << relog;
  EXPECT_EQ(LeftOfSandbox(gone_id, gone_processes), "");
  kiln::http::Response info = Call(port2, "GET", "/sandboxes/" + gone_id);
  EXPECT_EQ(info.status, 404);
  EXPECT_NE(info.body.find("expired"), std::string::npos) << info.body;
  kiln::http::Response listed = Call(port2, "GET", "/v2/sandboxes");
  ASSERT_EQ(Json::parse(listed.body).size(), 1u) << listed.body;
  EXPECT_EQ(Json::parse(listed.body)[0]["sandboxID"], kept_id);
  // Paused before the crash, paused after it (the kernel's freezer holds it), and resumable.
  EXPECT_EQ(Json::parse(listed.body)[0]["state"], "paused");
  EXPECT_EQ(Envd(port2, kept, "GET", "/health").status, 502);
  EXPECT_EQ(Call(port2, "POST", "/v2/sandboxes/" + kept_id + "/connect", "{}").status, 201);
  EXPECT_EQ(Envd(port2, kept, "GET", "/health").status, 204);

  // The adopted one's lifetime is the new server's to enforce.
  EXPECT_EQ(Call(port2, "POST", "/sandboxes/" + kept_id + "/timeout", R"({"timeout":1})").status, 204);
  EXPECT_EQ(LeftOfSandbox(kept_id, kept_processes), "");
  EXPECT_EQ(Envd(port2, kept, "GET", "/health").status, 502);
  EXPECT_EQ(Call(port2, "GET", "/sandboxes/" + kept_id).status, 404);
}

}  // namespace
