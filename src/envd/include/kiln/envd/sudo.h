// `sudo` inside a sandbox: passwordless, like E2B's, with no setuid binary. The kiln-envd binary, bound
// read-only at /opt/kiln/bin/sudo and run under the name `sudo`, is a shim (sudo_shim.cc): it parses the
// command line, connects to envd (PID 1, sudo_server.h) over a unix socket and hands it the request and
// its own stdin/stdout/stderr and cwd (SCM_RIGHTS), so a terminal stays a terminal. envd starts the command
// as the target user with sudo's default environment policy, and the shim exits with its status.
//
// This header holds the pure parts both sides share: the option parser, the wire format and the
// environment policy. All functions are pure and thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/envd/users.h"

namespace kiln::envd {

using EnvList = std::vector<std::pair<std::string, std::string>>;

// What `sudo ARGS...` asked for (the options sudo(8) documents that make sense without passwords).
struct SudoInvocation {
  std::vector<std::string> command;        // may be empty with -i / -s (then an interactive shell)
  EnvList assignments;                     // VAR=value words before the command
  std::string user = "root";               // -u USER
  bool login = false;                      // -i: the target's login shell, in its home
  bool shell = false;                      // -s: $SHELL (or the target's shell)
  bool preserve_env = false;               // -E: keep the caller's whole environment
  std::vector<std::string> preserve_vars;  // --preserve-env=A,B: keep just these
  bool non_interactive = false;            // -n: accepted; sudo never prompts here
  enum class Action { kRun, kNothing, kHelp, kVersion } action = Action::kRun;  // -k/-K/-v: kNothing
};

// Parses sudo's arguments (argv without argv[0]). Errors (InvalidArgument) name the problem: an unknown
// option, -u without a user, or no command ("a command is required").
Result<SudoInvocation> ParseSudoArgs(const std::vector<std::string>& args);
extern const char kSudoUsage[];

// The request the shim sends: length-prefixed JSON (4-byte big-endian length, at most kMaxSudoRequestBytes),
// with the caller's stdin, stdout, stderr and cwd as SCM_RIGHTS on the first bytes.
inline constexpr size_t kMaxSudoRequestBytes = 256 * 1024;
struct SudoRequest {
  SudoInvocation invocation;
  EnvList env;  // the caller's environment
};
std::string EncodeSudoRequest(const SudoRequest& request);
// Parses the JSON body (not the length prefix). InvalidArgument names the field that is wrong.
Result<SudoRequest> ParseSudoRequest(std::string_view json);

// envd's reply: {"exit_code":N,"signal":S} or {"error":"..."}.
struct SudoReply {
  int exit_code = 0;
  int signal = 0;
  std::optional<std::string> error;
};
std::string EncodeSudoReply(const SudoReply& reply);
Result<SudoReply> ParseSudoReply(std::string_view json);

// The command envd runs: the program (a path, or a name looked up in the new PATH), argv and environment.
struct SudoCommand {
  std::string program;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE
  bool in_home = false;          // -i: start in the target's home instead of the caller's cwd
};
// Applies sudo's defaults (env_reset, secure_path = spawn.h's kDefaultPath, HOME/USER/LOGNAME/SHELL of the
// target, SUDO_USER, SUDO_UID, SUDO_GID, SUDO_COMMAND from the caller's credentials, never from the request)
// to `request`.
SudoCommand BuildSudoCommand(const SudoRequest& request, const UserInfo& target, const UserInfo& caller);

// The abstract unix socket envd listens on: "kiln-envd-sudo-<inode of the pid namespace>". Abstract names
// are per network namespace, and a sandbox with network access shares the host's: the suffix keeps two
// such sandboxes apart, and both ends check that the other is in their own pid namespace.
std::string SudoSocketName(uint64_t pid_namespace_inode);

}  // namespace kiln::envd
