#include "kiln/envd/cli.h"

#include <charconv>
#include <functional>
#include <map>

#include "kiln/base/strings.h"

namespace kiln::envd {
namespace {

using Setter = std::function<Status(const std::string& value)>;

Status ParseFd(const std::string& value, int* out) {
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), *out);
  if (ec != std::errc() || end != value.data() + value.size() || *out < 0 || value.empty())
    return InvalidArgument("not a file descriptor number: '" + value + "'");
  return Status::Ok();
}

Status ParseEnvVar(const std::string& value, std::vector<std::pair<std::string, std::string>>* out) {
  size_t eq = value.find('=');
  if (eq == std::string::npos || eq == 0)
    return InvalidArgument("--env wants KEY=VALUE, got '" + value + "'");
  out->emplace_back(value.substr(0, eq), value.substr(eq + 1));
  return Status::Ok();
}

// Applies flags from args[i...] until "--" (when `stop_at_dashdash`) or the end.
Status ParseFlags(const std::vector<std::string>& args, size_t* i, const std::map<std::string, Setter>& flags,
                  bool stop_at_dashdash) {
  for (; *i < args.size(); ++*i) {
    const std::string& arg = args[*i];
    if (stop_at_dashdash && arg == "--") {
      ++*i;
      return Status::Ok();
    }
    size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq);
    auto it = flags.find(name);
    if (!StartsWith(arg, "--") || it == flags.end()) return InvalidArgument("unknown argument '" + arg + "'");
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (*i + 1 < args.size()) {
      value = args[++*i];
    } else {
      return InvalidArgument(name + " needs a value");
    }
    KILN_RETURN_IF_ERROR(it->second(value).WithContext(name));
  }
  return stop_at_dashdash ? InvalidArgument("exec needs -- PROGRAM [ARGS...]") : Status::Ok();
}

// A positive count of `unit`s ("--max-connections 64", "--max-request-kib 4096").
Status ParseCount(const std::string& v, size_t unit, size_t* out) {
  size_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n == 0 || n > (size_t{1} << 40) / unit)
    return InvalidArgument("expected a positive number, got '" + v + "'");
  *out = n * unit;
  return Status::Ok();
}

Status ParseServe(const std::vector<std::string>& args, size_t i, ServeArgs* s) {
  EnvdConfig& c = s->config;
  std::map<std::string, Setter> flags = {
      {"--listen-fd", [s](const std::string& v) { return ParseFd(v, &s->listen_fd); }},
      {"--listen",
       [s](const std::string& v) {
         s->listen_path = v;
         return Status::Ok();
       }},
      {"--root",
       [&c](const std::string& v) {
         c.root_dir = v;
         return Status::Ok();
       }},
      {"--default-user",
       [&c](const std::string& v) {
         c.default_user = v;
         return Status::Ok();
       }},
      {"--workdir",
       [&c](const std::string& v) {
         c.workdir = v;
         return Status::Ok();
       }},
      {"--env", [&c](const std::string& v) { return ParseEnvVar(v, &c.env); }},
      {"--preload-python",
       [&c](const std::string& v) {
         c.preload_python = v != "false";
         return Status::Ok();
       }},
      {"--access-token",
       [&c](const std::string& v) {
         c.access_token = v;
         return Status::Ok();
       }},
      {"--max-request-kib",
       [&c](const std::string& v) { return ParseCount(v, 1024, &c.max_request_body_bytes); }},
      {"--max-connections", [&c](const std::string& v) { return ParseCount(v, 1, &c.max_connections); }},
      {"--max-gzip-upload-kib",
       [&c](const std::string& v) { return ParseCount(v, 1024, &c.max_gzip_upload_bytes); }},
      {"--max-watchers", [&c](const std::string& v) { return ParseCount(v, 1, &c.max_watchers); }},
      {"--watcher-idle-timeout-ms",
       [&c](const std::string& v) { return ParseCount(v, 1, &c.watcher_idle_timeout_ms); }},
      {"--kernel-bridge",
       [&c](const std::string& v) {
         c.kernel_bridge = v;
         return Status::Ok();
       }},
  };
  KILN_RETURN_IF_ERROR(ParseFlags(args, &i, flags, /*stop_at_dashdash=*/false));
  if ((s->listen_fd >= 0) == !s->listen_path.empty())
    return InvalidArgument("serve needs exactly one of --listen-fd and --listen");
  return Status::Ok();
}

Status ParseExec(const std::vector<std::string>& args, size_t i, ExecArgs* e) {
  std::map<std::string, Setter> flags = {
      {"--user",
       [e](const std::string& v) {
         e->user = v;
         return Status::Ok();
       }},
      {"--cwd",
       [e](const std::string& v) {
         e->cwd = v;
         return Status::Ok();
       }},
      {"--env", [e](const std::string& v) { return ParseEnvVar(v, &e->env); }},
      {"--status-fd", [e](const std::string& v) { return ParseFd(v, &e->status_fd); }},
  };
  KILN_RETURN_IF_ERROR(ParseFlags(args, &i, flags, /*stop_at_dashdash=*/true));
  e->argv.assign(args.begin() + static_cast<long>(i), args.end());
  if (e->argv.empty() || e->argv[0].empty()) return InvalidArgument("exec needs a PROGRAM after --");
  return Status::Ok();
}

}  // namespace

Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  if (args.empty()) return InvalidArgument("missing mode: serve or exec");
  if (args[0] == "serve") {
    cl.mode = CommandLine::Mode::kServe;
    KILN_RETURN_IF_ERROR(ParseServe(args, 1, &cl.serve));
  } else if (args[0] == "exec") {
    cl.mode = CommandLine::Mode::kExec;
    KILN_RETURN_IF_ERROR(ParseExec(args, 1, &cl.exec));
  } else {
    return InvalidArgument("unknown mode '" + args[0] + "'");
  }
  return cl;
}

}  // namespace kiln::envd
