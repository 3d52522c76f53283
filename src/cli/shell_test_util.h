// Black-box CLI tests run the `kiln` binary through the shell, as a user types it.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace kiln::cli::testing {

struct Outcome {
  int exit_code = -1;
  std::string out;  // stdout (and stderr where the command line merges it)
};

// Runs `command` with /bin/sh and collects its stdout and exit code (-1 if it did not exit normally).
inline Outcome Shell(const std::string& command) {
  Outcome o;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return o;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
  int status = pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

}  // namespace kiln::cli::testing
