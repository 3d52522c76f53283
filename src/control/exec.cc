// Control::Exec: Riza-style one-shot execution, in a sandbox of the "base" warm pool when there is one
// (through its envd), else cold over runtime::Run.
#include <array>

#include "kiln/base/clock.h"
#include "kiln/client/envd_client.h"
#include "kiln/control/control.h"
#include "kiln/runtime/run.h"
#include "registry.h"
#include "sandbox_pool.h"

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

std::string CodePath(const Language& language) {
  return std::string(sandbox::kSandboxHome) + "/" + language.file;
}

// The program and its arguments: the interpreter, the code's file, the request's args.
std::vector<std::string> Argv(const Language& language, const ExecRequest& request) {
  std::vector<std::string> argv = language.command;
  argv.push_back(CodePath(language));
  argv.insert(argv.end(), request.args.begin(), request.args.end());
  return argv;
}

Result<ExecResult> RunCold(const Language& language, const ExecRequest& request) {
  runtime::RunRequest run;
  run.spec.files[CodePath(language)] = request.code;
  run.spec.env = request.env;
  run.spec.limits.timeout_ms = request.timeout_s * 1000;
  run.stdin_data = request.stdin_data;
  run.argv = Argv(language, request);
  KILN_ASSIGN_OR_RETURN(runtime::RunResult ran, runtime::Run(run));
  return ExecResult{ran.exit_code,
                    std::move(ran.stdout_data),
                    std::move(ran.stderr_data),
                    ran.duration_ms,
                    ran.timed_out,
                    ran.oom_killed,
                    ran.truncated,
                    ran.sandbox_id};
}

// The pooled run's stdin and output are files in the sandbox: a program that never reads its stdin cannot
// stall the call, and output is never lost to envd's bounded stream buffer when the host reads slower than
// the program writes (envd drops the oldest output then).
constexpr char kStdinPath[] = "/tmp/.kiln-exec-stdin";
constexpr char kStdoutPath[] = "/tmp/.kiln-exec-stdout";
constexpr char kStderrPath[] = "/tmp/.kiln-exec-stderr";

// envd reports a death by signal by its Go name; a cold run says 128+N.
int SignalExitCode(const std::string& status) {
  static const std::pair<const char*, int> kSignals[] = {
      {"hangup", 1}, {"interrupt", 2},           {"aborted", 6},
      {"killed", 9}, {"segmentation fault", 11}, {"terminated", 15}};
  for (const auto& [name, number] : kSignals)
    if (status.rfind(std::string("signal: ") + name, 0) == 0) return 128 + number;
  return 128 + 9;
}

// A short helper process of the pooled run (no output wanted).
Status RunHelper(const client::EnvdClient& envd, std::vector<std::string> args) {
  client::ProcessConfig config;
  config.cmd = args.front();
  config.args.assign(args.begin() + 1, args.end());
  client::StartOptions options;
  options.timeout_ms = 30'000;
  KILN_ASSIGN_OR_RETURN(client::ProcessExit exit, envd.Start(config, options, {}));
  if (!exit.exited || exit.exit_code != 0) return Internal(args.front() + " in the sandbox: " + exit.status);
  return Status::Ok();
}

// The output files, at most the cold run's cap each (cut in the sandbox before they are read).
Status CollectOutput(const client::EnvdClient& envd, ExecResult& result) {
  const int64_t cap = sandbox::Limits{}.max_output_bytes;
  KILN_ASSIGN_OR_RETURN(client::EntryInfo out, envd.Stat(kStdoutPath));
  KILN_ASSIGN_OR_RETURN(client::EntryInfo err, envd.Stat(kStderrPath));
  if (out.size > cap || err.size > cap) {
    result.truncated = true;
    KILN_RETURN_IF_ERROR(
        RunHelper(envd, {"truncate", "-s", "<" + std::to_string(cap), kStdoutPath, kStderrPath}));
  }
  KILN_ASSIGN_OR_RETURN(result.stdout_data, envd.Read(kStdoutPath));
  KILN_ASSIGN_OR_RETURN(result.stderr_data, envd.Read(kStderrPath));
  return Status::Ok();
}

// Runs the program through a pooled sandbox's envd, with the cold run's output cap and result shape.
Result<ExecResult> RunThroughEnvd(const client::EnvdClient& envd, const Language& language,
                                  const ExecRequest& request) {
  KILN_RETURN_IF_ERROR(envd.Write(CodePath(language), request.code));
  KILN_RETURN_IF_ERROR(envd.Write(kStdinPath, request.stdin_data));
  client::ProcessConfig config;
  config.cmd = "/bin/sh";
  // sh redirects and, staying the parent, reports a signal death as 128+N.
  config.args = {"-c",
                 std::string("\"$0\" \"$@\" < ") + kStdinPath + " > " + kStdoutPath + " 2> " + kStderrPath};
  std::vector<std::string> argv = Argv(language, request);
  config.args.insert(config.args.end(), argv.begin(), argv.end());
  config.envs = request.env;
  config.cwd = sandbox::kSandboxHome;
  client::StartOptions options;
  options.timeout_ms = request.timeout_s * 1000;
  ExecResult result;
  int64_t started = MonotonicNanos();
  Result<client::ProcessExit> exit = envd.Start(config, options, {});
  result.duration_ms = (MonotonicNanos() - started) / 1'000'000;
  if (!exit.ok() && exit.status().code() != Code::kDeadlineExceeded) return exit.status();
  result.timed_out = !exit.ok();
  if (result.timed_out)
    result.exit_code = 128 + 9;
  else
    result.exit_code = exit->exited ? exit->exit_code : SignalExitCode(exit->status);
  KILN_RETURN_IF_ERROR(CollectOutput(envd, result));
  return result;
}

// A sandbox taken from the pool runs the program, then is killed. One that died while it waited is recorded
// so and the program runs cold.
Result<ExecResult> ExecPooled(runtime::Runtime& runtime, Database& db, const std::string& id,
                              const Language& language, const ExecRequest& request) {
  Result<runtime::SandboxInfo> info = runtime.Get(id);
  // The runtime ends it even if envd never answers: the program's time plus a margin for the set-up.
  Status held = info.ok() ? runtime.SetTimeout(id, (request.timeout_s + 30) * 1000) : info.status();
  Result<ExecResult> ran =
      held.ok() ? RunThroughEnvd(client::EnvdClient(info->socket_path, info->access_token), language, request)
                : Result<ExecResult>(held);
  (void)runtime.Kill(id);
  (void)registry::MarkEnded(db, id, WallNanos() / 1'000'000, held.ok() ? "executed" : "failed to start");
  if (!held.ok()) return RunCold(language, request);
  if (!ran.ok())
    return Unavailable("pooled sandbox " + id + " could not run the program: " + ran.status().message());
  ran->sandbox_id = id;
  return ran;
}

}  // namespace

Result<ExecResult> Control::Exec(const Principal& caller, const ExecRequest& request) {
  KILN_ASSIGN_OR_RETURN(const Language* language, FindLanguage(request.language));
  if (request.timeout_s <= 0 || request.timeout_s > options_.max_lifetime_s)
    return InvalidArgument("timeout: must be 1.." + std::to_string(options_.max_lifetime_s) + " s");
  KILN_RETURN_IF_ERROR(Reserve(caller));
  // A cold run has no network: a pooled sandbox is used only when it has none either.
  std::optional<SandboxRecord> pooled;
  if (pool_ && !options_.default_internet_access) pooled = pool_->Take("base");
  Result<ExecResult> ran =
      pooled ? ExecPooled(*runtime_, *db_, pooled->id, *language, request) : RunCold(*language, request);
  Unreserve(caller);
  return ran;
}

}  // namespace kiln::control
