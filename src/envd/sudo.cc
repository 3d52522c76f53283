#include "kiln/envd/sudo.h"

#include <set>

#include "kiln/envd/json_util.h"
#include "kiln/envd/spawn.h"

namespace kiln::envd {

const char kSudoUsage[] =
    "usage: sudo [-EHiknSsv] [-u user] [--preserve-env[=list]] [VAR=value] [--] [command [arg ...]]\n"
    "       sudo -h | -V\n"
    "Passwordless sudo of a Kiln sandbox: runs the command as root (or -u user) through kiln-envd.\n";

namespace {

bool IsAssignment(const std::string& word) {
  size_t eq = word.find('=');
  if (eq == 0 || eq == std::string::npos) return false;
  for (size_t i = 0; i < eq; ++i) {
    char c = word[i];
    bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// Long options; returns false for an unknown one. `value` is what follows '=' (or the next word for
// --user).
Status ApplyLong(const std::string& name, const std::optional<std::string>& value, SudoInvocation& inv) {
  auto no_value = [&]() -> Status {
    if (value) return InvalidArgument("option '--" + name + "' takes no value");
    return Status::Ok();
  };
  if (name == "user") {
    if (!value || value->empty()) return InvalidArgument("option '--user' requires a user name");
    inv.user = *value;
    return Status::Ok();
  }
  if (name == "preserve-env") {
    if (value)
      for (std::string& v : SplitList(*value)) inv.preserve_vars.push_back(std::move(v));
    else
      inv.preserve_env = true;
    return Status::Ok();
  }
  KILN_RETURN_IF_ERROR(no_value());
  if (name == "login")
    inv.login = true;
  else if (name == "shell")
    inv.shell = true;
  else if (name == "non-interactive")
    inv.non_interactive = true;
  else if (name == "reset-timestamp" || name == "remove-timestamp" || name == "validate")
    inv.action = SudoInvocation::Action::kNothing;
  else if (name == "help")
    inv.action = SudoInvocation::Action::kHelp;
  else if (name == "version")
    inv.action = SudoInvocation::Action::kVersion;
  else if (name == "set-home" || name == "stdin" || name == "preserve-groups") {
  } else {
    return InvalidArgument("unrecognized option '--" + name + "'");
  }
  return Status::Ok();
}

// One word of bundled short options ("-nE", "-uroot"); may consume the next word (-u USER).
Status ApplyShort(const std::vector<std::string>& args, size_t& i, SudoInvocation& inv) {
  const std::string& word = args[i];
  for (size_t k = 1; k < word.size(); ++k) {
    char c = word[k];
    switch (c) {
      case 'u': {
        std::string user = word.substr(k + 1);
        if (user.empty()) {
          if (i + 1 >= args.size()) return InvalidArgument("option requires an argument -- 'u'");
          user = args[++i];
        }
        if (user.empty()) return InvalidArgument("option -u requires a user name");
        inv.user = user;
        return Status::Ok();
      }
      case 'i':
        inv.login = true;
        break;
      case 's':
        inv.shell = true;
        break;
      case 'E':
        inv.preserve_env = true;
        break;
      case 'n':
        inv.non_interactive = true;
        break;
      case 'k':
      case 'K':
      case 'v':
        // -k with a command runs it (the credential cache it would reset does not exist).
        if (c != 'k') inv.action = SudoInvocation::Action::kNothing;
        break;
      case 'H':
      case 'S':
      case 'P':
        break;  // HOME is always the target's; no password is ever read
      case 'h':
        inv.action = SudoInvocation::Action::kHelp;
        break;
      case 'V':
        inv.action = SudoInvocation::Action::kVersion;
        break;
      default:
        return InvalidArgument(std::string("invalid option -- '") + c + "'");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<SudoInvocation> ParseSudoArgs(const std::vector<std::string>& args) {
  SudoInvocation inv;
  size_t i = 0;
  bool just_k = false;
  for (; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") {
      ++i;
      break;
    }
    if (word.size() < 2 || word[0] != '-') break;
    if (word[1] == '-') {
      std::string name = word.substr(2);
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      } else if (name == "user" && i + 1 < args.size()) {
        value = args[++i];
      }
      KILN_RETURN_IF_ERROR(ApplyLong(name, value, inv));
      if (name == "reset-timestamp") just_k = true;
    } else {
      KILN_RETURN_IF_ERROR(ApplyShort(args, i, inv));
      if (word.find('k') != std::string::npos) just_k = true;
    }
  }
  for (; i < args.size() && IsAssignment(args[i]); ++i) {
    size_t eq = args[i].find('=');
    inv.assignments.emplace_back(args[i].substr(0, eq), args[i].substr(eq + 1));
  }
  inv.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (inv.action != SudoInvocation::Action::kRun) return inv;
  if (inv.command.empty() && !inv.login && !inv.shell) {
    if (just_k) {
      inv.action = SudoInvocation::Action::kNothing;
      return inv;
    }
    return InvalidArgument("a command is required");
  }
  return inv;
}

namespace {

Json EnvJson(const EnvList& env) {
  Json list = Json::array();
  for (const auto& [k, v] : env) list.push_back(k + "=" + v);
  return list;
}

Result<EnvList> EnvFromJson(const Json& obj, std::string_view field) {
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> words, GetStringList(obj, field));
  EnvList env;
  for (const std::string& w : words) {
    size_t eq = w.find('=');
    if (eq == 0 || eq == std::string::npos || w.find('\0') != std::string::npos)
      return InvalidArgument(std::string(field) + ": '" + w.substr(0, 64) + "' is not NAME=value");
    env.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  return env;
}

std::string Dump(const Json& j) {
  // An environment may hold bytes that are not UTF-8: they travel as U+FFFD rather than failing sudo.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string EncodeSudoRequest(const SudoRequest& r) {
  const SudoInvocation& inv = r.invocation;
  Json j = {{"argv", inv.command},
            {"assignments", EnvJson(inv.assignments)},
            {"env", EnvJson(r.env)},
            {"user", inv.user},
            {"login", inv.login},
            {"shell", inv.shell},
            {"preserve_env", inv.preserve_env},
            {"preserve_vars", inv.preserve_vars}};
  return Dump(j);
}

Result<SudoRequest> ParseSudoRequest(std::string_view json) {
  if (json.size() > kMaxSudoRequestBytes) return InvalidArgument("sudo request is larger than 256 KiB");
  KILN_ASSIGN_OR_RETURN(Json j, ParseRequestJson(json));
  SudoRequest r;
  SudoInvocation& inv = r.invocation;
  KILN_ASSIGN_OR_RETURN(inv.command, GetStringList(j, "argv"));
  KILN_ASSIGN_OR_RETURN(inv.assignments, EnvFromJson(j, "assignments"));
  KILN_ASSIGN_OR_RETURN(r.env, EnvFromJson(j, "env"));
  KILN_ASSIGN_OR_RETURN(inv.user, GetString(j, "user"));
  KILN_ASSIGN_OR_RETURN(inv.login, GetBool(j, "login"));
  KILN_ASSIGN_OR_RETURN(inv.shell, GetBool(j, "shell"));
  KILN_ASSIGN_OR_RETURN(inv.preserve_env, GetBool(j, "preserve_env"));
  KILN_ASSIGN_OR_RETURN(inv.preserve_vars, GetStringList(j, "preserve_vars"));
  if (inv.user.empty()) inv.user = "root";
  for (const std::string& a : inv.command)
    if (a.find('\0') != std::string::npos) return InvalidArgument("argv must not contain NUL bytes");
  if (inv.command.empty() && !inv.login && !inv.shell)
    return InvalidArgument("argv is empty and neither login nor shell is set");
  return r;
}

std::string EncodeSudoReply(const SudoReply& reply) {
  if (reply.error) return Dump(Json{{"error", *reply.error}});
  return Dump(Json{{"exit_code", reply.exit_code}, {"signal", reply.signal}});
}

Result<SudoReply> ParseSudoReply(std::string_view json) {
  KILN_ASSIGN_OR_RETURN(Json j, ParseRequestJson(json));
  SudoReply reply;
  KILN_ASSIGN_OR_RETURN(reply.error, GetOptionalString(j, "error"));
  KILN_ASSIGN_OR_RETURN(int64_t code, GetInt(j, "exit_code"));
  KILN_ASSIGN_OR_RETURN(int64_t sig, GetInt(j, "signal"));
  reply.exit_code = static_cast<int>(code);
  reply.signal = static_cast<int>(sig);
  return reply;
}

namespace {

// sudo's env_reset keeps these of the caller's (its env_keep defaults that matter in a sandbox).
bool KeptByEnvReset(const std::string& name) {
  static const std::set<std::string> kKeep = {"TERM",     "COLORTERM", "COLORS", "DISPLAY",   "LANG",
                                              "LANGUAGE", "LS_COLORS", "TZ",     "XAUTHORITY"};
  return kKeep.count(name) || name.rfind("LC_", 0) == 0;
}

// Quotes a word for `sh -c`, as sudo does when it runs a command through a shell (-i, -s).
std::string ShellQuote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

void Set(EnvList& env, const std::string& key, const std::string& value) {
  for (auto& [k, v] : env)
    if (k == key) {
      v = value;
      return;
    }
  env.emplace_back(key, value);
}

const std::string* Lookup(const EnvList& env, const std::string& key) {
  for (const auto& [k, v] : env)
    if (k == key) return &v;
  return nullptr;
}

}  // namespace

SudoCommand BuildSudoCommand(const SudoRequest& request, const UserInfo& target, const UserInfo& caller) {
  const SudoInvocation& inv = request.invocation;
  EnvList env;
  for (const auto& [k, v] : request.env) {
    bool keep = inv.preserve_env || KeptByEnvReset(k);
    for (const std::string& name : inv.preserve_vars) keep = keep || name == k;
    if (keep && !inv.login)
      env.emplace_back(k, v);
    else if (inv.login && (k == "TERM" || k == "COLORTERM" || k == "LANG" || k.rfind("LC_", 0) == 0))
      env.emplace_back(k, v);  // -i keeps only the terminal and the locale
  }
  const std::string shell = target.shell.empty() ? "/bin/sh" : target.shell;
  Set(env, "PATH", kDefaultPath);
  if (!inv.preserve_env || inv.login) Set(env, "HOME", target.home);
  Set(env, "SHELL", shell);
  Set(env, "USER", target.name);
  Set(env, "LOGNAME", target.name);
  Set(env, "MAIL", "/var/mail/" + target.name);
  SudoCommand cmd;
  std::string joined;
  for (const std::string& word : inv.command) joined += (joined.empty() ? "" : " ") + word;
  if (inv.login || inv.shell) {
    std::string program = shell;
    if (inv.shell && !inv.login)
      if (const std::string* caller_shell = Lookup(request.env, "SHELL");
          caller_shell && !caller_shell->empty())
        program = *caller_shell;
    std::string base = program.substr(program.rfind('/') + 1);
    cmd.program = program;
    cmd.argv = {inv.login ? "-" + base : base};
    if (!inv.command.empty()) {
      std::string quoted;
      for (const std::string& word : inv.command) quoted += (quoted.empty() ? "" : " ") + ShellQuote(word);
      cmd.argv.push_back("-c");
      cmd.argv.push_back(quoted);
    }
    if (joined.empty()) joined = program;
    cmd.in_home = inv.login;
  } else {
    cmd.program = inv.command[0];
    cmd.argv = inv.command;
  }
  Set(env, "SUDO_COMMAND", joined);
  Set(env, "SUDO_USER", caller.name);
  Set(env, "SUDO_UID", std::to_string(caller.uid));
  Set(env, "SUDO_GID", std::to_string(caller.gid));
  for (const auto& [k, v] : inv.assignments) Set(env, k, v);
  for (const auto& [k, v] : env) cmd.env.push_back(k + "=" + v);
  return cmd;
}

std::string SudoSocketName(uint64_t pid_namespace_inode) {
  return "kiln-envd-sudo-" + std::to_string(pid_namespace_inode);
}

}  // namespace kiln::envd
