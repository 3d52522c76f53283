#include "cgroup.h"

#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <functional>
#include <thread>

#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/base/strings.h"

namespace kiln::sandbox {
namespace {

// Mount points of each cgroup hierarchy, from /proc/self/mounts: "cgroup2" or a v1 controller name -> path.
std::vector<std::pair<std::string, std::string>> CgroupMounts(Os& os) {
  std::vector<std::pair<std::string, std::string>> out;
  Result<std::string> mounts = os.ReadFile("/proc/self/mounts");
  if (!mounts.ok()) return out;
  for (const std::string& line : Split(*mounts, '\n')) {
    std::vector<std::string> f = Split(line, ' ');
    if (f.size() < 4) continue;
    if (f[2] == "cgroup2") out.emplace_back("cgroup2", f[1]);
    if (f[2] != "cgroup") continue;
    for (const std::string& opt : Split(f[3], ',')) {
      if (opt == "memory" || opt == "pids" || opt == "cpu" || opt == "freezer") out.emplace_back(opt, f[1]);
    }
  }
  return out;
}

std::string MountOf(const std::vector<std::pair<std::string, std::string>>& mounts, const std::string& kind) {
  for (const auto& [k, path] : mounts) {
    if (k == kind) return path;
  }
  return "";
}

Status MakeDirIfMissing(Os& os, const std::string& path) {
  Status s = os.MakeDir(path, 0755);
  if (s.ok() || s.code() == Code::kAlreadyExists) return Status::Ok();
  return s;
}

void ProbeV2(Os& os, CgroupConfig& config) {
  std::string parent = config.root.substr(0, config.root.rfind('/'));
  Status made = MakeDirIfMissing(os, config.root);
  if (!made.ok()) {
    config.warnings.push_back("cgroup v2: cannot create " + config.root + " (" + made.message() +
                              "): memory, pids and CPU limits are not applied");
    config.mode = "none";
    return;
  }
  // Controllers must be enabled in the parent's and our own subtree_control to reach sandbox cgroups.
  for (const char* ctrl : {"memory", "pids", "cpu"}) {
    std::string enable = std::string("+") + ctrl;
    (void)os.WriteFile(parent + "/cgroup.subtree_control", enable);
    (void)os.WriteFile(config.root + "/cgroup.subtree_control", enable);
  }
  Result<std::string> enabled = os.ReadFile(config.root + "/cgroup.subtree_control");
  std::vector<std::string> have =
      enabled.ok() ? Split(std::string(Trim(*enabled)), ' ') : std::vector<std::string>{};
  auto has = [&](const char* c) {
    for (const auto& h : have) {
      if (h == c) return true;
    }
    return false;
  };
  config.memory = has("memory");
  config.pids = has("pids");
  config.cpu = has("cpu");
  for (const char* ctrl : {"memory", "pids", "cpu"}) {
    if (!has(ctrl)) {
      config.warnings.push_back(std::string("cgroup v2: the ") + ctrl + " controller is not available in " +
                                config.root + ": that limit is not applied");
    }
  }
}

// Under systemd with Delegate=yes (or any delegated subtree) this process's own cgroup is Kiln's to divide,
// but a v2 cgroup that gives controllers to children may hold no process itself: Kiln moves into a leaf
// named "server" and makes its cgroup the parent of the sandboxes' cgroups. Returns that parent.
Result<std::string> EnterDelegatedSubtree(Os& os) {
  KILN_ASSIGN_OR_RETURN(std::string self, os.ReadFile("/proc/self/cgroup"));
  std::string path;
  for (const std::string& line : Split(self, '\n'))
    if (StartsWith(line, "0::")) path = std::string(Trim(line.substr(3)));
  if (path.empty()) return FailedPrecondition("no cgroup v2 entry in /proc/self/cgroup");
  std::string own = "/sys/fs/cgroup" + (path == "/" ? "" : path);
  constexpr std::string_view kLeaf = "/server";
  if (own.size() > kLeaf.size() && own.compare(own.size() - kLeaf.size(), kLeaf.size(), kLeaf) == 0)
    return own.substr(0, own.size() - kLeaf.size());  // moved already (an earlier backend of this process)
  KILN_RETURN_IF_ERROR(MakeDirIfMissing(os, own + "/server"));
  KILN_RETURN_IF_ERROR(os.WriteFile(own + "/server/cgroup.procs", "0"));
  return own;
}

}  // namespace

CgroupConfig ProbeCgroups(Os& os) {
  CgroupConfig config;
  const char* forced = std::getenv("KILN_CGROUP");
  const char* forced_root = std::getenv("KILN_CGROUP_ROOT");
  std::string mode = forced ? forced : "";
  auto mounts = CgroupMounts(os);
  if (mode.empty()) {
    if (MountOf(mounts, "cgroup2") == "/sys/fs/cgroup") {
      mode = "v2";
    } else if (!MountOf(mounts, "memory").empty() || !MountOf(mounts, "pids").empty()) {
      mode = "v1";
    } else {
      mode = "none";
    }
  }
  config.mode = mode;
  if (mode == "none") {
    config.warnings.push_back("no usable cgroup hierarchy: memory, pids and CPU limits are not applied");
    return config;
  }
  if (geteuid() != 0 && !forced_root) {
    config.mode = "none";
    config.warnings.push_back(
        "not running as root: cgroup limits (memory, pids, CPU) are not applied; run as root, or set "
        "KILN_CGROUP_ROOT to a cgroup v2 directory delegated to this user");
    return config;
  }
  if (mode == "v2") {
    config.root = forced_root ? forced_root : "/sys/fs/cgroup/kiln";
    if (forced_root && std::string(forced_root) == "delegated") {
      Result<std::string> root = EnterDelegatedSubtree(os);
      if (!root.ok()) {
        config.mode = "none";
        config.warnings.push_back("KILN_CGROUP_ROOT=delegated: " + root.status().message() +
                                  ": memory, pids and CPU limits are not applied");
        return config;
      }
      config.root = *root;
    }
    ProbeV2(os, config);
    config.freezer = config.mode == "v2";
    return config;
  }
  config.root = forced_root ? forced_root : "/sys/fs/cgroup";
  config.memory = !MountOf(mounts, "memory").empty();
  config.pids = !MountOf(mounts, "pids").empty();
  config.cpu = !MountOf(mounts, "cpu").empty();
  config.freezer = !MountOf(mounts, "freezer").empty();
  if (!config.freezer)
    config.warnings.push_back("cgroup v1: no freezer hierarchy: sandboxes cannot be paused");
  return config;
}

namespace {

int64_t ReadCounter(Os& os, const std::string& path, const std::string& key) {
  Result<std::string> text = os.ReadFile(path);
  if (!text.ok()) return 0;
  for (const std::string& line : Split(*text, '\n')) {
    std::vector<std::string> kv = Split(line, ' ');
    if (kv.size() == 2 && kv[0] == key) return std::atoll(kv[1].c_str());
  }
  return 0;
}

int64_t ReadNumber(Os& os, const std::string& path) {
  Result<std::string> text = os.ReadFile(path);
  return text.ok() ? std::atoll(text->c_str()) : 0;
}

Status KillListedProcesses(Os& os, const std::string& procs_file) {
  Result<std::string> procs = os.ReadFile(procs_file);
  if (!procs.ok()) return procs.status().code() == Code::kNotFound ? Status::Ok() : procs.status();
  for (const std::string& line : Split(*procs, '\n')) {
    if (!line.empty()) (void)os.Kill(static_cast<pid_t>(std::atoi(line.c_str())), SIGKILL);
  }
  return Status::Ok();
}

// rmdir fails with EBUSY until the last exiting task has left; wait for that, briefly.
Status RemoveWithRetry(Os& os, const std::string& dir) {
  int64_t deadline = MonotonicMillis() + 3000;
  for (;;) {
    Status s = os.RemoveDir(dir);
    if (s.ok() || s.code() == Code::kNotFound) return Status::Ok();
    if (MonotonicMillis() > deadline) return s;
    (void)KillListedProcesses(os, dir + "/cgroup.procs");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::vector<pid_t> ListedProcesses(Os& os, const std::string& procs_file) {
  std::vector<pid_t> pids;
  Result<std::string> procs = os.ReadFile(procs_file);
  if (!procs.ok()) return pids;
  for (const std::string& line : Split(*procs, '\n'))
    if (!line.empty()) pids.push_back(static_cast<pid_t>(std::atoi(line.c_str())));
  return pids;
}

// Writes the freeze request, then waits for the kernel to report it done (freezing is asynchronous).
Status WaitForFreezerState(const std::string& what, const std::function<bool()>& reached) {
  int64_t deadline = MonotonicMillis() + 2000;
  while (!reached()) {
    if (MonotonicMillis() > deadline) return DeadlineExceeded(what + ": the kernel did not finish in 2 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::Ok();
}

// utime + stime + cutime + cstime of `pid` (/proc/PID/stat fields 14-17), in nanoseconds.
int64_t ProcessCpuNanos(Os& os, pid_t pid) {
  Result<std::string> stat = os.ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return 0;
  size_t paren = stat->rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> f = Split(stat->substr(paren + 2), ' ');  // f[0] is field 3 (state)
  if (f.size() < 15) return 0;
  int64_t ticks = 0;
  for (int i = 11; i <= 14; ++i) ticks += std::atoll(f[i].c_str());
  return ticks * (1'000'000'000 / sysconf(_SC_CLK_TCK));
}

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(Os& os, std::string dir) : os_(os), dir_(std::move(dir)) {}
  Status Attach(pid_t pid) override { return os_.WriteFile(dir_ + "/cgroup.procs", std::to_string(pid)); }
  std::string CloneIntoDir() const override { return dir_; }
  bool OomKilled() override { return ReadCounter(os_, dir_ + "/memory.events", "oom_kill") > 0; }
  int64_t PeakMemoryBytes() override { return ReadNumber(os_, dir_ + "/memory.peak"); }
  Status KillAll() override {
    // cgroup.kill reaches frozen processes too (SIGKILL wakes them on v2).
    Status s = os_.WriteFile(dir_ + "/cgroup.kill", "1");
    if (s.code() == Code::kNotFound) s = KillListedProcesses(os_, dir_ + "/cgroup.procs");  // before 5.14
    if (Frozen()) (void)SetFrozen(false);
    return s;
  }
  std::vector<pid_t> Processes() override { return ListedProcesses(os_, dir_ + "/cgroup.procs"); }
  Status SetFrozen(bool frozen) override {
    KILN_RETURN_IF_ERROR(os_.WriteFile(dir_ + "/cgroup.freeze", frozen ? "1" : "0"));
    return WaitForFreezerState(frozen ? "freezing" : "thawing", [&] { return Frozen() == frozen; });
  }
  bool Frozen() override { return ReadCounter(os_, dir_ + "/cgroup.events", "frozen") == 1; }
  Usage CurrentUsage() override {
    Usage u;
    u.cpu_ns = ReadCounter(os_, dir_ + "/cpu.stat", "usage_usec") * 1000;
    u.memory_bytes = ReadNumber(os_, dir_ + "/memory.current");
    u.memory_limit_bytes = ReadNumber(os_, dir_ + "/memory.max");  // 0 for "max"
    u.memory_cache_bytes = ReadCounter(os_, dir_ + "/memory.stat", "file");
    return u;
  }
  Status Remove() override { return RemoveWithRetry(os_, dir_); }

 private:
  Os& os_;
  std::string dir_;
};

class CgroupV1 final : public Cgroup {
 public:
  CgroupV1(Os& os, std::vector<std::pair<std::string, std::string>> dirs) : os_(os), dirs_(std::move(dirs)) {}
  Status Attach(pid_t pid) override {
    for (const auto& [ctrl, dir] : dirs_)
      KILN_RETURN_IF_ERROR(os_.WriteFile(dir + "/cgroup.procs", std::to_string(pid)));
    return Status::Ok();
  }
  std::vector<std::string> SelfJoinFiles() const override {
    std::vector<std::string> files;
    for (const auto& [ctrl, dir] : dirs_) files.push_back(dir + "/tasks");
    return files;
  }
  bool OomKilled() override {
    std::string mem = Dir("memory");
    return !mem.empty() && ReadCounter(os_, mem + "/memory.oom_control", "oom_kill") > 0;
  }
  int64_t PeakMemoryBytes() override {
    std::string mem = Dir("memory");
    return mem.empty() ? 0 : ReadNumber(os_, mem + "/memory.max_usage_in_bytes");
  }
  Status KillAll() override {
    for (const auto& [ctrl, dir] : dirs_)
      KILN_RETURN_IF_ERROR(KillListedProcesses(os_, dir + "/cgroup.procs"));
    // On v1 a frozen process acts on SIGKILL only once thawed.
    if (!Dir("freezer").empty() && Frozen()) (void)SetFrozen(false);
    return Status::Ok();
  }
  std::vector<pid_t> Processes() override {
    return dirs_.empty() ? std::vector<pid_t>{}
                         : ListedProcesses(os_, dirs_.front().second + "/cgroup.procs");
  }
  Status SetFrozen(bool frozen) override {
    std::string dir = Dir("freezer");
    if (dir.empty()) return Unimplemented("pausing needs the cgroup v1 freezer hierarchy, not mounted here");
    KILN_RETURN_IF_ERROR(os_.WriteFile(dir + "/freezer.state", frozen ? "FROZEN" : "THAWED"));
    return WaitForFreezerState(frozen ? "freezing" : "thawing", [&] { return Frozen() == frozen; });
  }
  bool Frozen() override {
    std::string dir = Dir("freezer");
    if (dir.empty()) return false;
    Result<std::string> state = os_.ReadFile(dir + "/freezer.state");
    return state.ok() && Trim(*state) == "FROZEN";  // FREEZING while under way
  }
  Usage CurrentUsage() override {
    Usage u;
    for (pid_t pid : Processes()) u.cpu_ns += ProcessCpuNanos(os_, pid);
    std::string mem = Dir("memory");
    if (mem.empty()) return u;
    u.memory_bytes = ReadNumber(os_, mem + "/memory.usage_in_bytes");
    u.memory_limit_bytes = ReadNumber(os_, mem + "/memory.limit_in_bytes");
    u.memory_cache_bytes = ReadCounter(os_, mem + "/memory.stat", "cache");
    return u;
  }
  Status Remove() override {
    Status first;
    for (const auto& [ctrl, dir] : dirs_) {
      Status s = RemoveWithRetry(os_, dir);
      if (first.ok() && !s.ok()) first = s;
    }
    return first;
  }

 private:
  std::string Dir(const std::string& ctrl) const {
    for (const auto& [c, d] : dirs_) {
      if (c == ctrl) return d;
    }
    return "";
  }
  Os& os_;
  std::vector<std::pair<std::string, std::string>> dirs_;  // controller -> sandbox directory
};

// A limit value as cgroup files spell it; 0 means unlimited.
std::string LimitValue(int64_t value, const char* unlimited) {
  return value == 0 ? unlimited : std::to_string(value);
}

Result<std::unique_ptr<Cgroup>> CreateV2(Os& os, const CgroupConfig& c, const std::string& id,
                                         const Limits& l) {
  std::string dir = c.root + "/" + id;
  KILN_RETURN_IF_ERROR(os.MakeDir(dir, 0755));
  auto cg = std::make_unique<CgroupV2>(os, dir);
  auto write = [&](const char* file, const std::string& value) -> Status {
    Status s = os.WriteFile(dir + "/" + file, value);
    if (!s.ok()) (void)cg->Remove();
    return s;
  };
  if (c.memory) {
    KILN_RETURN_IF_ERROR(write("memory.max", LimitValue(l.memory_bytes, "max")));
    (void)os.WriteFile(dir + "/memory.swap.max", "0");  // absent when swap accounting is off
  }
  if (c.pids) KILN_RETURN_IF_ERROR(write("pids.max", LimitValue(l.pids, "max")));
  if (c.cpu && l.cpus > 0) {
    KILN_RETURN_IF_ERROR(write("cpu.max", std::to_string(static_cast<int64_t>(l.cpus * 100000)) + " 100000"));
  }
  return std::unique_ptr<Cgroup>(std::move(cg));
}

Result<std::unique_ptr<Cgroup>> CreateV1(Os& os, const CgroupConfig& c, const std::string& id,
                                         const Limits& l) {
  std::vector<std::pair<std::string, std::string>> dirs;
  for (const auto& [ctrl, enabled] :
       {std::pair{"memory", c.memory}, {"pids", c.pids}, {"cpu", c.cpu}, {"freezer", c.freezer}}) {
    if (!enabled) continue;
    std::string parent = c.root + "/" + ctrl + "/kiln";
    KILN_RETURN_IF_ERROR(MakeDirIfMissing(os, parent));
    KILN_RETURN_IF_ERROR(os.MakeDir(parent + "/" + id, 0755));
    dirs.emplace_back(ctrl, parent + "/" + id);
  }
  auto cg = std::make_unique<CgroupV1>(os, dirs);
  Status s;
  for (const auto& [ctrl, dir] : dirs) {
    if (ctrl == std::string("memory")) {
      s = os.WriteFile(dir + "/memory.limit_in_bytes", LimitValue(l.memory_bytes, "-1"));
      Status swap = os.WriteFile(dir + "/memory.memsw.limit_in_bytes", LimitValue(l.memory_bytes, "-1"));
      (void)swap;  // absent without swap accounting
    } else if (ctrl == std::string("pids")) {
      s = os.WriteFile(dir + "/pids.max", LimitValue(l.pids, "max"));
    } else if (ctrl == std::string("cpu") && l.cpus > 0) {
      s = os.WriteFile(dir + "/cpu.cfs_period_us", "100000");
      if (s.ok())
        s = os.WriteFile(dir + "/cpu.cfs_quota_us", std::to_string(static_cast<int64_t>(l.cpus * 100000)));
    }
    if (!s.ok()) {
      (void)cg->Remove();
      return s;
    }
  }
  return std::unique_ptr<Cgroup>(std::move(cg));
}

}  // namespace

std::vector<std::string> StaleCgroupCandidates(Os& os, const CgroupConfig& config, int64_t min_age_seconds) {
  std::vector<std::string> parents, out;
  if (config.mode == "v2") parents.push_back(config.root);
  if (config.mode == "v1") {
    for (const char* ctrl : {"memory", "pids", "cpu", "freezer"})
      parents.push_back(config.root + "/" + ctrl + "/kiln");
  }
  const int64_t newest = static_cast<int64_t>(std::time(nullptr)) - min_age_seconds;
  for (const std::string& parent : parents) {
    Result<std::vector<Subdir>> dirs = os.ListSubdirs(parent);
    if (!dirs.ok()) continue;  // no sandbox was ever created here
    for (const Subdir& dir : *dirs) {
      if (!HasRandomIdShape(dir.name) || dir.modified_unix_seconds > newest) continue;
      Result<std::string> procs = os.ReadFile(parent + "/" + dir.name + "/cgroup.procs");
      if (procs.ok() && Trim(*procs).empty()) out.push_back(parent + "/" + dir.name);
    }
  }
  return out;
}

int SweepStaleCgroups(Os& os, const CgroupConfig& config, int64_t min_age_seconds) {
  int removed = 0;
  for (const std::string& dir : StaleCgroupCandidates(os, config, min_age_seconds))
    if (os.RemoveDir(dir).ok()) ++removed;  // EBUSY: in use after all, left alone
  return removed;
}

Result<std::unique_ptr<Cgroup>> Cgroup::Create(Os& os, const CgroupConfig& config, const std::string& id,
                                               const Limits& limits) {
  if (config.mode == "v2") return CreateV2(os, config, id, limits);
  if (config.mode == "v1") return CreateV1(os, config, id, limits);
  return Result<std::unique_ptr<Cgroup>>(nullptr);
}

Result<std::unique_ptr<Cgroup>> Cgroup::Open(Os& os, const CgroupConfig& config, const std::string& id) {
  if (!HasRandomIdShape(id)) return InvalidArgument("not a sandbox id: '" + id + "'");
  auto exists = [&os](const std::string& dir) { return os.ReadFile(dir + "/cgroup.procs").ok(); };
  if (config.mode == "v2") {
    std::string dir = config.root + "/" + id;
    if (!exists(dir)) return NotFound("no cgroup " + dir);
    return std::unique_ptr<Cgroup>(std::make_unique<CgroupV2>(os, dir));
  }
  if (config.mode != "v1") return Result<std::unique_ptr<Cgroup>>(nullptr);
  std::vector<std::pair<std::string, std::string>> dirs;
  for (const auto& [ctrl, enabled] : {std::pair{"memory", config.memory},
                                      {"pids", config.pids},
                                      {"cpu", config.cpu},
                                      {"freezer", config.freezer}}) {
    std::string dir = config.root + "/" + ctrl + "/kiln/" + id;
    if (enabled && exists(dir)) dirs.emplace_back(ctrl, dir);
  }
  if (dirs.empty()) return NotFound("no cgroup of sandbox " + id + " under " + config.root);
  return std::unique_ptr<Cgroup>(std::make_unique<CgroupV1>(os, std::move(dirs)));
}

Usage SandboxUsage(Cgroup& cgroup, pid_t init) {
  Usage u = cgroup.CurrentUsage();
  int64_t host = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  if (u.memory_limit_bytes <= 0 || u.memory_limit_bytes > host) u.memory_limit_bytes = host;
  struct statvfs fs {};
  std::string home = "/proc/" + std::to_string(init) + "/root" + kSandboxHome;
  if (init > 0 && statvfs(home.c_str(), &fs) == 0) {
    u.disk_total_bytes = static_cast<int64_t>(fs.f_blocks * fs.f_frsize);
    u.disk_used_bytes = static_cast<int64_t>((fs.f_blocks - fs.f_bfree) * fs.f_frsize);
  }
  return u;
}

}  // namespace kiln::sandbox
