// Test helpers: a kiln-envd subprocess serving on a unix socket in a temp dir with a fake root.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "process_test_util.h"

#include "kiln/client/envd_client.h"

extern char** environ;

namespace kiln::envd::testing {

// Starts `argv` with fd `extra_fd` (if >= 0) dup'ed to `extra_target`; returns its pid.
inline pid_t SpawnProgram(const std::vector<std::string>& argv, int stderr_fd = -1, int extra_fd = -1,
                          int extra_target = -1) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  if (extra_fd >= 0) posix_spawn_file_actions_adddup2(&actions, extra_fd, extra_target);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Waits up to `timeout_ms` for `pid`; returns its wait status or -1 (then kills it).
inline int WaitWithTimeout(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

// A temp dir holding root/ (with etc/passwd naming the current uid "user", plus root and nobody) and a
// running `kiln-envd serve` on envd.sock.
class EnvdProcess {
 public:
  explicit EnvdProcess(std::vector<std::string> extra_args = {}) {
    char tmpl[] = "/tmp/kiln-envd-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    root_ = dir_ + "/root";
    for (const char* d : {"", "/etc", "/home", "/home/user", "/home/nobody", "/root"})
      ::mkdir((root_ + d).c_str(), 0755);
    ::chown((root_ + "/home/nobody").c_str(), 65534, 65534);
    std::ofstream(root_ + "/etc/passwd")
        << "root:x:0:0:root:/root:/bin/sh\n"
        << "user:x:" << ::getuid() << ":" << ::getgid() << "::/home/user:/bin/sh\n"
        << "nobody:x:65534:65534::/home/nobody:/bin/sh\n";
    std::ofstream(root_ + "/etc/group") << "root:x:0:\nnogroup:x:65534:\n";
    socket_ = dir_ + "/envd.sock";
    std::vector<std::string> argv = {KILN_ENVD_BINARY, "serve", "--listen", socket_,
                                     "--root",         root_,   "--env",    "GLOBAL_VAR=global"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    pid_ = SpawnProgram(argv);
    client::EnvdClient probe(socket_);
    for (int i = 0; i < 500 && !probe.Health().ok(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~EnvdProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  const std::string& socket() const { return socket_; }
  const std::string& root() const { return root_; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_, root_, socket_;
  pid_t pid_ = -1;
};

}  // namespace kiln::envd::testing
