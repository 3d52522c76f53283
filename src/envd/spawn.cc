#include "kiln/envd/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "kiln/base/child_stack.h"
#include "kiln/base/strings.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace kiln::envd {
namespace {

// The child's checklist, in order. The numbers travel over the error pipe.
enum Step : int32_t {
  kSetsid = 1,
  kSignals,
  kStdio,
  kControllingTty,
  kCloseFds,
  kSetgroups,
  kSetresgid,
  kDropBoundingCaps,
  kClearAmbientCaps,
  kSetresuid,
  kClearCaps,
  kNoNewPrivs,
  kChdir,
  kExec,
};

const char* StepName(int32_t step) {
  static const char* const kNames[] = {"?",
                                       "setsid",
                                       "reset signals",
                                       "set up stdio",
                                       "set controlling terminal",
                                       "close fds",
                                       "setgroups",
                                       "setresgid",
                                       "drop bounding caps",
                                       "clear ambient caps",
                                       "setresuid",
                                       "clear caps",
                                       "no_new_privs",
                                       "chdir",
                                       "execve"};
  return step > 0 && step <= kExec ? kNames[step] : "?";
}

struct ChildFailure {
  int32_t step;
  int32_t err;
};

// Everything the child needs, built before fork: the child must not allocate.
struct Prepared {
  std::vector<std::string> candidates;  // program paths to try, in order
  std::vector<char*> argv;
  std::vector<char*> envp;
  bool privileged = false;      // envd is root (in its user namespace) and may change credentials
  uint64_t bounding_caps = 0;   // what the child must drop from its bounding set
  uint64_t kept_caps = 0;       // what it keeps (permitted and effective): root's bounded set, or nothing
  char oom_score_adj[16] = {};  // what the child writes to its oom_score_adj ("" leaves it alone)
};

// The OOM killer must pick envd last in its sandbox: envd cannot lower its own score without a privilege
// it lacks in a user namespace, so every child is raised 500 above it (the child always may raise its own).
void ChildOomScoreAdj(char (&out)[16]) {
  static const int own = [] {
    int value = 0;
    if (FILE* f = std::fopen("/proc/self/oom_score_adj", "r")) {
      if (std::fscanf(f, "%d", &value) != 1) value = 0;
      std::fclose(f);
    }
    return value;
  }();
  std::snprintf(out, sizeof out, "%d", std::clamp(own + 500, -1000, 1000));
}

// In the child: best effort (no /proc in the sandbox leaves the score as it was).
void RaiseOomScore(const Prepared& p) {
  if (p.oom_score_adj[0] == '\0') return;
  int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] ssize_t n = ::write(fd, p.oom_score_adj, std::strlen(p.oom_score_adj));
  ::close(fd);
}

// envd's bounding set, read once: it can only shrink, and dropping a capability that is already gone
// succeeds, so the first reading stays a safe list of what a child must drop (8 prctl calls, not 64).
uint64_t BoundingCaps() {
  static const uint64_t caps = [] {
    uint64_t bits = 0;
    for (int cap = 0; cap < 64; ++cap)
      if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) bits |= uint64_t{1} << cap;
    return bits;
  }();
  return caps;
}

std::string PathOf(const std::vector<std::string>& env) {
  for (const std::string& kv : env)
    if (StartsWith(kv, "PATH=")) return kv.substr(5);
  return kDefaultPath;
}

Prepared Prepare(const SpawnSpec& spec) {
  Prepared p;
  if (spec.program.find('/') != std::string::npos) {
    p.candidates.push_back(spec.program);
  } else {
    for (const std::string& dir : Split(PathOf(spec.env), ':'))
      p.candidates.push_back((dir.empty() ? "." : dir) + "/" + spec.program);
  }
  for (const std::string& a : spec.argv) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  for (const std::string& e : spec.env) p.envp.push_back(const_cast<char*>(e.c_str()));
  p.envp.push_back(nullptr);
  p.privileged = ::geteuid() == 0;
  uid_t target_uid = spec.identity ? spec.identity->uid : ::geteuid();
  if (p.privileged && target_uid == 0) p.kept_caps = BoundingCaps() & kSandboxRootCaps;
  if (p.privileged) p.bounding_caps = BoundingCaps() & ~p.kept_caps;
  ChildOomScoreAdj(p.oom_score_adj);
  return p;
}

[[noreturn]] void Fail(int pipe_fd, Step step, int err) {
  ChildFailure f{step, err};
  [[maybe_unused]] ssize_t n = ::write(pipe_fd, &f, sizeof f);
  ::_exit(127);
}

void SetUpStdio(const SpawnSpec& spec, int pipe_fd) {
  const int fds[3] = {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    int fd = fds[target];
    if (fd < 0) continue;
    // dup2 clears FD_CLOEXEC on the copy; an fd already in place needs it cleared by hand.
    int rc = fd == target ? ::fcntl(fd, F_SETFD, 0) : ::dup2(fd, target);
    if (rc < 0) Fail(pipe_fd, kStdio, errno);
  }
  for (size_t i = 0; i < spec.extra_fds.size(); ++i)
    if (::dup2(spec.extra_fds[i], static_cast<int>(3 + i)) < 0) Fail(pipe_fd, kStdio, errno);
}

void DropPrivileges(const SpawnSpec& spec, const Prepared& p, int pipe_fd) {
  if (spec.identity && p.privileged) {
    gid_t gid = spec.identity->gid;
    if (::syscall(SYS_setgroups, 1, &gid) != 0) Fail(pipe_fd, kSetgroups, errno);
    if (::syscall(SYS_setresgid, gid, gid, gid) != 0) Fail(pipe_fd, kSetresgid, errno);
  }
  if (p.privileged) {
    for (int cap = 0; cap < 64; ++cap) {
      if (!(p.bounding_caps & (uint64_t{1} << cap))) continue;
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
        Fail(pipe_fd, kDropBoundingCaps, errno);
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    Fail(pipe_fd, kClearAmbientCaps, errno);
  if (spec.identity && p.privileged) {
    uid_t uid = spec.identity->uid;
    if (::syscall(SYS_setresuid, uid, uid, uid) != 0) Fail(pipe_fd, kSetresuid, errno);
  }
  // setresuid to a non-zero uid already cleared the caps; root keeps its bounded set and no more (with
  // no_new_privs, execve then gives it exactly these: what it had, within the bounding set).
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int half = 0; half < 2; ++half) {
    auto bits = static_cast<uint32_t>(p.kept_caps >> (32 * half));
    data[half].permitted = data[half].effective = bits;
  }
  if (::syscall(SYS_capset, &header, data) != 0) Fail(pipe_fd, kClearCaps, errno);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(pipe_fd, kNoNewPrivs, errno);
}

[[noreturn]] void Exec(const Prepared& p, int pipe_fd) {
  int err = ENOENT;
  bool saw_eacces = false;
  for (const std::string& path : p.candidates) {
    ::execve(path.c_str(), p.argv.data(), p.envp.data());
    if (errno == EACCES) {
      saw_eacces = true;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
      break;
    }
  }
  if (saw_eacces && err == ENOENT) err = EACCES;  // execvp's rule: a found-but-denied file wins
  Fail(pipe_fd, kExec, err);
}

// Runs in the child, which shares envd's memory (CLONE_VM) until it execs: only raw system calls and
// async-signal-safe functions, no allocation, and credentials changed by raw syscalls (glibc's setresuid
// and friends would ask every thread of envd to change its ids too).
[[noreturn]] void ChildMain(const SpawnSpec& spec, const Prepared& p, int pipe_fd) {
  if (::setsid() < 0) Fail(pipe_fd, kSetsid, errno);
  if (int err = ResetSignalsInChild(); err != 0) Fail(pipe_fd, kSignals, err);
  RaiseOomScore(p);  // while still envd's identity, which owns /proc/self
  SetUpStdio(spec, pipe_fd);
  if (spec.controlling_tty && ::ioctl(STDIN_FILENO, TIOCSCTTY, 0) != 0) Fail(pipe_fd, kControllingTty, errno);
  // Mark every other fd close-on-exec: the error pipe and cwd fd stay usable until execve closes them.
  unsigned first_closed = 3u + static_cast<unsigned>(spec.extra_fds.size());
  if (::syscall(SYS_close_range, first_closed, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
    Fail(pipe_fd, kCloseFds, errno);
  DropPrivileges(spec, p, pipe_fd);
  // After dropping privileges, so the user needs search permission on the directory.
  if (spec.cwd_fd >= 0 && ::fchdir(spec.cwd_fd) != 0) Fail(pipe_fd, kChdir, errno);
  Exec(p, pipe_fd);
}

struct ChildArgs {
  const SpawnSpec* spec;
  const Prepared* prepared;
  int pipe_fd;
};

int ChildEntry(void* arg) {
  auto* a = static_cast<ChildArgs*>(arg);
  ChildMain(*a->spec, *a->prepared, a->pipe_fd);
}

// Like posix_spawn: CLONE_VM | CLONE_VFORK, so the kernel copies no page tables and neither side takes
// copy-on-write faults (envd is multi-threaded; a fork of it costs several times the exec that follows).
// This thread waits until the child has exec'd or failed; every signal stays blocked meanwhile so that no
// handler of envd's runs on the child's stack.
pid_t CloneVfork(ChildArgs& args, int* err) {
  Result<ChildStack> stack = ChildStack::Take();
  if (!stack.ok()) {
    *err = ENOMEM;
    return -1;
  }
  sigset_t all, saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &saved);
  pid_t pid = ::clone(ChildEntry, stack->top(), CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  *err = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return pid;
}

}  // namespace

Result<ForkedChild> ForkChild(const SpawnSpec& spec) {
  if (spec.program.empty()) return InvalidArgument("no program to execute");
  if (spec.argv.empty()) return InvalidArgument("argv must hold at least argv[0]");
  for (int fd : spec.extra_fds)
    if (fd < 3 + static_cast<int>(spec.extra_fds.size())) return InvalidArgument("extra fd too low");
  Prepared prepared = Prepare(spec);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  // The child places extra fds at 3, 4, ...: its error pipe must live above them.
  int lowest = 3 + static_cast<int>(spec.extra_fds.size());
  if (!spec.extra_fds.empty() && write_end.get() < lowest) {
    int moved = ::fcntl(write_end.get(), F_DUPFD_CLOEXEC, lowest);
    if (moved < 0) return ErrnoStatus("fcntl(F_DUPFD_CLOEXEC)", errno);
    write_end.reset(moved);
  }
  if (spec.cwd_fd >= 0 && spec.cwd_fd < lowest && !spec.extra_fds.empty())
    return InvalidArgument("cwd fd too low");
  ChildArgs args{&spec, &prepared, write_end.get()};
  int err = 0;
  pid_t pid = CloneVfork(args, &err);
  if (pid < 0) return ErrnoStatus("clone", err);
  return ForkedChild{pid, std::move(read_end)};
}

Status AwaitExec(ForkedChild& child, const SpawnSpec& spec, int* exec_errno) {
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(child.exec_status.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  child.exec_status.reset();
  if (exec_errno) *exec_errno = 0;
  if (n == 0) return Status::Ok();  // the pipe closed on a successful execve
  if (n != static_cast<ssize_t>(sizeof failure))
    return Internal("reading the exec status of the child failed");
  if (exec_errno) *exec_errno = failure.err;
  std::string what = failure.step == kExec ? "execve '" + spec.program + "'" : StepName(failure.step);
  // The caller's arguments and environment exceed the kernel's limit: their mistake, not envd's.
  if (failure.err == E2BIG)
    return InvalidArgument(what + ": the arguments and environment are too large (E2BIG)");
  return ErrnoStatus(what, failure.err);
}

std::vector<std::string> BuildEnv(const std::string& home, const std::string& user,
                                  const std::vector<std::pair<std::string, std::string>>& global,
                                  const std::vector<std::pair<std::string, std::string>>& call) {
  std::vector<std::pair<std::string, std::string>> vars = {
      {"PATH", kDefaultPath}, {"HOME", home}, {"USER", user}, {"LOGNAME", user}};
  auto set = [&vars](const std::string& key, const std::string& value) {
    for (auto& kv : vars) {
      if (kv.first == key) {
        kv.second = value;
        return;
      }
    }
    vars.emplace_back(key, value);
  };
  for (const auto& [k, v] : global) set(k, v);
  for (const auto& [k, v] : call) set(k, v);
  std::vector<std::string> out;
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

}  // namespace kiln::envd
