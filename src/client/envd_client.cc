#include "kiln/client/envd_client.h"

#include <csignal>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "connection_pool.h"
#include "kiln/base/json.h"
#include "kiln/base/strings.h"
#include "kiln/protocol/connect.h"
#include "kiln/protocol/http_client.h"

namespace kiln::client {
namespace {

using Json = nlohmann::json;

// Slack over the server-side deadline so the server's own deadline_exceeded end-stream arrives first.
constexpr int64_t kStreamGraceMs = 5'000;

http::Headers BaseHeaders(const std::string& token, const std::optional<std::string>& user) {
  http::Headers h;
  if (!token.empty()) h.Set("X-Access-Token", token);
  if (user) h.Set("Authorization", "Basic " + Base64Encode(*user + ":"));
  return h;
}

// A REST error body {"code":N,"message":...} (or anything else) as a Status.
Status RestError(int http_status, std::string_view body) {
  Json j = Json::parse(body, nullptr, false);
  std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                            ? j["message"].get<std::string>()
                            : "HTTP " + std::to_string(http_status) + ": " + std::string(body.substr(0, 200));
  Code code = http_status == 507                         ? Code::kResourceExhausted
              : http_status == 401 || http_status == 403 ? Code::kPermissionDenied
                                                         : connect::CodeForHttpStatus(http_status);
  return Status(code, message);
}

Result<Json> ParseJson(std::string_view text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) return Internal("envd sent invalid JSON");
  return j;
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Int(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number()) return it->get<int64_t>();
  if (it->is_string()) return std::strtoll(it->get<std::string>().c_str(), nullptr, 10);
  return 0;
}

EntryInfo EntryFromJson(const Json& j) {
  EntryInfo e;
  e.name = Str(j, "name");
  e.type = Str(j, "type");
  e.path = Str(j, "path");
  e.size = Int(j, "size");
  e.mode = static_cast<uint32_t>(Int(j, "mode"));
  e.permissions = Str(j, "permissions");
  e.owner = Str(j, "owner");
  e.group = Str(j, "group");
  e.modified_time = Str(j, "modifiedTime");
  if (j.contains("symlinkTarget")) e.symlink_target = Str(j, "symlinkTarget");
  return e;
}

ProcessExit ExitFromJson(const Json& end) {
  ProcessExit exit;
  exit.exit_code = static_cast<int>(Int(end, "exitCode"));
  exit.exited = end.value("exited", false);
  exit.status = Str(end, "status");
  if (end.contains("error")) exit.error = Str(end, "error");
  return exit;
}

// Applies one stream message to the callbacks; records the end event.
Status HandleEvent(const Json& message, const ProcessCallbacks& cb, std::optional<ProcessExit>* end) {
  const Json& event = message.contains("event") ? message["event"] : Json::object();
  std::string bytes;
  if (event.contains("start")) {
    if (cb.on_start) cb.on_start(static_cast<uint32_t>(Int(event["start"], "pid")));
  } else if (event.contains("data")) {
    const Json& data = event["data"];
    for (const char* stream : {"stdout", "stderr"}) {
      if (!data.contains(stream)) continue;
      if (!Base64Decode(Str(data, stream), &bytes)) return Internal("envd sent invalid base64");
      auto& callback = std::string_view(stream) == "stdout" ? cb.on_stdout : cb.on_stderr;
      if (callback) callback(bytes);
    }
  } else if (event.contains("end")) {
    *end = ExitFromJson(event["end"]);
  } else if (event.contains("keepalive")) {
    if (cb.on_keepalive) cb.on_keepalive();
  }
  return Status::Ok();
}

}  // namespace

EnvdClient::EnvdClient(std::string socket_path, std::string access_token)
    : pool_(std::make_shared<ConnectionPool>(std::move(socket_path))),
      access_token_(std::move(access_token)) {}

Status EnvdClient::Health() const {
  PooledClient client(*pool_);
  KILN_ASSIGN_OR_RETURN(http::Response r,
                        client->Do("GET", "/health", BaseHeaders(access_token_, {}), {}, timeout_ms_));
  if (r.status != 204 && !(r.status == 200 && r.body.empty())) return RestError(r.status, r.body);
  return Status::Ok();
}

Result<std::string> EnvdClient::Unary(const std::string& method, const std::string& request_json,
                                      const std::optional<std::string>& user) const {
  PooledClient client(*pool_);
  http::Headers h = BaseHeaders(access_token_, user);
  h.Set("Content-Type", "application/json");
  h.Set("Connect-Protocol-Version", "1");
  KILN_ASSIGN_OR_RETURN(http::Response r, client->Do("POST", "/" + method, h, request_json, timeout_ms_));
  if (r.status != 200) return connect::StatusFromErrorBody(r.status, r.body);
  return std::move(r.body);
}

Result<ProcessExit> EnvdClient::Stream(const std::string& method, const std::string& request_json,
                                       int64_t timeout_ms, int keepalive_seconds,
                                       const std::optional<std::string>& user,
                                       const ProcessCallbacks& callbacks,
                                       const std::function<bool()>& cancelled) const {
  PooledClient client(*pool_);
  client->set_cancelled(cancelled);
  http::Headers h = BaseHeaders(access_token_, user);
  h.Set("Content-Type", "application/connect+json");
  h.Set("Connect-Protocol-Version", "1");
  if (timeout_ms > 0) h.Set("Connect-Timeout-Ms", std::to_string(timeout_ms));
  if (keepalive_seconds > 0) h.Set("Keepalive-Ping-Interval", std::to_string(keepalive_seconds));
  int status = 0;
  std::string error_body;
  connect::EnvelopeReader reader;
  std::optional<ProcessExit> end;
  std::optional<Status> end_stream;
  Status failure;
  auto on_head = [&](const http::Response& head) { status = head.status; };
  auto on_data = [&](std::string_view data) {
    if (status != 200) {
      error_body.append(data);
      return true;
    }
    reader.Feed(data);
    connect::Envelope envelope;
    for (;;) {
      auto outcome = reader.Next(&envelope, &failure);
      if (outcome == connect::EnvelopeReader::Outcome::kNeedMore) return true;
      if (outcome == connect::EnvelopeReader::Outcome::kError) return false;
      if (envelope.flags & connect::kFlagEndStream) {
        end_stream = connect::StatusFromEndStream(envelope.payload);
        continue;
      }
      auto message = ParseJson(envelope.payload);
      if (!message.ok()) failure = message.status();
      if (failure.ok()) failure = HandleEvent(*message, callbacks, &end);
      if (!failure.ok()) return false;
    }
  };
  int client_timeout = timeout_ms > 0 ? static_cast<int>(timeout_ms + kStreamGraceMs) : -1;
  std::string body = connect::EncodeEnvelope(0, request_json);
  Status transport = client->Stream("POST", "/" + method, h, body, on_head, on_data, client_timeout);
  client->set_cancelled({});
  if (!failure.ok()) return failure;
  if (status != 200 && status != 0) return connect::StatusFromErrorBody(status, error_body);
  if (end_stream && !end_stream->ok()) return *end_stream;
  if (!transport.ok()) return transport;
  if (!end_stream) return Unavailable("envd closed the stream without an end-of-stream message");
  if (!end) return Internal("the stream ended without an end event");
  return *end;
}

Result<ProcessExit> EnvdClient::Start(const ProcessConfig& config, const StartOptions& options,
                                      const ProcessCallbacks& callbacks) const {
  Json process = {{"cmd", config.cmd}, {"args", config.args}, {"envs", config.envs}};
  if (config.cwd) process["cwd"] = *config.cwd;
  Json request = {{"process", process}, {"stdin", options.stdin}};
  if (options.tag) request["tag"] = *options.tag;
  const std::optional<std::string>& user = options.user ? options.user : user_;
  if (!options.cancelled)
    return Stream("process.Process/Start", DumpJson(request), options.timeout_ms, options.keepalive_seconds,
                  user, callbacks);
  // The stream is given up only once the pid is known, so that there is always a process to kill.
  std::optional<uint32_t> pid;
  ProcessCallbacks watched = callbacks;
  watched.on_start = [&](uint32_t started) {
    pid = started;
    if (callbacks.on_start) callbacks.on_start(started);
  };
  Result<ProcessExit> exit =
      Stream("process.Process/Start", DumpJson(request), options.timeout_ms, options.keepalive_seconds, user,
             watched, [&] { return pid.has_value() && options.cancelled(); });
  if (exit.ok() || !pid || !options.cancelled()) return exit;
  Status killed = SendSignal(*pid, SIGKILL);
  return FailedPrecondition(
      "cancelled: process " + std::to_string(*pid) +
      (killed.ok() || killed.code() == Code::kNotFound ? " killed" : " not killed: " + killed.message()));
}

Result<ProcessExit> EnvdClient::Connect(uint32_t pid, const ProcessCallbacks& callbacks,
                                        int64_t timeout_ms) const {
  Json request = {{"process", {{"pid", pid}}}};
  return Stream("process.Process/Connect", DumpJson(request), timeout_ms, 0, user_, callbacks);
}

Result<std::vector<ProcessInfo>> EnvdClient::List() const {
  KILN_ASSIGN_OR_RETURN(std::string body, Unary("process.Process/List", "{}", user_));
  KILN_ASSIGN_OR_RETURN(Json j, ParseJson(body));
  std::vector<ProcessInfo> out;
  for (const Json& p : j.value("processes", Json::array())) {
    ProcessInfo info;
    info.pid = static_cast<uint32_t>(Int(p, "pid"));
    if (p.contains("tag")) info.tag = Str(p, "tag");
    const Json& c = p.contains("config") ? p["config"] : Json::object();
    info.config.cmd = Str(c, "cmd");
    info.config.args = c.value("args", std::vector<std::string>{});
    info.config.envs = c.value("envs", std::map<std::string, std::string>{});
    if (c.contains("cwd")) info.config.cwd = Str(c, "cwd");
    out.push_back(std::move(info));
  }
  return out;
}

Status EnvdClient::SendInput(uint32_t pid, std::string_view bytes) const {
  Json request = {{"process", {{"pid", pid}}}, {"input", {{"stdin", Base64Encode(bytes)}}}};
  return Unary("process.Process/SendInput", DumpJson(request), user_).status();
}

Status EnvdClient::CloseStdin(uint32_t pid) const {
  return Unary("process.Process/CloseStdin", Json{{"process", {{"pid", pid}}}}.dump(), user_).status();
}

Status EnvdClient::SendSignal(uint32_t pid, int signal) const {
  Json sig = signal == 9 ? Json("SIGNAL_SIGKILL") : signal == 15 ? Json("SIGNAL_SIGTERM") : Json(signal);
  Json request = {{"process", {{"pid", pid}}}, {"signal", sig}};
  return Unary("process.Process/SendSignal", DumpJson(request), user_).status();
}

Status EnvdClient::Write(const std::string& path, std::string_view bytes) const {
  PooledClient client(*pool_);
  http::Headers h = BaseHeaders(access_token_, {});
  h.Set("Content-Type", "application/octet-stream");
  std::string target = "/files?path=" + UrlEncode(path) + (user_ ? "&username=" + UrlEncode(*user_) : "");
  KILN_ASSIGN_OR_RETURN(http::Response r, client->Do("POST", target, h, bytes, timeout_ms_));
  if (r.status != 200) return RestError(r.status, r.body);
  return Status::Ok();
}

Result<std::string> EnvdClient::Read(const std::string& path) const {
  PooledClient client(*pool_);
  std::string target = "/files?path=" + UrlEncode(path) + (user_ ? "&username=" + UrlEncode(*user_) : "");
  KILN_ASSIGN_OR_RETURN(http::Response r,
                        client->Do("GET", target, BaseHeaders(access_token_, {}), {}, timeout_ms_));
  if (r.status != 200) return RestError(r.status, r.body);
  return std::move(r.body);
}

Result<EntryInfo> EnvdClient::Stat(const std::string& path) const {
  KILN_ASSIGN_OR_RETURN(std::string body,
                        Unary("filesystem.Filesystem/Stat", DumpJson(Json{{"path", path}}), user_));
  KILN_ASSIGN_OR_RETURN(Json j, ParseJson(body));
  return EntryFromJson(j.value("entry", Json::object()));
}

Result<std::vector<EntryInfo>> EnvdClient::ListDir(const std::string& path, int depth) const {
  Json request = {{"path", path}, {"depth", depth}};
  KILN_ASSIGN_OR_RETURN(std::string body, Unary("filesystem.Filesystem/ListDir", DumpJson(request), user_));
  KILN_ASSIGN_OR_RETURN(Json j, ParseJson(body));
  std::vector<EntryInfo> out;
  for (const Json& e : j.value("entries", Json::array())) out.push_back(EntryFromJson(e));
  return out;
}

Result<bool> EnvdClient::MakeDir(const std::string& path) const {
  auto r = Unary("filesystem.Filesystem/MakeDir", DumpJson(Json{{"path", path}}), user_);
  if (r.ok()) return true;
  if (r.status().code() == Code::kAlreadyExists) return false;
  return r.status();
}

Status EnvdClient::Move(const std::string& source, const std::string& destination) const {
  Json request = {{"source", source}, {"destination", destination}};
  return Unary("filesystem.Filesystem/Move", DumpJson(request), user_).status();
}

Status EnvdClient::Remove(const std::string& path) const {
  return Unary("filesystem.Filesystem/Remove", DumpJson(Json{{"path", path}}), user_).status();
}

}  // namespace kiln::client
