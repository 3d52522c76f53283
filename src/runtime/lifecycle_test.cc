// Long-lived sandboxes: creation, readiness, lifetime, and that killing them leaves nothing behind.
#include <dirent.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/protocol/http_client.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

size_t CountEntries(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); ++it)
    ++n;
  return n;
}

size_t OpenFds() {
  return CountEntries("/proc/self/fd");
}

// Processes whose parent is this test process.
size_t ChildProcesses() {
  size_t n = 0;
  std::string me = std::to_string(getpid());
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    size_t close_paren = line.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(line.substr(close_paren + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == me) ++n;
  }
  return n;
}

// Other test processes may be creating sandboxes at the same time: look only for ours.
bool CgroupExists(const std::string& id) {
  for (const char* parent : {"/sys/fs/cgroup/memory/kiln/", "/sys/fs/cgroup/pids/kiln/",
                             "/sys/fs/cgroup/cpu/kiln/", "/sys/fs/cgroup/kiln/"}) {
    if (std::filesystem::exists(parent + id)) return true;
  }
  return false;
}

std::string Mounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Health(const SandboxInfo& info) {
  http::Client client = http::Client::Unix(info.socket_path);
  Result<http::Response> r = client.Do("GET", "/health", {}, {}, 5000);
  return r.ok() ? r->status : -1;
}

TEST(LifecycleTest, CreatedSandboxAnswersHealthAtOnce) {
  Result<std::unique_ptr<Runtime>> rt = Runtime::Create();
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Result<SandboxInfo> info = (*rt)->CreateSandbox({});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(Health(*info), 204);
  EXPECT_EQ((*rt)->List().size(), 1u);
  EXPECT_TRUE((*rt)->Kill(info->id).ok());
  EXPECT_EQ((*rt)->Kill(info->id).code(), Code::kNotFound);
  EXPECT_EQ(Health(*info), -1);  // the socket is gone
}

TEST(LifecycleTest, LifetimeEndsTheSandbox) {
  Result<std::unique_ptr<Runtime>> rt = Runtime::Create();
  ASSERT_TRUE(rt.ok());
  CreateOptions options;
  options.spec.limits.timeout_ms = 300;
  Result<SandboxInfo> info = (*rt)->CreateSandbox(options);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(Health(*info), 204);
  for (int i = 0; i < 100 && !(*rt)->List().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE((*rt)->List().empty());
  EXPECT_EQ((*rt)->Get(info->id).status().code(), Code::kNotFound);
}

TEST(LifecycleTest, TwoHundredCyclesLeakNothing) {
  Result<std::unique_ptr<Runtime>> rt = Runtime::Create();
  ASSERT_TRUE(rt.ok());
  // Warm up once so lazily opened process-wide fds (envd binary, seccomp) are not counted as leaks.
  Result<SandboxInfo> warm = (*rt)->CreateSandbox({});
  ASSERT_TRUE(warm.ok());
  ASSERT_TRUE((*rt)->Kill(warm->id).ok());
  size_t fds = OpenFds(), children = ChildProcesses();
  std::string mounts = Mounts();
  std::vector<SandboxInfo> made;
  for (int i = 0; i < 200; ++i) {
    Result<SandboxInfo> info = (*rt)->CreateSandbox({});
    ASSERT_TRUE(info.ok()) << "cycle " << i << ": " << info.status().ToString();
    if (i % 20 == 0) {
      ASSERT_EQ(Health(*info), 204) << "cycle " << i;
    }
    ASSERT_TRUE(CgroupExists(info->id) || (*rt)->capabilities().cgroup_mode == "none");
    ASSERT_TRUE((*rt)->Kill(info->id).ok()) << "cycle " << i;
    made.push_back(*info);
  }
  EXPECT_EQ(OpenFds(), fds);
  EXPECT_EQ(ChildProcesses(), children);
  EXPECT_EQ(Mounts(), mounts);
  for (const SandboxInfo& info : made) {
    EXPECT_FALSE(CgroupExists(info.id)) << info.id;
    EXPECT_FALSE(std::filesystem::exists(info.socket_path)) << info.socket_path;
  }
}

}  // namespace
}  // namespace kiln::runtime
