// `kiln run`: one program in a fresh sandbox, its output streamed, its exit code returned.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kiln/base/log.h"
#include "kiln/base/strings.h"
#include "kiln/runtime/backend.h"
#include "kiln/runtime/run.h"
#include "kiln/template/ready.h"
#include "kiln/template/store.h"

namespace kiln::cli {
namespace {

struct RunFlags {
  std::string file, code, lang, stdin_source, user,
      template_name;  // user empty: the template's USER, else "user"
  std::vector<std::string> env, args, allow_out, deny_out;
  double timeout_s = 30, memory_mb = 0;  // 0: the template's, else 512
  bool json = false, network = false;
};

struct Language {
  const char* name;
  const char* extension;  // of the file written for -c CODE; FILE keeps its own name
  std::vector<std::string> command;
};

const std::vector<Language>& Languages() {
  static const std::vector<Language> kLanguages = {{"python", ".py", {"python3", "-u"}},
                                                   {"bash", ".bash", {"bash"}},
                                                   {"sh", ".sh", {"sh"}},
                                                   {"node", ".js", {"node"}},
                                                   {"node", ".mjs", {"node"}}};
  return kLanguages;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<const Language*> PickLanguage(const RunFlags& f) {
  std::string lang = f.lang;
  if (lang.empty() && !f.file.empty()) {
    for (const auto& l : Languages()) {
      if (EndsWith(f.file, l.extension)) {
        lang = l.name;
        break;
      }
    }
  }
  if (lang.empty()) lang = "python";
  if (lang == "javascript" || lang == "js") lang = "node";
  for (const auto& l : Languages()) {
    if (lang == l.name) return &l;
  }
  return InvalidArgument("--lang: unknown language '" + f.lang + "' (choose python, bash, sh or node)");
}

Result<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<runtime::RunRequest> BuildRequest(const RunFlags& f) {
  if (f.file.empty() == f.code.empty()) return InvalidArgument("give exactly one of FILE or -c CODE");
  KILN_ASSIGN_OR_RETURN(const Language* lang, PickLanguage(f));
  runtime::RunRequest req;
  std::string source, name = std::string("main") + lang->extension;
  if (!f.file.empty()) {
    KILN_ASSIGN_OR_RETURN(source, ReadAll(f.file));
    name = f.file.substr(f.file.rfind('/') + 1);
  } else {
    source = f.code;
  }
  req.user = f.user.empty() ? sandbox::kSandboxUser : f.user;
  std::optional<tmpl::TemplateInfo> template_info;
  int64_t extra_timeout_ms = 0;
  if (!f.template_name.empty()) {
    KILN_ASSIGN_OR_RETURN(template_info, tmpl::TemplateStore().Get(f.template_name));
    KILN_RETURN_IF_ERROR(tmpl::ApplyTemplate(*template_info, req.spec));
    if (f.user.empty()) req.user = template_info->user;
  }
  req.spec.files["/home/user/" + name] = source;
  req.argv = lang->command;
  req.argv.push_back("/home/user/" + name);
  req.argv.insert(req.argv.end(), f.args.begin(), f.args.end());
  if (template_info) {  // its start command runs first, and the program once the ready command passes
    req.argv = tmpl::WithStartAndReady(*template_info, std::move(req.argv));
    if (!template_info->start_cmd.empty()) extra_timeout_ms = template_info->ready_timeout_s * 1000;
  }
  for (const std::string& kv : f.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return InvalidArgument("--env: expected KEY=VALUE, got '" + kv + "'");
    req.spec.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!(f.timeout_s > 0)) return InvalidArgument("--timeout: must be a positive number of seconds");
  req.spec.network = f.network || !f.allow_out.empty();
  req.spec.network_rules = {f.allow_out, f.deny_out};
  req.spec.limits.timeout_ms = static_cast<int64_t>(std::ceil(f.timeout_s * 1000)) + extra_timeout_ms;
  if (f.memory_mb > 0) req.spec.limits.memory_bytes = static_cast<int64_t>(f.memory_mb * 1024 * 1024);
  if (f.stdin_source == "-") {
    req.inherit_stdin = true;
  } else if (!f.stdin_source.empty()) {
    KILN_ASSIGN_OR_RETURN(req.stdin_data, ReadAll(f.stdin_source));
  }
  KILN_RETURN_IF_ERROR(req.spec.Validate());
  return req;
}

void WriteFully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void ReportToHuman(const runtime::RunResult& r, const runtime::RunRequest& req) {
  if (r.truncated) {
    std::cerr << "kiln: output truncated at " << req.spec.limits.max_output_bytes << " bytes per stream\n";
  }
  if (r.timed_out) std::cerr << "kiln: timed out after " << req.spec.limits.timeout_ms / 1000.0 << " s\n";
  if (r.oom_killed) {
    std::cerr << "kiln: out of memory (limit " << req.spec.limits.memory_bytes / (1024 * 1024) << " MB)\n";
  }
}

// Limits this host cannot enforce are said once per run, so nobody relies on them unknowingly.
void WarnAboutMissingLimits() {
  Result<sandbox::Backend*> backend = runtime::DefaultBackend();
  if (!backend.ok()) return;
  for (const std::string& warning : (*backend)->capabilities().warnings) log::Warn(warning);
}

int Execute(const RunFlags& flags) {
  Result<runtime::RunRequest> req = BuildRequest(flags);
  if (!req.ok()) {
    std::cerr << "kiln run: " << req.status().message() << "\n";
    return kKilnError;
  }
  WarnAboutMissingLimits();
  runtime::OutputCallback stream;
  if (!flags.json) stream = [](int s, std::string_view d) { WriteFully(s == 1 ? 1 : 2, d); };
  Result<runtime::RunResult> r = runtime::Run(*req, stream);
  if (!r.ok()) {
    std::cerr << "kiln run: " << r.status().message() << "\n";
    return kKilnError;
  }
  if (flags.json) {
    nlohmann::json j = {{"exit_code", r->exit_code}, {"stdout", r->stdout_data},
                        {"stderr", r->stderr_data},  {"duration_ms", r->duration_ms},
                        {"timed_out", r->timed_out}, {"oom_killed", r->oom_killed},
                        {"truncated", r->truncated}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    ReportToHuman(*r, *req);
  }
  return r->exit_code;
}

}  // namespace

void AddRunCommand(CLI::App& app, const std::vector<std::string>& program_args, int& exit_code) {
  auto flags = std::make_shared<RunFlags>();
  flags->args = program_args;
  CLI::App* run = app.add_subcommand("run", "Run a program in a fresh sandbox and stream its output");
  run->add_option("file", flags->file, "Source file to run (language from its extension)");
  run->add_option("-c,--code", flags->code, "Source code to run");
  run->add_option("--lang", flags->lang, "python (default), bash, sh or node");
  run->add_option("--stdin", flags->stdin_source, "File to feed on stdin, or - for this terminal's stdin");
  run->add_option("--user", flags->user,
                  "Run as user (uid 1000, no capabilities) or root (uid 0 of the sandbox, bounded "
                  "capabilities); default: the template's USER, else user")
      ->check(CLI::IsMember({"user", "root"}));
  run->add_option("--env", flags->env, "Environment variable KEY=VALUE (repeatable)");
  run->add_option("--timeout", flags->timeout_s, "Wall-clock limit in seconds (default 30)");
  run->add_option("--memory", flags->memory_mb, "Memory limit in MB (default 512)");
  run->add_flag("--network", flags->network,
                "Give the sandbox network access through a user-mode stack (default: none; host loopback, "
                "the host's addresses, private and metadata addresses stay unreachable)");
  run->add_option("--allow-out", flags->allow_out,
                  "With --network: also reach this IPv4 CIDR, e.g. a private service (repeatable)");
  run->add_option("--deny-out", flags->deny_out, "With --network: never reach this IPv4 CIDR (repeatable)");
  run->add_option("--template", flags->template_name,
                  "Run on a built template's root (kiln template list) instead of the host's /usr; its "
                  "start command runs first and the program once its ready command exits 0 (--timeout "
                  "then counts from the start, plus the template's ready timeout)");
  run->add_flag("--json", flags->json, "Print one JSON object with the result instead of streaming");
  run->callback([flags, &exit_code] { exit_code = Execute(*flags); });
}

}  // namespace kiln::cli
