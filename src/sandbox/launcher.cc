// The namespaces backend: clone() into new namespaces, map ids, join cgroups, release the child.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

#include "adopt.h"
#include "cgroup.h"
#include "cgrouped_sandbox.h"
#include "child.h"
#include "clone_vfork.h"
#include "idmap.h"
#include "kiln/base/ids.h"
#include "kiln/sandbox/sandbox.h"
#include "network.h"

namespace kiln::sandbox {
namespace {

// Host uid/gid that the sandbox's root maps to when Kiln runs as root: far from real users' ids.
constexpr uid_t kDefaultIdBase = 0x70000000;

// An empty sandbox cgroup this old was left by a Kiln process that died; a launch joins its cgroup within
// milliseconds of creating it.
constexpr int64_t kStaleCgroupSeconds = 60;
// Not -1000 (never killed): should envd itself ever be the one using the memory, it can still go.
constexpr char kInitOomScoreAdj[] = "-999";

uid_t IdBase() {
  const char* env = std::getenv("KILN_UID_BASE");
  return env ? static_cast<uid_t>(std::strtoul(env, nullptr, 10)) : kDefaultIdBase;
}

// The sandbox's ids when Kiln is root: 0-65535 (root, Debian's system users and groups such as staff,
// `user` at 1000, nobody), far from the host's real users. Package scripts in a template chown to system
// ids; an unmapped id would fail with EINVAL.
std::string PrivilegedIdMap() {
  return "0 " + std::to_string(IdBase()) + " " + std::to_string(kSandboxIdCount) + "\n";
}

std::string RuntimeDir(bool privileged) {
  if (privileged) return "/run/kiln";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return std::string(xdg) + "/kiln";
  return "/tmp/kiln-" + std::to_string(geteuid());
}

class NamespaceSandbox final : public CgroupedSandbox {
 public:
  using CgroupedSandbox::CgroupedSandbox;
  ~NamespaceSandbox() override { (void)Destroy(); }

  void set_network(UserNetwork network) { network_ = std::move(network); }

  Result<ExitInfo> Wait(int64_t timeout_ms) override {
    if (init_gone_) return exit_;
    pollfd p{pidfd_.get(), POLLIN, 0};
    int rc;
    do rc = poll(&p, 1, timeout_ms < 0 ? -1 : static_cast<int>(timeout_ms));
    while (rc < 0 && errno == EINTR);
    if (rc < 0) return ErrnoStatus("poll(pidfd)", errno);
    if (rc == 0) return DeadlineExceeded("sandbox " + id_ + " is still running");
    return Reap();
  }

  Status Kill() override {
    if (init_gone_) return Status::Ok();
    KILN_RETURN_IF_ERROR(SendKill());
    // A frozen init acts on SIGKILL only once thawed (cgroup v1): thaw, or the reap waits forever.
    if (cgroup_ && cgroup_->Frozen()) (void)cgroup_->SetFrozen(false);
    Result<ExitInfo> r = Reap();
    return r.ok() ? Status::Ok() : r.status();
  }

 private:
  Result<ExitInfo> Reap() {
    int status = 0;
    pid_t got;
    do got = waitpid(pid_, &status, __WALL);
    while (got < 0 && errno == EINTR);
    if (got < 0) return ErrnoStatus("waitpid(sandbox init " + std::to_string(pid_) + ")", errno);
    init_gone_ = true;
    network_.Stop();  // its namespace is empty now
    if (WIFSIGNALED(status)) {
      exit_.signal = WTERMSIG(status);
      exit_.exit_code = 128 + exit_.signal;
    } else {
      exit_.exit_code = WEXITSTATUS(status);
    }
    exit_.oom_killed = OomKilled();
    return exit_;
  }

  ExitInfo exit_;
  UserNetwork network_;
};

Status UserNamespaceError(int err) {
  return Status(Code::kFailedPrecondition,
                std::string("cannot create the sandbox's namespaces (clone: ") + std::strerror(err) +
                    "). Kiln needs user namespaces: run as root, or allow unprivileged ones with "
                    "`sysctl -w kernel.unprivileged_userns_clone=1` (Debian), "
                    "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 23.10+), and "
                    "`sysctl -w user.max_user_namespaces=15000`");
}

struct LaunchState;

class NamespaceBackend final : public Backend {
 public:
  NamespaceBackend(Os& os, Capabilities caps, CgroupConfig cgroups, UniqueFd idmap_userns)
      : os_(os),
        caps_(std::move(caps)),
        cgroups_(std::move(cgroups)),
        idmap_userns_(std::move(idmap_userns)) {}

  const Capabilities& capabilities() const override { return caps_; }

  Result<std::unique_ptr<Sandbox>> Launch(const SandboxSpec& spec, const LaunchOptions& options) override;
  Result<std::unique_ptr<Sandbox>> Adopt(const std::string& id) override {
    return AdoptSandbox(os_, cgroups_, id);
  }

 private:
  Status WriteIdMaps(pid_t pid);
  void ReleaseChild(int sync_fd, LaunchState& launch);
  pid_t Clone(ChildPlan& plan, uint64_t flags, const std::string& cgroup_dir, LaunchState& launch,
              int* pidfd);
  Result<ChildPlan> MakePlan(const SandboxSpec& spec, const LaunchOptions& options,
                             const std::string& new_root, const std::vector<EgressRoute>& routes);

  Os& os_;
  Capabilities caps_;
  CgroupConfig cgroups_;
  UniqueFd idmap_userns_;  // privileged only: lends the sandbox's id map to idmapped lower layers
  std::atomic<bool> may_lower_oom_score_{true};  // false once the host refused (no CAP_SYS_RESOURCE)
};

Status NamespaceBackend::WriteIdMaps(pid_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  if (caps_.privileged) {
    std::string map = PrivilegedIdMap();
    KILN_RETURN_IF_ERROR(os_.WriteFile(proc + "/uid_map", map));
    return os_.WriteFile(proc + "/gid_map", map);
  }
  KILN_RETURN_IF_ERROR(os_.WriteFile(proc + "/uid_map",
                                     std::to_string(kSandboxUid) + " " + std::to_string(geteuid()) + " 1\n"));
  KILN_RETURN_IF_ERROR(os_.WriteFile(proc + "/setgroups", "deny"));
  return os_.WriteFile(proc + "/gid_map",
                       std::to_string(kSandboxGid) + " " + std::to_string(getegid()) + " 1\n");
}

Result<ChildPlan> NamespaceBackend::MakePlan(const SandboxSpec& spec, const LaunchOptions& options,
                                             const std::string& new_root,
                                             const std::vector<EgressRoute>& routes) {
  ChildPlan plan;
  plan.os = &os_;
  Identity identity;
  if (!caps_.privileged) identity.root_uid = kSandboxUid;
  identity.idmap_userns_fd = idmap_userns_.get();
  identity.host_user_uid = caps_.privileged ? IdBase() + kSandboxUid : geteuid();
  identity.host_user_gid = caps_.privileged ? IdBase() + kSandboxGid : getegid();
  KILN_ASSIGN_OR_RETURN(plan.mounts, BuildMountPlan(spec, new_root, identity, os_, caps_.privileged));
  KILN_ASSIGN_OR_RETURN(plan.seccomp, DefaultSeccompProgram());
  plan.hostname = spec.hostname;
  plan.setup_loopback = true;
  plan.egress_routes = routes.data();
  plan.egress_route_count = routes.size();
  plan.new_cgroup_namespace = true;
  plan.die_with_parent = options.die_with_parent;
  plan.become_root = caps_.privileged;
  plan.fds = options.fds;
  plan.max_file_bytes = spec.limits.max_file_bytes;
  plan.max_open_files = spec.limits.max_open_files;
  // Since Linux 5.14 RLIMIT_NPROC counts per user namespace, so it bounds this sandbox alone.
  if (!caps_.pids_limit) plan.max_processes = spec.limits.pids;
  plan.init_fd = options.init_binary_fd;
  return plan;
}

// One message from the child: kHello (true), a ChildFailure (its Status), or the end of the channel
// (false: the child has exec'd, or is gone).
Result<bool> ReceiveFromChild(int sync_fd) {
  ChildFailure failure{};
  ssize_t n;
  do n = recv(sync_fd, &failure, sizeof failure, 0);
  while (n < 0 && errno == EINTR);
  if (n == 0) return false;
  if (n < 0) return ErrnoStatus("recv(sandbox setup channel)", errno);
  if (n == 1 && *reinterpret_cast<const char*>(&failure) == kHello) return true;
  failure.message[sizeof failure.message - 1] = '\0';
  return Status(static_cast<Code>(failure.code), failure.message);
}

// Between clone() and the child's release; shared by the launching thread and the releasing one.
struct LaunchState {
  pid_t pid = 0;  // written by the kernel (CLONE_PARENT_SETTID) before the child runs
  // Born in its cgroup (CLONE_INTO_CGROUP) or joining it itself (v1 tasks files): no Attach.
  std::atomic<bool> in_cgroup{false};
  Cgroup* cgroup = nullptr;
  bool released = false;           // the child said hello and was sent go
  UserNetwork* network = nullptr;  // started once the id maps are written, before go
  Status status;
};

// The parent's half of the sync protocol. It runs on a thread of its own because the launching thread may
// be suspended in clone() until the child execs.
void NamespaceBackend::ReleaseChild(int sync_fd, LaunchState& launch) {
  Result<bool> hello = ReceiveFromChild(sync_fd);
  if (!hello.ok() || !*hello) {  // no child ran (the clone's error is reported), or it failed already
    launch.status = hello.status();
    return;
  }
  pid_t pid = std::atomic_ref<pid_t>(launch.pid).load();
  Status s = WriteIdMaps(pid).WithContext("writing the sandbox's uid/gid maps");
  // The sandbox's init (kiln-envd) should be the OOM killer's last choice in its own cgroup: killing it ends
  // the sandbox. Lowering a score takes CAP_SYS_RESOURCE, which some hosts (containers) withhold: then envd's
  // raising of its children's scores is the only protection. The child is a vfork child, so the write does
  // not spread to this process, whose memory it shares until exec. A host that refuses once refuses always:
  // later launches skip the write.
  if (s.ok() && caps_.privileged && may_lower_oom_score_.load(std::memory_order_relaxed)) {
    Status lowered = os_.WriteFile("/proc/" + std::to_string(pid) + "/oom_score_adj", kInitOomScoreAdj);
    if (lowered.code() == Code::kPermissionDenied)
      may_lower_oom_score_.store(false, std::memory_order_relaxed);
  }
  if (s.ok() && launch.network)
    s = launch.network->Start(pid, !caps_.privileged).WithContext("starting the sandbox's network");
  if (s.ok() && launch.cgroup && !launch.in_cgroup.load())
    s = launch.cgroup->Attach(pid).WithContext("joining the sandbox's cgroup");
  if (s.ok() && send(sync_fd, &kGo, 1, MSG_NOSIGNAL) != 1) s = ErrnoStatus("send(go to sandbox)", errno);
  if (!s.ok()) shutdown(sync_fd, SHUT_RDWR);  // the waiting child sees the end and exits
  launch.released = s.ok();
  launch.status = s;
}

// The v1 files the child writes "0" to (Cgroup::SelfJoinFiles), or none: then the releaser Attaches it,
// which is slower but needs nothing open. All or nothing, so a cgroup is never half joined.
std::vector<UniqueFd> OpenSelfJoinFiles(Cgroup* cgroup) {
  std::vector<UniqueFd> fds;
  if (!cgroup) return fds;
  for (const std::string& path : cgroup->SelfJoinFiles()) {
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return {};
    fds.push_back(std::move(fd));
  }
  return fds;
}

// Born in its cgroup, the child skips the cgroup.procs write of Attach. That write takes the kernel's
// threadgroup rwsem for writing, which waits for an RCU grace period: about 10 ms per launch on an
// otherwise idle host, more than the rest of the launch. Kernels before 5.7 (ENOSYS, E2BIG, EINVAL) and any
// other refusal fall back to Attach; that attempt's error is the one reported.
pid_t NamespaceBackend::Clone(ChildPlan& plan, uint64_t flags, const std::string& cgroup_dir,
                              LaunchState& launch, int* pidfd) {
  CloneRequest request{
      .flags = flags, .fn = ChildMain, .arg = &plan, .parent_tid = &launch.pid, .pidfd = pidfd};
  if (!cgroup_dir.empty()) {
    UniqueFd dir(open(cgroup_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir) {
      launch.in_cgroup = true;
      request.cgroup_fd = dir.get();
      pid_t pid = CloneChild(request);
      if (pid > 0) return pid;
      launch.in_cgroup = false;
      request.cgroup_fd = -1;
    }
  }
  return CloneChild(request);
}

Result<std::unique_ptr<Sandbox>> NamespaceBackend::Launch(const SandboxSpec& spec,
                                                          const LaunchOptions& options) {
  KILN_RETURN_IF_ERROR(spec.Validate());
  if (options.init_binary_fd < 0 || options.argv.empty())
    return InvalidArgument("launch: no init program given");
  if (options.fds.size() > kMaxMappedFds)
    return InvalidArgument("launch: more than " + std::to_string(kMaxMappedFds) + " fds to pass in");
  std::string id = options.id.empty() ? RandomId() : options.id;
  std::string new_root = RuntimeDir(caps_.privileged);
  std::vector<EgressRoute> routes;
  UserNetwork network;
  if (spec.network) {
    KILN_ASSIGN_OR_RETURN(routes, PlanEgressRoutes(spec.network_rules));
    KILN_ASSIGN_OR_RETURN(network, UserNetwork::Prepare());
  }
  KILN_ASSIGN_OR_RETURN(ChildPlan plan, MakePlan(spec, options, new_root, routes));
  plan.network_hold_fd = network.hold_fd();
  std::vector<std::string> argv = options.argv, envp = options.envp;
  for (auto& a : argv) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (auto& e : envp) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);

  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Cgroup> cgroup, Cgroup::Create(os_, cgroups_, id, spec.limits));
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    if (cgroup) (void)cgroup->Remove();
    return ErrnoStatus("socketpair", errno);
  }
  UniqueFd parent_end(pair[0]), child_end(pair[1]);
  plan.sync_fd = child_end.get();
  plan.parent_sync_fd = parent_end.get();

  uint64_t flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;
  LaunchState launch;
  launch.cgroup = cgroup.get();
  if (spec.network) launch.network = &network;
  std::vector<UniqueFd> join_fds = OpenSelfJoinFiles(cgroup.get());
  for (const UniqueFd& fd : join_fds) plan.cgroup_join_fds.push_back(fd.get());
  launch.in_cgroup = !join_fds.empty();
  std::thread releaser;
  try {
    releaser = std::thread([&] { ReleaseChild(parent_end.get(), launch); });
  } catch (const std::system_error& e) {
    if (cgroup) (void)cgroup->Remove();
    return ResourceExhausted(std::string("starting a thread to release the sandbox: ") + e.what());
  }
  int pidfd = -1;
  // The child dies with this thread (PR_SET_PDEATHSIG), so this thread, not the releaser, clones.
  pid_t pid = Clone(plan, flags, cgroup ? cgroup->CloneIntoDir() : "", launch, &pidfd);
  child_end.reset();  // with no child, the releaser sees the channel end
  releaser.join();
  if (pid < 0) {
    if (cgroup) (void)cgroup->Remove();
    return UserNamespaceError(-pid);
  }
  auto sandbox = std::make_unique<NamespaceSandbox>(id, pid, UniqueFd(pidfd), std::move(cgroup));
  sandbox->set_network(std::move(network));
  // From here the sandbox object owns the child: an early return destroys it (kill, reap, cgroup removal).
  Status s = launch.status;
  if (s.ok() && !launch.released) s = Internal("the sandbox's first process died before it was released");
  if (s.ok()) {
    Result<bool> end = ReceiveFromChild(parent_end.get());
    s = !end.ok() ? end.status() : *end ? Internal("unexpected hello from the sandbox") : Status::Ok();
  }
  if (!s.ok()) return s.WithContext("starting sandbox " + id);
  return std::unique_ptr<Sandbox>(std::move(sandbox));
}

Capabilities ProbeCapabilities(const CgroupConfig& cgroups) {
  Capabilities caps;
  caps.privileged = geteuid() == 0;
  caps.cgroup_mode = cgroups.mode;
  caps.cgroup_root = cgroups.root;
  caps.memory_limit = cgroups.memory;
  caps.pids_limit = cgroups.pids;
  caps.cpu_limit = cgroups.cpu;
  caps.warnings = cgroups.warnings;
  if (!caps.privileged) {
    caps.warnings.push_back(
        "not running as root: the sandbox has a single user (uid 1000); there is no root user inside it");
  }
  if (!caps.pids_limit)
    caps.warnings.push_back("process count bounded by RLIMIT_NPROC instead of a pids cgroup");
  return caps;
}

}  // namespace

std::vector<std::string> LeftoverCgroups(Os& os, bool remove) {
  CgroupConfig cgroups = ProbeCgroups(os);
  std::vector<std::string> found = StaleCgroupCandidates(os, cgroups, kStaleCgroupSeconds), out;
  for (const std::string& dir : found)
    if (!remove || os.RemoveDir(dir).ok()) out.push_back(dir);
  return out;
}

Result<std::unique_ptr<Backend>> MakeNamespaceBackend(Os& os) {
  std::string runtime_dir = RuntimeDir(geteuid() == 0);
  if (mkdir(runtime_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus("mkdir(" + runtime_dir + ") for the sandbox mount point", errno);
  }
  CgroupConfig cgroups = ProbeCgroups(os);
  (void)SweepStaleCgroups(os, cgroups, kStaleCgroupSeconds);
  Capabilities caps = ProbeCapabilities(cgroups);
  UniqueFd idmap_userns;
  if (caps.privileged) {
    // Without it the sandbox's root sees the host's /usr owned by nobody and cannot change its own copy.
    Result<UniqueFd> ns = MakeIdmapNamespace(PrivilegedIdMap());
    if (ns.ok()) {
      idmap_userns = std::move(*ns);
    } else {
      caps.warnings.push_back(ns.status().ToString() + ": the sandbox's root cannot change /usr");
    }
  }
  return std::unique_ptr<Backend>(
      std::make_unique<NamespaceBackend>(os, std::move(caps), std::move(cgroups), std::move(idmap_userns)));
}

}  // namespace kiln::sandbox
