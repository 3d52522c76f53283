// Cgroup backends: the files each writes (through a recording OS seam), and v2 against the real kernel.
#include "cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "kiln/base/ids.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::sandbox {
namespace {

// Records writes and serves reads from a map; directories always succeed.
class RecordingOs : public ForwardingOs {
 public:
  RecordingOs() : ForwardingOs(&Os::Real()) {}
  Status MakeDir(const std::string& path, mode_t) override {
    dirs.push_back(path);
    return Status::Ok();
  }
  Status RemoveDir(const std::string& path) override {
    removed.push_back(path);
    return Status::Ok();
  }
  Status WriteFile(const std::string& path, std::string_view data) override {
    writes[path] = std::string(data);
    return Status::Ok();
  }
  Result<std::string> ReadFile(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return NotFound(path);
    return it->second;
  }
  std::vector<std::string> dirs, removed;
  std::map<std::string, std::string> writes, files;
};

// kiln serve under systemd (Delegate=yes): the service's own cgroup becomes the sandboxes' parent once Kiln
// has moved itself into a leaf, since a v2 cgroup with controllers for children may hold no process.
TEST(CgroupTest, DelegatedSubtreeMovesKilnIntoALeaf) {
  RecordingOs os;
  os.files["/proc/self/mounts"] = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
  os.files["/proc/self/cgroup"] = "0::/system.slice/kiln.service\n";
  os.files["/sys/fs/cgroup/system.slice/kiln.service/cgroup.subtree_control"] = "memory pids cpu\n";
  setenv("KILN_CGROUP_ROOT", "delegated", 1);
  CgroupConfig config = ProbeCgroups(os);
  unsetenv("KILN_CGROUP_ROOT");
  EXPECT_EQ(config.mode, "v2");
  EXPECT_EQ(config.root, "/sys/fs/cgroup/system.slice/kiln.service");
  EXPECT_EQ(os.writes["/sys/fs/cgroup/system.slice/kiln.service/server/cgroup.procs"], "0");
  EXPECT_TRUE(config.memory && config.pids && config.cpu);
  // A second probe in the same process finds itself in the leaf already.
  os.files["/proc/self/cgroup"] = "0::/system.slice/kiln.service/server\n";
  setenv("KILN_CGROUP_ROOT", "delegated", 1);
  EXPECT_EQ(ProbeCgroups(os).root, "/sys/fs/cgroup/system.slice/kiln.service");
  unsetenv("KILN_CGROUP_ROOT");
}

TEST(CgroupTest, V2WritesEveryLimit) {
  RecordingOs os;
  CgroupConfig config{"v2", "/cg/kiln", true, true, true, {}};
  Limits limits;
  limits.memory_bytes = 64 << 20;
  limits.pids = 32;
  limits.cpus = 0.5;
  Result<std::unique_ptr<Cgroup>> cg = Cgroup::Create(os, config, "sb1", limits);
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  EXPECT_EQ(os.writes["/cg/kiln/sb1/memory.max"], "67108864");
  EXPECT_EQ(os.writes["/cg/kiln/sb1/memory.swap.max"], "0");
  EXPECT_EQ(os.writes["/cg/kiln/sb1/pids.max"], "32");
  EXPECT_EQ(os.writes["/cg/kiln/sb1/cpu.max"], "50000 100000");
  ASSERT_TRUE((*cg)->Attach(42).ok());
  EXPECT_EQ(os.writes["/cg/kiln/sb1/cgroup.procs"], "42");
  os.files["/cg/kiln/sb1/memory.events"] = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n";
  EXPECT_TRUE((*cg)->OomKilled());
  ASSERT_TRUE((*cg)->KillAll().ok());
  EXPECT_EQ(os.writes["/cg/kiln/sb1/cgroup.kill"], "1");
  ASSERT_TRUE((*cg)->Remove().ok());
  EXPECT_EQ(os.removed, std::vector<std::string>{"/cg/kiln/sb1"});
}

TEST(CgroupTest, V1WritesPerController) {
  RecordingOs os;
  CgroupConfig config{"v1", "/cg", true, true, true, {}};
  Limits limits;
  limits.memory_bytes = 0;  // unlimited
  limits.pids = 100;
  Result<std::unique_ptr<Cgroup>> cg = Cgroup::Create(os, config, "sb2", limits);
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  EXPECT_EQ(os.writes["/cg/memory/kiln/sb2/memory.limit_in_bytes"], "-1");
  EXPECT_EQ(os.writes["/cg/pids/kiln/sb2/pids.max"], "100");
  EXPECT_EQ(os.writes["/cg/cpu/kiln/sb2/cpu.cfs_quota_us"], "100000");
  ASSERT_TRUE((*cg)->Attach(7).ok());
  EXPECT_EQ(os.writes["/cg/memory/kiln/sb2/cgroup.procs"], "7");
  EXPECT_EQ(os.writes["/cg/cpu/kiln/sb2/cgroup.procs"], "7");
  os.files["/cg/memory/kiln/sb2/memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
  EXPECT_FALSE((*cg)->OomKilled());
}

// Usage and the freezer from the files each version keeps them in.
TEST(CgroupTest, UsageAndFreezerFilesOfBothVersions) {
  RecordingOs os;
  CgroupConfig v2{"v2", "/cg/kiln", true, true, true, true, {}};
  Result<std::unique_ptr<Cgroup>> cg = Cgroup::Create(os, v2, "sb3", Limits{});
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  os.files["/cg/kiln/sb3/cpu.stat"] = "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n";
  os.files["/cg/kiln/sb3/memory.current"] = "1048576\n";
  os.files["/cg/kiln/sb3/memory.max"] = "max\n";
  os.files["/cg/kiln/sb3/memory.stat"] = "anon 4096\nfile 8192\n";
  Usage u = (*cg)->CurrentUsage();
  EXPECT_EQ(u.cpu_ns, 2'500'000);
  EXPECT_EQ(u.memory_bytes, 1 << 20);
  EXPECT_EQ(u.memory_limit_bytes, 0);  // "max": SandboxUsage reports the host's memory
  EXPECT_EQ(u.memory_cache_bytes, 8192);
  os.files["/cg/kiln/sb3/cgroup.events"] = "populated 1\nfrozen 1\n";
  ASSERT_TRUE((*cg)->SetFrozen(true).ok());
  EXPECT_EQ(os.writes["/cg/kiln/sb3/cgroup.freeze"], "1");
  EXPECT_TRUE((*cg)->Frozen());

  CgroupConfig v1{"v1", "/cg", true, true, true, true, {}};
  cg = Cgroup::Create(os, v1, "sb4", Limits{});
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  os.files["/cg/memory/kiln/sb4/memory.usage_in_bytes"] = "2097152\n";
  os.files["/cg/memory/kiln/sb4/memory.limit_in_bytes"] = "67108864\n";
  os.files["/cg/memory/kiln/sb4/memory.stat"] = "cache 4096\nrss 8192\n";
  os.files["/cg/memory/kiln/sb4/cgroup.procs"] = "77\n";
  // pid 77: utime 3, stime 2, cutime 1, cstime 4 ticks (fields 14-17).
  os.files["/proc/77/stat"] = "77 (a b) S 1 77 77 0 -1 0 0 0 0 0 3 2 1 4 20 0 1 0 0 0 0\n";
  u = (*cg)->CurrentUsage();
  EXPECT_EQ(u.memory_bytes, 2 << 20);
  EXPECT_EQ(u.memory_limit_bytes, 64 << 20);
  EXPECT_EQ(u.memory_cache_bytes, 4096);
  EXPECT_EQ(u.cpu_ns, 10 * (1'000'000'000 / sysconf(_SC_CLK_TCK)));
  os.files["/cg/freezer/kiln/sb4/freezer.state"] = "FROZEN\n";
  ASSERT_TRUE((*cg)->SetFrozen(true).ok());
  EXPECT_EQ(os.writes["/cg/freezer/kiln/sb4/freezer.state"], "FROZEN");
}

TEST(CgroupTest, ProbeRespectsOverrides) {
  RecordingOs os;
  setenv("KILN_CGROUP", "none", 1);
  CgroupConfig none = ProbeCgroups(os);
  unsetenv("KILN_CGROUP");
  EXPECT_EQ(none.mode, "none");
  ASSERT_FALSE(none.warnings.empty());
  EXPECT_NE(none.warnings[0].find("not applied"), std::string::npos);
}

// Counts writes to cgroup.procs on the way to the real kernel.
class ProcsWriteCountingOs : public ForwardingOs {
 public:
  ProcsWriteCountingOs() : ForwardingOs(&Os::Real()) {}
  Status WriteFile(const std::string& path, std::string_view data) override {
    if (path.ends_with("/cgroup.procs")) ++procs_writes;
    return ForwardingOs::WriteFile(path, data);
  }
  int procs_writes = 0;
};

// This machine mounts controllers on v1 and an empty cgroup2 hierarchy beside them: the v2 backend must
// still place, kill and remove sandboxes there, and say which limits it cannot apply. On v2 the sandbox's
// first process is born in its cgroup (clone3 CLONE_INTO_CGROUP), without a cgroup.procs write.
TEST(CgroupTest, V2OnTheRealKernel) {
  const char* unified = "/sys/fs/cgroup/unified";
  if (geteuid() != 0 || !std::filesystem::exists(std::string(unified) + "/cgroup.procs")) {
    GTEST_SKIP() << "no writable cgroup2 hierarchy at " << unified;
  }
  std::string root = std::string(unified) + "/kiln-test-" + std::to_string(getpid());
  setenv("KILN_CGROUP", "v2", 1);
  setenv("KILN_CGROUP_ROOT", root.c_str(), 1);
  ProcsWriteCountingOs os;
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend(os);
  unsetenv("KILN_CGROUP");
  unsetenv("KILN_CGROUP_ROOT");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  EXPECT_EQ((*backend)->capabilities().cgroup_mode, "v2");
  LaunchOptions o;
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c", "sleep 100 & sleep 100 & wait"};
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  std::string dir = root + "/" + (*sb)->id();
  Result<std::string> procs = Os::Real().ReadFile(dir + "/cgroup.procs");
  ASSERT_TRUE(procs.ok()) << procs.status().ToString();
  EXPECT_NE(procs->find(std::to_string((*sb)->init_pid())), std::string::npos) << *procs;
  EXPECT_EQ(os.procs_writes, 0);
  EXPECT_TRUE((*sb)->Destroy().ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
  close(o.init_binary_fd);
  rmdir(root.c_str());
}

// On v1 the sandbox's first process joins its cgroups itself (writing "0" to each controller's tasks file
// through descriptors the launcher opened), so the launch writes no cgroup.procs and every process the
// sandbox starts is inside each controller's cgroup.
TEST(CgroupTest, V1SandboxJoinsItsCgroupsItself) {
  if (geteuid() != 0 || !std::filesystem::exists("/sys/fs/cgroup/memory/cgroup.procs")) {
    GTEST_SKIP() << "no cgroup v1 memory controller at /sys/fs/cgroup/memory";
  }
  setenv("KILN_CGROUP", "v1", 1);
  ProcsWriteCountingOs os;
  Result<std::unique_ptr<Backend>> backend = MakeNamespaceBackend(os);
  unsetenv("KILN_CGROUP");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  ASSERT_EQ((*backend)->capabilities().cgroup_mode, "v1");
  LaunchOptions o;
  o.init_binary_fd = open("/bin/sh", O_PATH | O_CLOEXEC);
  o.argv = {"sh", "-c", "sleep 100 & sleep 100 & wait"};
  Result<std::unique_ptr<Sandbox>> sb = (*backend)->Launch(SandboxSpec(), o);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  const std::string root = (*backend)->capabilities().cgroup_root;
  for (const char* ctrl : {"memory", "pids", "cpu"}) {
    std::string dir = root + "/" + ctrl + "/kiln/" + (*sb)->id();
    if (!std::filesystem::exists(dir)) continue;  // a controller this host lacks
    Result<std::string> procs = Os::Real().ReadFile(dir + "/cgroup.procs");
    for (int i = 0; i < 100; ++i) {  // the two sleeps start after the launch returns
      procs = Os::Real().ReadFile(dir + "/cgroup.procs");
      if (procs.ok() && std::count(procs->begin(), procs->end(), '\n') >= 3) break;
      usleep(20'000);
    }
    ASSERT_TRUE(procs.ok()) << procs.status().ToString();
    EXPECT_NE(procs->find(std::to_string((*sb)->init_pid()) + "\n"), std::string::npos)
        << ctrl << ": " << *procs;
    EXPECT_EQ(std::count(procs->begin(), procs->end(), '\n'), 3) << ctrl << ": " << *procs;
  }
  EXPECT_EQ(os.procs_writes, 0);
  EXPECT_TRUE((*sb)->Destroy().ok());
  close(o.init_binary_fd);
}

// A Kiln process killed by SIGKILL leaves its sandboxes' empty cgroups behind; the next one removes them,
// but never a cgroup with a process in it, nor one so young that a launch may be about to fill it.
TEST(CgroupTest, SweepRemovesOnlyOldEmptyCgroups) {
  const std::string unified = "/sys/fs/cgroup/unified";
  if (geteuid() != 0 || !std::filesystem::exists(unified + "/cgroup.procs")) {
    GTEST_SKIP() << "no writable cgroup2 hierarchy at " << unified;
  }
  CgroupConfig config;
  config.mode = "v2";
  config.root = unified + "/kiln-sweep-test-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(config.root.c_str(), 0755), 0);
  // Sandbox ids are generated (RandomId); a cgroup named otherwise is someone else's.
  const std::string stale = config.root + "/" + RandomId(), busy = config.root + "/" + RandomId(),
                    foreign = config.root + "/user.slice";
  for (const std::string& dir : {stale, busy, foreign}) ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  pid_t sleeper = fork();
  if (sleeper == 0) {
    pause();
    _exit(0);
  }
  ASSERT_TRUE(Os::Real().WriteFile(busy + "/cgroup.procs", std::to_string(sleeper)).ok());

  EXPECT_EQ(SweepStaleCgroups(Os::Real(), config, 3600), 0);
  EXPECT_TRUE(std::filesystem::exists(stale));
  EXPECT_EQ(StaleCgroupCandidates(Os::Real(), config, 0), std::vector<std::string>{stale});
  EXPECT_EQ(SweepStaleCgroups(Os::Real(), config, 0), 1);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(busy));
  EXPECT_TRUE(std::filesystem::exists(foreign));
  rmdir(foreign.c_str());

  kill(sleeper, SIGKILL);
  waitpid(sleeper, nullptr, 0);
  // The kernel lets the cgroup go once the killed process is fully gone.
  bool removed = false;
  for (int i = 0; i < 250 && !removed; ++i) {
    removed = rmdir(busy.c_str()) == 0;
    if (!removed) usleep(20'000);
  }
  EXPECT_TRUE(removed);
  rmdir(config.root.c_str());
}

}  // namespace
}  // namespace kiln::sandbox
