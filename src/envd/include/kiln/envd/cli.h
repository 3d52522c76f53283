// kiln-envd's command line (a small table-driven parser; flags take "--flag value" or "--flag=value"):
//
//   kiln-envd serve (--listen-fd N | --listen PATH) [--root DIR] [--default-user NAME] [--workdir DIR]
//                   [--env K=V]... [--access-token TOKEN] [--preload-python true|false]
//                   [--kernel-bridge PATH] [--max-request-kib N] [--max-connections N]
//     --max-request-kib: cap on a buffered request body (Connect JSON, code), default 4096; uploads stream
//     --max-connections: connection threads, default 64; past it 503 (and /health) from one thread
//   kiln-envd exec [--user NAME] [--cwd DIR] [--env K=V]... [--status-fd N] -- PROGRAM ARGS...
// Anywhere: --args-fd N reads more arguments, NUL-separated, from fd N (main.cc): the host passes the access
// token and the sandbox's environment that way, never on a command line that /proc shows to anyone.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/envd/config.h"

namespace kiln::envd {

struct ServeArgs {
  EnvdConfig config;
  int listen_fd = -1;       // an already-listening AF_UNIX stream socket (the sandbox engine passes 3)
  std::string listen_path;  // or a socket path to create (tests)
};

struct ExecArgs {
  std::optional<std::string> user;  // unset: keep envd's identity
  std::optional<std::string> cwd;   // unset: the user's home
  std::vector<std::pair<std::string, std::string>> env;
  int status_fd = -1;
  std::vector<std::string> argv;  // PROGRAM ARGS...
};

struct CommandLine {
  enum class Mode { kServe, kExec } mode = Mode::kServe;
  ServeArgs serve;
  ExecArgs exec;
};

// Parses the arguments after argv[0]. Errors (InvalidArgument) name the offending flag.
Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

inline constexpr char kUsage[] =
    "usage: kiln-envd serve (--listen-fd N | --listen PATH) [--root DIR] [--default-user NAME]\n"
    "                       [--workdir DIR] [--env K=V]... [--access-token TOKEN]\n"
    "                       [--max-request-kib N] [--max-connections N]\n"
    "       (either: --args-fd N reads more arguments, NUL-separated, from descriptor N)\n"
    "       kiln-envd exec [--user NAME] [--cwd DIR] [--env K=V]... [--status-fd N] -- PROGRAM ARGS...\n";

}  // namespace kiln::envd
