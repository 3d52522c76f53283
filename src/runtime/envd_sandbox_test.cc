// kiln-envd as PID 1 of a real sandbox, driven through its unix socket with the host client.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/client/envd_client.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

class EnvdInSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Runtime>> rt = Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value();
    CreateOptions options;
    options.env_vars["GLOBAL_VAR"] = "from-create";
    options.access_token = "secret-token";
    Result<SandboxInfo> info = runtime_->CreateSandbox(options);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    info_ = *info;
    client_ = std::make_unique<client::EnvdClient>(info_.socket_path, info_.access_token);
  }

  // Runs a shell command the way the E2B SDK does; returns stdout, sets *exit.
  std::string Sh(const std::string& command, client::ProcessExit* exit = nullptr,
                 const std::string& user = "") {
    std::string out;
    client::ProcessCallbacks cb;
    cb.on_stdout = [&](std::string_view d) { out += d; };
    cb.on_stderr = [&](std::string_view d) { out += d; };
    client::StartOptions opts;
    if (!user.empty()) opts.user = user;
    Result<client::ProcessExit> r = client_->Start({"/bin/bash", {"-l", "-c", command}}, opts, cb);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (exit && r.ok()) *exit = *r;
    return out;
  }

  std::unique_ptr<Runtime> runtime_;
  SandboxInfo info_;
  std::unique_ptr<client::EnvdClient> client_;
};

TEST_F(EnvdInSandboxTest, CommandsRunAsTheSandboxUserWithTheirEnvironment) {
  client::ProcessExit exit;
  EXPECT_EQ(Sh("id -un; id -u; pwd; echo $GLOBAL_VAR; echo $HOME", &exit),
            "user\n1000\n/home/user\nfrom-create\n/home/user\n");
  EXPECT_EQ(exit.exit_code, 0);
  Sh("exit 3", &exit);
  EXPECT_EQ(exit.exit_code, 3);
  EXPECT_EQ(exit.status, "exit status 3");
  // The sandbox's root is a user of this namespace only: still nothing of the host is reachable.
  EXPECT_EQ(Sh("id -u; test -e /etc/shadow && echo SHADOW; ls /root 2>&1 | head -1", nullptr, "root"),
            "0\nls: cannot access '/root': No such file or directory\n");
}

TEST_F(EnvdInSandboxTest, UserCodeCannotKillOrInspectEnvd) {
  client::ProcessExit exit;
  std::string out = Sh("kill -9 1; echo rc=$?; ls -l /proc/1/exe 2>&1 | grep -c 'Permission denied'", &exit);
  EXPECT_NE(out.find("rc=1"), std::string::npos) << out;
  EXPECT_TRUE(client_->Health().ok());
}

// The access token and the sandbox's environment (often API keys) never appear in a command line: those are
// readable by every user of the host (/proc/PID/cmdline) and by the sandbox's code (/proc/1/cmdline).
TEST_F(EnvdInSandboxTest, SecretsAreInNoCommandLine) {
  EXPECT_EQ(Sh("cat /proc/1/cmdline | tr '\\0' ' ' | grep -c -e secret-token -e from-create"), "0\n");
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(cmdline.find("secret-token"), std::string::npos) << entry.path();
    EXPECT_EQ(cmdline.find("GLOBAL_VAR=from-create"), std::string::npos) << entry.path();
  }
  client::ProcessExit exit;
  EXPECT_EQ(Sh("echo $GLOBAL_VAR", &exit), "from-create\n");  // yet both still work
  client::EnvdClient anonymous(info_.socket_path, "");
  EXPECT_FALSE(anonymous.Start({"/bin/true", {}}, {}, {}).ok());
}

TEST_F(EnvdInSandboxTest, BackgroundProcessIsListedAndKilled) {
  std::thread runner([&] {
    client::StartOptions opts;
    opts.tag = "sleeper";
    Result<client::ProcessExit> r = client_->Start({"/bin/sleep", {"60"}}, opts, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->exit_code, -1);
    EXPECT_EQ(r->status, "signal: killed");
  });
  uint32_t pid = 0;
  for (int i = 0; i < 200 && pid == 0; ++i) {
    Result<std::vector<client::ProcessInfo>> list = client_->List();
    ASSERT_TRUE(list.ok());
    for (const auto& p : *list) {
      if (p.tag == std::optional<std::string>("sleeper")) pid = p.pid;
    }
    if (pid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(pid, 0u);
  EXPECT_TRUE(client_->SendSignal(pid, SIGKILL).ok());
  runner.join();
  EXPECT_EQ(client_->SendSignal(999999, SIGKILL).code(), Code::kNotFound);
}

TEST_F(EnvdInSandboxTest, FilesRoundTripAndStayInsideTheSandbox) {
  ASSERT_TRUE(client_->Write("notes/a.txt", "hello").ok());
  Result<std::string> read = client_->Read("/home/user/notes/a.txt");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "hello");
  Result<client::EntryInfo> st = client_->Stat("notes/a.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->owner, "user");
  EXPECT_EQ(st->size, 5);
  EXPECT_EQ(Sh("cat ~/notes/a.txt"), "hello");
  EXPECT_EQ(client_->Read("/etc/shadow").status().code(), Code::kNotFound);
  EXPECT_EQ(client_->Read("../../../../etc/shadow").status().code(), Code::kNotFound);
  // The files API writes as envd (as E2B's does), so /usr is writable: into the sandbox's own layer only.
  std::string planted = "/usr/bin/kiln-planted-" + info_.id;
  ASSERT_TRUE(client_->Write(planted, "x").ok());
  EXPECT_EQ(*client_->Read(planted), "x");
  EXPECT_FALSE(std::filesystem::exists(planted)) << planted << " reached the host";
  Result<bool> made = client_->MakeDir("deep/er/dir");
  ASSERT_TRUE(made.ok());
  EXPECT_TRUE(*made);
  Result<std::vector<client::EntryInfo>> list = client_->ListDir("/home/user", 3);
  ASSERT_TRUE(list.ok());
  EXPECT_GE(list->size(), 5u);
  EXPECT_TRUE(client_->Remove("notes").ok());
  EXPECT_EQ(client_->Stat("notes/a.txt").status().code(), Code::kNotFound);
}

TEST_F(EnvdInSandboxTest, WrongTokenIsRejectedButHealthIsOpen) {
  client::EnvdClient stranger(info_.socket_path, "wrong");
  EXPECT_TRUE(stranger.Health().ok());
  EXPECT_FALSE(stranger.List().ok());
}

TEST_F(EnvdInSandboxTest, KilledSandboxIsUnreachable) {
  ASSERT_TRUE(runtime_->Kill(info_.id).ok());
  Status s = client_->Health();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
}

}  // namespace
}  // namespace kiln::runtime
