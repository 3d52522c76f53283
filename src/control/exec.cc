// Control::Exec: Riza-style one-shot execution over runtime::Run.
#include <array>

#include "kiln/control/control.h"
#include "kiln/runtime/run.h"

namespace kiln::control {
namespace {

struct Language {
  const char* name;
  const char* file;  // the code's file name in the sandbox's home
  std::vector<std::string> command;
};

const std::array<Language, 5>& Languages() {
  static const std::array<Language, 5> kLanguages = {{{"python", "main.py", {"python3", "-u"}},
                                                      {"javascript", "main.js", {"node"}},
                                                      {"node", "main.js", {"node"}},
                                                      {"bash", "main.sh", {"bash"}},
                                                      {"sh", "main.sh", {"sh"}}}};
  return kLanguages;
}

Result<const Language*> FindLanguage(const std::string& name) {
  std::string known;
  for (const Language& l : Languages()) {
    if (l.name == name) return &l;
    known += (known.empty() ? "" : ", ") + std::string(l.name);
  }
  return InvalidArgument("language: '" + name + "' is not supported; known languages: " + known);
}

}  // namespace

Result<ExecResult> Control::Exec(const Principal& caller, const ExecRequest& request) {
  KILN_ASSIGN_OR_RETURN(const Language* language, FindLanguage(request.language));
  if (request.timeout_s <= 0 || request.timeout_s > options_.max_lifetime_s)
    return InvalidArgument("timeout: must be 1.." + std::to_string(options_.max_lifetime_s) + " s");
  runtime::RunRequest run;
  std::string path = std::string(sandbox::kSandboxHome) + "/" + language->file;
  run.spec.files[path] = request.code;
  run.spec.env = request.env;
  run.spec.limits.timeout_ms = request.timeout_s * 1000;
  run.stdin_data = request.stdin_data;
  run.argv = language->command;
  run.argv.push_back(path);
  run.argv.insert(run.argv.end(), request.args.begin(), request.args.end());
  KILN_RETURN_IF_ERROR(Reserve(caller));
  Result<runtime::RunResult> ran = runtime::Run(run);
  Unreserve(caller);
  if (!ran.ok()) return ran.status();
  return ExecResult{ran->exit_code,
                    std::move(ran->stdout_data),
                    std::move(ran->stderr_data),
                    ran->duration_ms,
                    ran->timed_out,
                    ran->oom_killed,
                    ran->truncated};
}

}  // namespace kiln::control
