#include "runner_copies.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace kiln::envd {
namespace {

// "" when the process is gone. Plain read(2), not std::ifstream: libstdc++'s filebuf throws when read fails,
// and reading /proc/<pid>/cmdline of a process that is exiting fails with ESRCH.
std::string ReadProcFile(pid_t pid, const char* name) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      out.clear();
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// The process group of `pid` from /proc/<pid>/stat ("pid (comm) state ppid pgrp ..."); -1 if gone.
pid_t ProcessGroupOf(pid_t pid) {
  std::string stat = ReadProcFile(pid, "stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  char state = 0;
  long ppid = 0, pgrp = -1;
  if (std::sscanf(stat.c_str() + paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) return -1;
  return static_cast<pid_t>(pgrp);
}

std::vector<pid_t> GroupMembers(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (ProcessGroupOf(static_cast<pid_t>(pid)) == pgid) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

}  // namespace

int KillRunnerCopies(pid_t runner) {
  const std::string cmdline = ReadProcFile(runner, "cmdline");
  const pid_t pgid = ProcessGroupOf(runner);
  if (cmdline.empty() || pgid <= 0) return 0;
  int killed = 0;
  // A few rounds: a copy that was between fork and SIGSTOP may have left a child behind.
  for (int round = 0; round < 3; ++round) {
    if (::kill(-pgid, SIGSTOP) != 0) break;
    int found = 0;
    for (pid_t pid : GroupMembers(pgid)) {
      if (pid == runner || ReadProcFile(pid, "cmdline") != cmdline) continue;
      if (::kill(pid, SIGKILL) == 0) ++found;
    }
    ::kill(-pgid, SIGCONT);
    killed += found;
    if (found == 0) break;
  }
  return killed;
}

void KillProcessGroup(pid_t pgid) {
  if (pgid <= 0 || ::kill(-pgid, SIGKILL) != 0) return;
  // The pids limit frees a slot only when envd's reaper has reaped the process: wait for that, so the
  // next request can start a thread.
  for (int i = 0; i < 200 && !GroupMembers(pgid).empty(); ++i) ::usleep(10'000);
}

}  // namespace kiln::envd
