// Hostile code-interpreter cells (fork bombs, memory hogs) in a real sandbox with tight limits: each cell
// must end with a clear error, envd must keep answering, the context must work again afterwards, and
// killing the sandbox must leave no process behind on the host.
#include <dirent.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kiln/base/ids.h"
#include "kiln/client/code_client.h"
#include "kiln/protocol/http_client.h"
#include "kiln/runtime/runtime.h"

namespace kiln::envd {
namespace {

using client::CodeClient;
using client::ExecuteOptions;
using client::Execution;

constexpr char kMarkVar[] = "KILN_ATTACK_MARK";

// Host processes whose initial environment holds `mark` (every process envd starts inherits it).
int CountMarkedProcesses(const std::string& mark) {
  int count = 0;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return -1;
  while (dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/environ", std::ios::binary);
    std::stringstream env;
    env << in.rdbuf();
    if (env.str().find(mark) != std::string::npos) ++count;
  }
  ::closedir(proc);
  return count;
}

class CodeContextAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rt = runtime::Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value();
    mark_ = std::string(kMarkVar) + "=" + RandomHex(8);
    runtime::CreateOptions options;
    options.access_token = "tok";
    options.spec.limits.memory_bytes = 192ll << 20;
    options.spec.limits.pids = 48;
    options.spec.limits.timeout_ms = 60'000;
    options.env_vars[kMarkVar] = mark_.substr(sizeof(kMarkVar));
    auto info = runtime_->CreateSandbox(options);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    info_ = *info;
  }
  // Kills the sandbox and checks that none of its processes is left on the host.
  void TearDown() override {
    if (!runtime_ || info_.id.empty()) return;
    ASSERT_TRUE(runtime_->Kill(info_.id).ok());
    EXPECT_EQ(CountMarkedProcesses(mark_), 0) << "processes of the sandbox outlived it";
  }
  CodeClient Client() const { return CodeClient(info_.socket_path, "tok"); }
  Execution Run(const std::string& code, ExecuteOptions options) {
    auto r = Client().Execute(code, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Execution{};
  }
  ExecuteOptions NewContext(const std::string& language) {
    auto ctx = Client().CreateContext(language);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    ExecuteOptions o;
    o.context_id = ctx.ok() ? ctx->id : "";
    return o;
  }
  bool Healthy() const {
    auto r = http::Client::Unix(info_.socket_path).Do("GET", "/health", {}, "", 5'000);
    return r.ok() && r->status / 100 == 2;
  }
  std::unique_ptr<runtime::Runtime> runtime_;
  runtime::SandboxInfo info_;
  std::string mark_;
};

TEST_F(CodeContextAttackTest, PythonForkBombIsContained) {
  ExecuteOptions o = NewContext("python");
  ASSERT_EQ(Run("v = 7; v", o).Text(), "7");
  EXPECT_GT(CountMarkedProcesses(mark_), 0);  // the check in TearDown sees the sandbox's processes
  ExecuteOptions t = o;
  t.timeout_ms = 3'000;
  Execution bomb = Run("import os\nwhile True: os.fork()", t);
  ASSERT_TRUE(bomb.error);
  // Either the bomb burnt out within the cell (each copy leaves when its fork fails: BlockingIOError, the
  // context keeps its state), or envd found copies still running, killed them with the context and restarted
  // it (its state is gone).
  if (bomb.error->name == "ContextDied") {
    EXPECT_NE(bomb.error->value.find("fork bomb"), std::string::npos) << bomb.error->value;
    EXPECT_NE(Run("v", o).error, std::nullopt);
  } else {
    EXPECT_EQ(bomb.error->name, "BlockingIOError") << bomb.error->value;
    EXPECT_EQ(Run("v", o).Text(), "7");
  }
  EXPECT_TRUE(Healthy());
  Execution after = Run("import os; len([p for p in os.listdir('/proc') if p.isdigit()])", o);
  ASSERT_FALSE(after.error) << after.error->name << ": " << after.error->value;
  EXPECT_LE(std::stoi(after.Text()), 8) << "the bomb's processes (or their zombies) are still there";
  Execution spawn = Run("import subprocess; subprocess.run(['true']).returncode", o);
  EXPECT_EQ(spawn.Text(), "0") << "the context cannot start a process after the bomb";
  EXPECT_EQ(Run("1 + 1", o).Text(), "2");
}

// A cell that forks and lets the child fall off the end of the cell: the child's output arrives, but only
// the runner itself answers for the cell (one result, no second "done"), and the context keeps its state.
TEST_F(CodeContextAttackTest, PythonForkedChildDoesNotSpeakForTheContext) {
  ExecuteOptions o = NewContext("python");
  ASSERT_EQ(Run("kept = 41; kept", o).Text(), "41");
  Execution fork =
      Run("import os, time\npid = os.fork()\nif pid == 0:\n    print('from the child')\n    raise "
          "ValueError('child')\n"
          "os.waitpid(pid, 0)\n'parent'",
          o);
  EXPECT_FALSE(fork.error) << fork.error->name << ": " << fork.error->value;
  EXPECT_EQ(fork.Text(), "parent");
  EXPECT_EQ(fork.results.size(), 1u);
  EXPECT_NE(fork.Stdout().find("from the child"), std::string::npos) << fork.Stdout();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Run("kept + 1", o).Text(), "42") << "cell " << i;
}

TEST_F(CodeContextAttackTest, PythonMemoryHogIsKilled) {
  ExecuteOptions o = NewContext("python");
  Execution hog = Run("x = []\nwhile True: x.append(bytearray(16 << 20))", o);
  ASSERT_TRUE(hog.error);
  if (hog.error->name == "ContextDied") {
    EXPECT_NE(hog.error->value.find("out of memory"), std::string::npos) << hog.error->value;
  } else {
    EXPECT_EQ(hog.error->name, "MemoryError");
  }
  EXPECT_TRUE(Healthy());
  EXPECT_EQ(Run("2 + 2", o).Text(), "4");
  Execution big = Run("b = bytearray(10**10)", o);
  ASSERT_TRUE(big.error);
  EXPECT_TRUE(big.error->name == "MemoryError" || big.error->name == "ContextDied") << big.error->name;
  EXPECT_EQ(Run("3 + 3", o).Text(), "6");
}

TEST_F(CodeContextAttackTest, BashForkBombIsBoundedByTheTimeout) {
  ExecuteOptions o = NewContext("bash");
  Run("KEEP=kept; cd /tmp", o);
  ExecuteOptions t = o;
  t.timeout_ms = 2'000;
  auto began = std::chrono::steady_clock::now();
  Execution bomb = Run(":(){ :|:& };:; sleep 30", t);
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(6));
  ASSERT_TRUE(bomb.error);
  // Interrupted (the bomb dies out with the cell, the shell and its state survive), or the shell itself
  // died of a failed fork and was restarted.
  EXPECT_TRUE(bomb.error->name == "TimeoutError" || bomb.error->name == "ContextDied") << bomb.error->name;
  EXPECT_TRUE(Healthy());
  Execution after = Run("echo $(ls /proc | grep -c '^[0-9]') ${KEEP:-restarted}", o);
  ASSERT_FALSE(after.error) << after.error->name << ": " << after.error->value;
  EXPECT_LE(std::stoi(after.Stdout()), 8) << "the bomb's processes are still running";
  std::string expected = bomb.error->name == "TimeoutError" ? "kept" : "restarted";
  EXPECT_NE(after.Stdout().find(expected), std::string::npos) << after.Stdout();
}

}  // namespace
}  // namespace kiln::envd
