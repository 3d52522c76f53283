// kiln doctor's checks on this host, and the leftovers of a Kiln process that died without cleaning up.
#include "kiln/runtime/doctor.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/base/fd.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

TEST(DoctorTest, ThisHostPassesTheChecksThatSandboxesNeed) {
  std::vector<Finding> findings = CheckHost("/tmp");
  for (const char* check : {"user namespaces", "sandbox", "seccomp", "kiln-envd", "disk", "clock"}) {
    auto it =
        std::find_if(findings.begin(), findings.end(), [&](const Finding& f) { return f.check == check; });
    ASSERT_NE(it, findings.end()) << check;
    if (std::string(check) != "clock") {
      EXPECT_NE(it->level, Finding::kFail) << check << ": " << it->detail;
    }
  }
}

// A process that owned a sandbox and died without killing it (a crash, kill -9 of a server) leaves the
// sandbox running under init and its socket behind: doctor lists them, and --fix removes both.
// The kiln-envd child of `parent`, or 0.
pid_t EnvdChildOf(pid_t parent) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line) || line.find("(kiln-envd)") == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + line.rfind(')') + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
      return static_cast<pid_t>(std::atoi(entry.path().filename().c_str()));
  }
  return 0;
}

bool Contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

// A process that owned a sandbox and died without killing it (a crash, kill -9 of a server) leaves the
// sandbox running under init and its socket behind: doctor lists them, and --fix removes both. (Other tests
// may leave orphans of their own meanwhile: only this one's is checked.)
TEST(DoctorTest, FixRemovesTheSandboxOfADeadOwnerAndItsSocket) {
  char tmpl[] = "/tmp/kiln-doctor-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  int report[2], release[2];
  ASSERT_EQ(pipe(report), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t owner = fork();
  if (owner == 0) {
    close(release[1]);
    Result<std::unique_ptr<Runtime>> rt = Runtime::Create(dir);
    Result<SandboxInfo> sb = rt.ok() ? (*rt)->CreateSandbox(CreateOptions{}) : rt.status();
    char ok = sb.ok() ? 1 : 0;
    (void)!write(report[1], &ok, 1);
    (void)!read(release[0], &ok, 1);  // until the test has seen its sandbox
    _exit(0);                         // no destructors: the sandbox is left behind, as by a crash
  }
  close(report[1]);
  close(release[0]);
  char ok = 0;
  ASSERT_EQ(read(report[0], &ok, 1), 1);
  close(report[0]);
  ASSERT_EQ(ok, 1);
  const pid_t envd = EnvdChildOf(owner);
  close(release[1]);
  waitpid(owner, nullptr, 0);
  ASSERT_GT(envd, 0);
  EXPECT_TRUE(Contains(FindLeftovers(false, dir).orphans, envd));
  Leftovers fixed = FindLeftovers(true, dir);
  EXPECT_TRUE(Contains(fixed.orphans, envd));
  ASSERT_EQ(fixed.sockets.size(), 1u);
  struct stat st {};
  EXPECT_NE(stat(fixed.sockets[0].c_str(), &st), 0) << "socket still there";
  EXPECT_FALSE(Contains(FindLeftovers(false, dir).orphans, envd));
  EXPECT_NE(kill(envd, 0), 0) << "the orphaned sandbox still runs";
  rmdir(dir.c_str());
}

// A sandbox whose owner died is taken over by a new Runtime (Adopt): it answers on its socket, doctor no
// longer calls it an orphan, and Kill ends it; Reclaim of an unknown id is a no-op.
TEST(DoctorTest, AnAdoptedSandboxIsNoOrphanAndItsAdopterKillsIt) {
  char tmpl[] = "/tmp/kiln-adopt-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  int report[2], release[2];
  ASSERT_EQ(pipe(report), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t owner = fork();
  if (owner == 0) {
    close(release[1]);
    Result<std::unique_ptr<Runtime>> rt = Runtime::Create(dir);
    CreateOptions options;
    options.access_token = "adopt-token";
    Result<SandboxInfo> sb = rt.ok() ? (*rt)->CreateSandbox(options) : rt.status();
    std::string id = sb.ok() ? sb->id : "";
    id.resize(64, ' ');
    (void)!write(report[1], id.data(), id.size());
    char byte;
    (void)!read(release[0], &byte, 1);
    _exit(0);  // no destructors: the sandbox is left behind, as by a crash
  }
  close(report[1]);
  close(release[0]);
  std::string id(64, ' ');
  ASSERT_EQ(read(report[0], id.data(), id.size()), 64);
  close(report[0]);
  id.erase(id.find(' '));
  ASSERT_FALSE(id.empty());
  const pid_t envd = EnvdChildOf(owner);
  close(release[1]);
  waitpid(owner, nullptr, 0);
  ASSERT_GT(envd, 0);

  Result<std::unique_ptr<Runtime>> rt = Runtime::Create(dir);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  SandboxInfo info{id, dir + "/" + id + ".sock", "adopt-token", 0, 0};
  Result<SandboxInfo> adopted = (*rt)->Adopt(info);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_FALSE(adopted->paused);
  EXPECT_EQ((*rt)->Adopt(info).status().code(), Code::kAlreadyExists);
  EXPECT_FALSE(Contains(FindLeftovers(false, dir).orphans, envd)) << "an adopted sandbox is called an orphan";
  ASSERT_TRUE((*rt)->SetPaused(id, true).ok());
  EXPECT_TRUE((*rt)->Get(id)->paused);
  ASSERT_TRUE((*rt)->SetPaused(id, false).ok());
  EXPECT_EQ((*rt)->Reclaim(id).code(), Code::kFailedPrecondition);  // its own: Kill it
  ASSERT_TRUE((*rt)->Kill(id).ok());
  std::string stat;
  for (int i = 0; i < 100; ++i) {
    std::ifstream in("/proc/" + std::to_string(envd) + "/stat");
    std::getline(in, stat);
    if (stat.empty() || stat.find(") Z") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << "the adopted sandbox still runs";
  EXPECT_FALSE(std::filesystem::exists(info.socket_path));
  EXPECT_EQ((*rt)->Adopt(info).status().code(), Code::kNotFound);
  EXPECT_TRUE((*rt)->Reclaim(id).ok());  // nothing left: nothing to do
  rt->reset();
  std::filesystem::remove_all(dir);
}

// A socket file is dead when nothing is bound to it: `bind` then `close` leaves exactly that.
std::string SocketFile(const std::string& path, bool keep_bound, UniqueFd* holder) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(listen(fd.get(), 1), 0);
  if (keep_bound) *holder = std::move(fd);
  return path;
}

void Age(const std::string& path, int seconds) {
  timeval old[2] = {{time(nullptr) - seconds, 0}, {time(nullptr) - seconds, 0}};
  ASSERT_EQ(lutimes(path.c_str(), old), 0);
}

TEST(DoctorTest, DeadSocketFilesAreThoseNothingIsBoundTo) {
  char tmpl[] = "/tmp/kiln-sockets-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  UniqueFd live_fd, unused;
  std::string dead = SocketFile(dir + "/dead.sock", false, &unused);
  std::string live = SocketFile(dir + "/live.sock", true, &live_fd);
  std::ofstream(dir + "/plain.sock") << "not a socket";
  EXPECT_EQ(DeadSocketFiles(dir, 0), std::vector<std::string>{dead});
  EXPECT_TRUE(DeadSocketFiles(dir, 3600).empty());  // too young to be swept
  for (const char* name : {"/dead.sock", "/live.sock", "/plain.sock"}) unlink((dir + name).c_str());
  rmdir(dir.c_str());
}

// The sockets a SIGKILLed Kiln left go when the next Runtime starts; live ones and young ones stay.
TEST(DoctorTest, ANewRuntimeSweepsDeadSocketsAMinuteOld) {
  char tmpl[] = "/tmp/kiln-sockets-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  UniqueFd live_fd, unused;
  std::string old_dead = SocketFile(dir + "/old.sock", false, &unused);
  std::string young_dead = SocketFile(dir + "/young.sock", false, &unused);
  std::string old_live = SocketFile(dir + "/live.sock", true, &live_fd);
  Age(old_dead, 120);
  Age(old_live, 120);
  {
    Result<std::unique_ptr<Runtime>> rt = Runtime::Create(dir);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  }
  struct stat st {};
  EXPECT_NE(lstat(old_dead.c_str(), &st), 0);
  EXPECT_EQ(lstat(young_dead.c_str(), &st), 0);
  EXPECT_EQ(lstat(old_live.c_str(), &st), 0);
  unlink(young_dead.c_str());
  unlink(old_live.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace kiln::runtime
