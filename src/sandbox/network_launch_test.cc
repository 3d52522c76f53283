// The user-mode network's helper process: started with the sandbox, gone with it, even when nobody reaps
// the sandbox (its Kiln process died, or has not noticed yet).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/sandbox/sandbox.h"

namespace kiln::sandbox {
namespace {

// The slirp4netns whose command line ends with "<init pid> tap0"; 0 if none.
pid_t HelperOf(pid_t init) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.find("slirp4netns") != std::string::npos &&
        cmdline.find(" " + std::to_string(init) + " tap0") != std::string::npos)
      return std::stoi(name);
  }
  return 0;
}

// Running (not exited): a zombie has exited, it only waits for our waitpid.
bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

std::unique_ptr<Sandbox> LaunchSleeper(Backend& backend) {
  SandboxSpec spec;
  spec.network = true;
  LaunchOptions o;
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c", "sleep 60"};
  Result<std::unique_ptr<Sandbox>> sb = backend.Launch(spec, o);
  close(o.init_binary_fd);
  EXPECT_TRUE(sb.ok()) << sb.status().ToString();
  return sb.ok() ? std::move(*sb) : nullptr;
}

TEST(NetworkLaunchTest, HelperEndsWhenTheSandboxIsKilledFromOutside) {
  if (access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "slirp4netns is not installed";
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  std::unique_ptr<Sandbox> sb = LaunchSleeper(**backend);
  ASSERT_TRUE(sb);
  pid_t init = sb->init_pid();
  pid_t helper = HelperOf(init);
  ASSERT_GT(helper, 0) << "no slirp4netns for sandbox init " << init;
  ASSERT_TRUE(Alive(helper));
  // kill -9 of the init, behind the Sandbox object's back: nothing in Kiln tells the helper to go.
  ASSERT_EQ(kill(init, SIGKILL), 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Alive(helper) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(Alive(helper)) << "slirp4netns " << helper << " outlived its sandbox";
  EXPECT_TRUE(sb->Destroy().ok());
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(helper))) << "helper left unreaped";
}

TEST(NetworkLaunchTest, DestroyEndsAndReapsTheHelper) {
  if (access("/usr/bin/slirp4netns", X_OK) != 0) GTEST_SKIP() << "slirp4netns is not installed";
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  std::unique_ptr<Sandbox> sb = LaunchSleeper(**backend);
  ASSERT_TRUE(sb);
  pid_t helper = HelperOf(sb->init_pid());
  ASSERT_GT(helper, 0);
  EXPECT_TRUE(sb->Destroy().ok());
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(helper)));
}

TEST(NetworkLaunchTest, MissingHelperIsAClearError) {
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend();
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  setenv("KILN_SLIRP4NETNS", "/nonexistent/slirp4netns", 1);
  SandboxSpec spec;
  spec.network = true;
  LaunchOptions o;
  o.init_binary_fd = open("/bin/true", O_PATH | O_CLOEXEC);
  o.argv = {"true"};
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(spec, o);
  unsetenv("KILN_SLIRP4NETNS");
  close(o.init_binary_fd);
  ASSERT_FALSE(sb.ok());
  EXPECT_EQ(sb.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(sb.status().message().find("slirp4netns"), std::string::npos) << sb.status().ToString();
}

}  // namespace
}  // namespace kiln::sandbox
