#include "kiln/envd/process_service.h"

#include <signal.h>

#include <algorithm>
#include <chrono>

#include "kiln/base/strings.h"

namespace kiln::envd {
namespace {

using Clock = std::chrono::steady_clock;
// How often an idle stream checks whether its client went away.
constexpr auto kClientCheckInterval = std::chrono::milliseconds(250);
// After a deadline kill, how long the stream waits for the end event before giving up on it.
constexpr auto kEndAfterKillWait = std::chrono::seconds(2);

Result<ProcessConfig> ParseConfig(const Json& process) {
  ProcessConfig c;
  KILN_ASSIGN_OR_RETURN(c.cmd, GetString(process, "cmd"));
  KILN_ASSIGN_OR_RETURN(c.args, GetStringList(process, "args"));
  KILN_ASSIGN_OR_RETURN(c.envs, GetStringMap(process, "envs"));
  KILN_ASSIGN_OR_RETURN(c.cwd, GetOptionalString(process, "cwd"));
  if (c.cmd.empty()) return InvalidArgument("process.cmd is required");
  for (const std::string& s : c.args)
    if (s.find('\0') != std::string::npos) return InvalidArgument("process.args must not contain NUL bytes");
  for (const auto& [k, v] : c.envs)
    if (k.empty() || k.find_first_of(std::string("=\0", 2)) != std::string::npos)
      return InvalidArgument("invalid environment variable name '" + k + "'");
  return c;
}

Json ConfigJson(const ProcessConfig& c) {
  Json envs = Json::object();
  for (const auto& [k, v] : c.envs) envs[k] = v;
  Json j = {{"cmd", c.cmd}, {"args", c.args}, {"envs", envs}};
  if (c.cwd) j["cwd"] = *c.cwd;
  return j;
}

const std::vector<EnumName>& SignalNames() {
  static const std::vector<EnumName> kNames = {
      {"SIGNAL_UNSPECIFIED", 0}, {"SIGNAL_SIGTERM", SIGTERM}, {"SIGNAL_SIGKILL", SIGKILL}};
  return kNames;
}

}  // namespace

Json ProcessEventJson(const ProcessEvent& e) {
  switch (e.kind) {
    case ProcessEvent::Kind::kStart:
      return {{"event", {{"start", {{"pid", e.pid}}}}}};
    case ProcessEvent::Kind::kStdout:
      return {{"event", {{"data", {{"stdout", Base64Encode(e.data)}}}}}};
    case ProcessEvent::Kind::kStderr:
      return {{"event", {{"data", {{"stderr", Base64Encode(e.data)}}}}}};
    case ProcessEvent::Kind::kPty:
      return {{"event", {{"data", {{"pty", Base64Encode(e.data)}}}}}};
    case ProcessEvent::Kind::kEnd:
      break;
  }
  Json end = {{"exitCode", e.exit.exit_code}, {"exited", e.exit.exited}, {"status", e.exit.status}};
  if (e.exit.error) end["error"] = *e.exit.error;
  return {{"event", {{"end", end}}}};
}

Status ProcessService::Start(const Json& request, const Caller& caller, const StreamOptions& options,
                             EventSink& sink) {
  KILN_ASSIGN_OR_RETURN(Json process, GetObject(request, "process"));
  std::optional<PtySize> pty;
  if (const Json* field = FindField(request, "pty"); field && !field->is_null()) {
    KILN_ASSIGN_OR_RETURN(Json pty_json, GetObject(request, "pty"));
    KILN_ASSIGN_OR_RETURN(pty, ParsePtySize(pty_json));
  }
  KILN_ASSIGN_OR_RETURN(ProcessConfig config, ParseConfig(process));
  KILN_ASSIGN_OR_RETURN(std::optional<std::string> tag, GetOptionalString(request, "tag"));
  KILN_ASSIGN_OR_RETURN(bool want_stdin, GetBool(request, "stdin"));

  std::string cwd = config_->workdir.value_or(caller.user.home);
  if (config.cwd && !config.cwd->empty()) {
    KILN_ASSIGN_OR_RETURN(cwd, ResolveUserPath(*config.cwd, caller.user.home));
  }
  auto cwd_fd = root_->OpenPath(cwd, O_PATH | O_DIRECTORY);
  if (!cwd_fd.ok() && config.cwd)
    return InvalidArgument("cwd '" + cwd + "' does not exist or is not a directory");
  if (!cwd_fd.ok()) cwd_fd = root_->OpenPath("/", O_PATH | O_DIRECTORY);  // a default dir that is missing
  if (!cwd_fd.ok()) return cwd_fd.status();

  SpawnSpec spec;
  spec.program = config.cmd;
  spec.argv.push_back(config.cmd);
  spec.argv.insert(spec.argv.end(), config.args.begin(), config.args.end());
  spec.env = BuildEnv(caller.user.home, caller.user.name, DefaultEnv(*config_), config.envs);
  spec.cwd_fd = cwd_fd->get();
  if (caller.switch_identity) spec.identity = SpawnIdentity{caller.user.uid, caller.user.gid};
  ProcessTable::Started started;
  if (pty) {
    std::optional<uid_t> owner;
    if (caller.switch_identity) owner = caller.user.uid;
    KILN_ASSIGN_OR_RETURN(started,
                          table_->StartPty(std::move(spec), std::move(config), std::move(tag), *pty, owner));
  } else {
    KILN_ASSIGN_OR_RETURN(started,
                          table_->Start(std::move(spec), std::move(config), std::move(tag), want_stdin));
  }
  return Pump(*started.process, started.subscription, /*kill_on_deadline=*/true, options, sink);
}

Status ProcessService::Connect(const Json& request, const StreamOptions& options, EventSink& sink) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Process> process, Select(request));
  return Pump(*process, process->Subscribe(), /*kill_on_deadline=*/false, options, sink);
}

Status ProcessService::Pump(Process& process, const std::shared_ptr<Subscription>& sub, bool kill_on_deadline,
                            const StreamOptions& options, EventSink& sink) {
  const auto keepalive_every = std::chrono::seconds(std::max(1, options.keepalive_seconds));
  Clock::time_point now = Clock::now();
  Clock::time_point next_keepalive = now + keepalive_every;
  std::optional<Clock::time_point> deadline;
  if (options.timeout_ms && *options.timeout_ms > 0)
    deadline = now + std::chrono::milliseconds(*options.timeout_ms);
  std::optional<Clock::time_point> give_up;  // set once the deadline killed the process
  const Status expired = DeadlineExceeded("the process did not finish before the request deadline");
  auto detach = [&](Status s) {
    process.Unsubscribe(sub);
    return s;
  };
  for (;;) {
    Clock::time_point wake = std::min(next_keepalive, now + kClientCheckInterval);
    if (deadline && !give_up) wake = std::min(wake, *deadline);
    if (give_up) wake = std::min(wake, *give_up);
    std::vector<ProcessEvent> events = sub->Take(wake);
    for (const ProcessEvent& e : events) {
      if (!sink.Send(ProcessEventJson(e)).ok()) return detach(Unavailable("the client disconnected"));
      if (e.kind == ProcessEvent::Kind::kEnd) return give_up ? expired : Status::Ok();
    }
    now = Clock::now();
    if (!events.empty()) next_keepalive = now + keepalive_every;
    if (deadline && !give_up && now >= *deadline) {
      if (!kill_on_deadline) return detach(expired);
      (void)process.Signal(SIGKILL);
      give_up = now + kEndAfterKillWait;
    }
    if (give_up && now >= *give_up) return detach(expired);
    if (now >= next_keepalive) {
      if (!sink.Send({{"event", {{"keepalive", Json::object()}}}}).ok())
        return detach(Unavailable("the client disconnected"));
      next_keepalive = now + keepalive_every;
    }
    if (events.empty() && sink.ClientGone()) return detach(Unavailable("the client disconnected"));
  }
}

Result<std::shared_ptr<Process>> ProcessService::Select(const Json& request) const {
  KILN_ASSIGN_OR_RETURN(Json selector, GetObject(request, "process"));
  KILN_ASSIGN_OR_RETURN(std::optional<std::string> tag, GetOptionalString(selector, "tag"));
  if (tag) {
    if (auto p = table_->FindTag(*tag)) return p;
    return NotFound("process with tag '" + *tag + "' not found");
  }
  KILN_ASSIGN_OR_RETURN(int64_t pid, GetInt(selector, "pid"));
  // A pid is a uint32 in E2B's schema and never 0: anything else is a malformed selector, not a lookup miss.
  if (pid <= 0 || pid > UINT32_MAX)
    return InvalidArgument("process.pid must be between 1 and 4294967295, got " + std::to_string(pid));
  std::shared_ptr<Process> p = table_->Find(static_cast<uint32_t>(pid));
  if (!p) return NotFound("process with pid " + std::to_string(pid) + " not found");
  return p;
}

Result<Json> ProcessService::List(const Json&) {
  Json processes = Json::array();
  for (const auto& p : table_->Running()) {
    if (p->tag() && StartsWith(*p->tag(), kCodeContextTagPrefix)) continue;  // envd's own runners
    Json info = {{"config", ConfigJson(p->config())}, {"pid", p->pid()}};
    if (p->tag()) info["tag"] = *p->tag();
    processes.push_back(std::move(info));
  }
  return Json{{"processes", std::move(processes)}};
}

Result<Json> ProcessService::SendInput(const Json& request) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Process> process, Select(request));
  KILN_ASSIGN_OR_RETURN(Json input, GetObject(request, "input"));
  if (const Json* pty = FindField(input, "pty"); pty && !pty->is_null()) {
    KILN_ASSIGN_OR_RETURN(std::string keys, GetBytes(input, "pty"));
    KILN_RETURN_IF_ERROR(process->WritePty(keys));
    return Json::object();
  }
  KILN_ASSIGN_OR_RETURN(std::string data, GetBytes(input, "stdin"));
  KILN_RETURN_IF_ERROR(process->WriteStdin(data));
  return Json::object();
}

Result<Json> ProcessService::CloseStdin(const Json& request) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Process> process, Select(request));
  KILN_RETURN_IF_ERROR(process->CloseStdin());
  return Json::object();
}

Result<Json> ProcessService::SendSignal(const Json& request) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Process> process, Select(request));
  const Json* field = FindField(request, "signal");
  if (!field) return InvalidArgument("field 'signal' is required");
  KILN_ASSIGN_OR_RETURN(int signal, ParseEnum(*field, SignalNames(), "signal"));
  if (signal <= 0 || signal >= NSIG) return InvalidArgument("invalid signal " + std::to_string(signal));
  KILN_RETURN_IF_ERROR(process->Signal(signal));
  return Json::object();
}

Result<Json> ProcessService::Update(const Json& request) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Process> process, Select(request));
  const Json* field = FindField(request, "pty");
  if (!field || field->is_null()) return Json::object();  // nothing to update
  KILN_ASSIGN_OR_RETURN(Json pty, GetObject(request, "pty"));
  KILN_ASSIGN_OR_RETURN(PtySize size, ParsePtySize(pty));
  KILN_RETURN_IF_ERROR(process->ResizePty(size));
  return Json::object();
}

}  // namespace kiln::envd
