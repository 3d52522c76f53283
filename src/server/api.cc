#include "api.h"
#include "mcp_http.h"

#include <functional>

#include <nlohmann/json.hpp>

#include "body_fields.h"
#include "create_request.h"
#include "kiln/base/clock.h"
#include "kiln/base/json.h"
#include "kiln/base/strings.h"
#include "langgraph_routes.h"
#include "query.h"
#include "sandbox_logs.h"
#include "template_routes.h"

namespace kiln::server {
namespace {

using Json = nlohmann::json;

// What a route handler gets: the caller, the sandbox id from the path (if any), query and body.
struct Call {
  control::Control& control;
  Metrics& metrics;
  const control::Principal& caller;
  std::string id;
  const Target& target;
  const std::string& body;
};
using Handler = std::function<ApiResponse(const Call&)>;

struct Route {
  const char* method;
  const char* pattern;  // segments; ":id" captures the sandbox id
  Handler handler;
};

std::string Rfc3339Ms(int64_t ms) {
  return Rfc3339(ms * 1'000'000);
}

ApiResponse JsonResponse(int status, const Json& body) {
  return ApiResponse{status, DumpJson(body), {}};
}

ApiResponse FromStatus(const Status& status) {
  return ErrorResponse(HttpStatus(status.code()), status.message());
}

Json SandboxJson(const control::SandboxRecord& r) {
  return Json{{"sandboxID", r.id},
              {"templateID", r.template_id},
              {"clientID", r.owner},
              {"alias", r.template_id},
              {"envdVersion", kEnvdVersion},
              {"envdAccessToken", r.access_token},
              {"trafficAccessToken", r.traffic_token.empty() ? Json(nullptr) : Json(r.traffic_token)},
              {"domain", nullptr}};
}

Json ListedJson(const control::SandboxRecord& r) {
  return Json{{"sandboxID", r.id},
              {"templateID", r.template_id},
              {"alias", r.template_id},
              {"clientID", r.owner},
              {"startedAt", Rfc3339Ms(r.started_ms)},
              {"endAt", Rfc3339Ms(r.end_ms)},
              {"cpuCount", r.cpu_count},
              {"memoryMB", r.memory_mb},
              {"diskSizeMB", r.disk_mb},
              {"envdVersion", kEnvdVersion},
              {"state", r.state},
              {"metadata", r.metadata}};
}

ApiResponse CreateFrom(const Call& call, CreatePath path) {
  Result<control::CreateRequest> request = ParseCreateRequest(call.body, path);
  if (!request.ok()) return FromStatus(request.status());
  int64_t started = MonotonicNanos();
  auto created = call.control.Create(call.caller, *request);
  call.metrics.ObserveCreate(static_cast<double>(MonotonicNanos() - started) / 1e9, created.ok());
  if (!created.ok()) return FromStatus(created.status());
  return JsonResponse(201, SandboxJson(*created));
}

ApiResponse Create(const Call& call) {
  return CreateFrom(call, CreatePath::kV2);
}

ApiResponse LegacyCreate(const Call& call) {
  return CreateFrom(call, CreatePath::kLegacy);
}

Result<control::ListRequest> ListQuery(const Target& target) {
  control::ListRequest q;
  auto get = [&](const char* name) -> const std::string* {
    auto it = target.query.find(name);
    return it == target.query.end() ? nullptr : &it->second;
  };
  if (auto* m = get("metadata")) {
    KILN_ASSIGN_OR_RETURN(q.metadata, DecodeMetadataFilter(*m));
  }
  if (auto* s = get("state")) {
    for (const std::string& state : Split(*s, ','))
      if (state != "running" && state != "paused")
        return InvalidArgument("state: unknown state '" + state + "'");
    q.states = Split(*s, ',');
  }
  if (auto* t = get("template")) q.template_id = *t;
  if (auto* a = get("startedAfter")) {
    KILN_ASSIGN_OR_RETURN(q.started_after_ms, ParseRfc3339Millis(*a));
  }
  if (auto* o = get("order")) {
    if (*o != "asc" && *o != "desc") return InvalidArgument("order: must be asc or desc");
    q.ascending = *o == "asc";
  }
  if (auto* l = get("limit")) {
    if (l->empty() || l->size() > 4 || l->find_first_not_of("0123456789") != std::string::npos)
      return InvalidArgument("limit: must be an integer between 1 and 100");
    q.limit = std::stoll(*l);
  }
  if (auto* n = get("nextToken")) q.next_token = *n;
  return q;
}

ApiResponse List(const Call& call, bool legacy) {
  Result<control::ListRequest> query = ListQuery(call.target);
  if (!query.ok()) return FromStatus(query.status());
  // The legacy listing has no paging and shows running sandboxes only.
  if (legacy) query->states = {"running"};
  Json out = Json::array();
  std::string next;
  do {
    auto page = call.control.List(call.caller, *query);
    if (!page.ok()) return FromStatus(page.status());
    for (const auto& r : page->sandboxes) out.push_back(ListedJson(r));
    next = page->next_token;
    query->next_token = next;
  } while (legacy && !next.empty());
  ApiResponse response = JsonResponse(200, out);
  if (!next.empty()) response.headers.emplace_back("X-Next-Token", next);
  return response;
}

ApiResponse Detail(const Call& call) {
  auto r = call.control.Get(call.caller, call.id);
  if (!r.ok()) return FromStatus(r.status());
  Json out = ListedJson(*r);
  out["envdAccessToken"] = r->access_token;
  out["domain"] = nullptr;
  out["lifecycle"] = Json{{"onTimeout", "kill"}, {"autoResume", false}};
  return JsonResponse(200, out);
}

ApiResponse Kill(const Call& call) {
  Status killed = call.control.Kill(call.caller, call.id);
  return killed.ok() ? ApiResponse{204, "", {}} : FromStatus(killed);
}

ApiResponse Timeout(const Call& call) {
  Result<Json> body = ParseObject(call.body);
  if (!body.ok()) return FromStatus(body.status());
  auto timeout = Seconds(*body, "timeout");
  if (!timeout.ok()) return FromStatus(timeout.status());
  if (!*timeout) return ErrorResponse(400, "timeout: required");
  Status set = call.control.SetTimeout(call.caller, call.id, **timeout);
  return set.ok() ? ApiResponse{204, "", {}} : FromStatus(set);
}

// Connect (`timeout`) and refresh (`duration`) both extend the lifetime, never shorten it, and resume a
// paused sandbox: connect answers 201 then, 200 when it was running.
ApiResponse Extend(const Call& call, const char* field, bool reply_sandbox) {
  Result<Json> body = ParseObject(call.body);
  if (!body.ok()) return FromStatus(body.status());
  auto seconds = Seconds(*body, field);
  if (!seconds.ok()) return FromStatus(seconds.status());
  bool resumed = false;
  auto r = call.control.Connect(call.caller, call.id, *seconds, &resumed);
  if (!r.ok()) return FromStatus(r.status());
  return reply_sandbox ? JsonResponse(resumed ? 201 : 200, SandboxJson(*r)) : ApiResponse{204, "", {}};
}

// {} or {"memory": false}: a paused sandbox always keeps its memory (the freezer stops, never evicts).
ApiResponse Pause(const Call& call) {
  Result<Json> body = ParseObject(call.body);
  if (!body.ok()) return FromStatus(body.status());
  Status paused = call.control.Pause(call.caller, call.id);
  return paused.ok() ? ApiResponse{204, "", {}} : FromStatus(paused);
}

// The deprecated resume route (SDKs before connect): 201 with the sandbox, 409 when it is not paused.
ApiResponse Resume(const Call& call) {
  auto found = call.control.Get(call.caller, call.id);
  if (!found.ok()) return FromStatus(found.status());
  if (found->state != "paused") return ErrorResponse(409, "sandbox '" + call.id + "' is not paused");
  return Extend(call, "timeout", true);
}

// Riza's command.exec: {language, code, stdin?, args?, env?, timeout? (s)} -> {exit_code, stdout, stderr,
// ...}.
ApiResponse Execute(const Call& call) {
  Result<Json> body = ParseObject(call.body);
  if (!body.ok()) return FromStatus(body.status());
  control::ExecRequest request;
  auto args = StringList(*body, "args");
  auto env = StringMap(*body, "env");
  auto timeout = Seconds(*body, "timeout");
  Status fields[] = {StringField(*body, "language", true, &request.language),
                     StringField(*body, "code", true, &request.code),
                     StringField(*body, "stdin", false, &request.stdin_data),
                     args.status(),
                     env.status(),
                     timeout.status()};
  for (const Status& s : fields)
    if (!s.ok()) return FromStatus(s);
  request.args = std::move(*args);
  request.env = std::move(*env);
  if (*timeout) request.timeout_s = **timeout;
  auto ran = call.control.Exec(call.caller, request);
  if (!ran.ok()) return FromStatus(ran.status());
  return JsonResponse(200, Json{{"exit_code", ran->exit_code},
                                {"stdout", ran->stdout_data},
                                {"stderr", ran->stderr_data},
                                {"duration_ms", ran->duration_ms},
                                {"timed_out", ran->timed_out},
                                {"oom_killed", ran->oom_killed},
                                {"truncated", ran->truncated}});
}

// A unix-seconds query parameter, or nullopt when absent.
Result<std::optional<int64_t>> UnixSeconds(const Target& target, const char* name) {
  auto it = target.query.find(name);
  if (it == target.query.end()) return std::optional<int64_t>();
  const std::string& v = it->second;
  if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument(std::string(name) + ": must be a time in unix seconds");
  return std::optional<int64_t>(std::stoll(v));
}

// One sample, taken now, when the window [start, end] (unix s) includes now; [] for a window before the
// sandbox started or after now.
ApiResponse SandboxMetrics(const Call& call) {
  auto start = UnixSeconds(call.target, "start");
  auto end = UnixSeconds(call.target, "end");
  for (const Status* s : {&start.status(), &end.status()})
    if (!s->ok()) return FromStatus(*s);
  auto m = call.control.Metrics(call.caller, call.id);
  if (!m.ok()) return FromStatus(m.status());
  Json out = Json::array();
  int64_t now_s = m->at_ms / 1000;
  bool before = *end && (**end + 1) * 1000 <= m->started_ms;
  bool after = *start && **start > now_s;
  if (before || after || (*end && **end < now_s - 1)) return JsonResponse(200, out);
  const sandbox::Usage& u = m->usage;
  out.push_back(Json{{"timestamp", Rfc3339Ms(m->at_ms)},
                     {"timestampUnix", now_s},
                     {"cpuCount", m->cpu_count},
                     {"cpuUsedPct", m->cpu_used_pct},
                     {"memUsed", u.memory_bytes},
                     {"memTotal", u.memory_limit_bytes},
                     {"memCache", u.memory_cache_bytes},
                     {"diskUsed", u.disk_used_bytes},
                     {"diskTotal", u.disk_total_bytes}});
  return JsonResponse(200, out);
}

ApiResponse MetricsText(const Call& call) {
  control::Control::StateCounts counts = call.control.CountByState();
  ApiResponse response{200, call.metrics.Render(counts.running, counts.paused, call.control.PoolSizes()), {}};
  response.content_type = "text/plain; version=0.0.4";
  return response;
}

const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      {"POST", "/sandboxes", LegacyCreate},
      {"POST", "/v2/sandboxes", Create},
      {"GET", "/sandboxes", [](const Call& c) { return List(c, true); }},
      {"GET", "/v2/sandboxes", [](const Call& c) { return List(c, false); }},
      {"GET", "/sandboxes/:id", Detail},
      {"DELETE", "/sandboxes/:id", Kill},
      {"POST", "/sandboxes/:id/timeout", Timeout},
      {"POST", "/sandboxes/:id/refreshes", [](const Call& c) { return Extend(c, "duration", false); }},
      {"POST", "/sandboxes/:id/refresh", [](const Call& c) { return Extend(c, "duration", false); }},
      {"POST", "/sandboxes/:id/connect", [](const Call& c) { return Extend(c, "timeout", true); }},
      {"POST", "/v2/sandboxes/:id/connect", [](const Call& c) { return Extend(c, "timeout", true); }},
      {"POST", "/v1/execute", Execute},
      {"GET", "/metrics", MetricsText},
      {"POST", "/sandboxes/:id/pause", Pause},
      {"POST", "/sandboxes/:id/resume", Resume},
      {"GET", "/sandboxes/:id/metrics", SandboxMetrics},
      {"GET", "/sandboxes/:id/logs",
       [](const Call& c) { return SandboxLogs(c.control, c.caller, c.id, c.target, false); }},
      {"GET", "/v2/sandboxes/:id/logs",
       [](const Call& c) { return SandboxLogs(c.control, c.caller, c.id, c.target, true); }},
      {"GET", "/templates", [](const Call& c) { return ListTemplates(c.control); }},
  };
  return kRoutes;
}

// Whether `segments` fit `pattern`; *id receives the ":id" segment.
bool Matches(const std::vector<std::string>& segments, const char* pattern, std::string* id) {
  std::vector<std::string> want = PathSegments(pattern);
  if (want.size() != segments.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == ":id") {
      *id = segments[i];
    } else if (want[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

Result<control::Principal> Authenticate(control::Control& control, const ApiRequest& r) {
  std::string key = r.api_key;
  if (key.empty() && StartsWith(ToLower(r.authorization), "bearer "))
    key = std::string(Trim(std::string_view(r.authorization).substr(7)));
  if (key.empty())
    return PermissionDenied(
        "missing API key: send it in the X-API-Key header or as Authorization: Bearer <key>");
  return control.keys().Authenticate(key);
}

}  // namespace

int HttpStatus(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return 400;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnimplemented:
      return 501;
    case Code::kUnavailable:
      return 503;
    case Code::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

ApiResponse ErrorResponse(int status, const std::string& message) {
  return ApiResponse{status, DumpJson(Json{{"code", status}, {"message", message}}), {}};
}

ApiResponse HandleApi(control::Control& control, Metrics& metrics, const ApiRequest& request,
                      agent::ThreadService* threads, McpHttpService* mcp) {
  Result<Target> target = ParseTarget(request.target);
  if (!target.ok()) return FromStatus(target.status());
  if (target->path == "/health") return ApiResponse{204, "", {}};
  Result<control::Principal> caller = Authenticate(control, request);
  if (!caller.ok()) return ErrorResponse(401, caller.status().message());
  if (threads && IsLangGraphPath(target->path)) return HandleLangGraph(*threads, request, *target);
  if (mcp && target->path == "/mcp") return mcp->Handle(request, *caller);
  std::vector<std::string> segments = PathSegments(target->path);
  bool path_known = false;
  for (const Route& route : Routes()) {
    std::string id;
    if (!Matches(segments, route.pattern, &id)) continue;
    path_known = true;
    if (request.method != route.method) continue;
    return route.handler(Call{control, metrics, *caller, id, *target, request.body});
  }
  if (path_known) return ErrorResponse(405, "method " + request.method + " not allowed on " + target->path);
  return ErrorResponse(404, "no route " + request.method + " " + target->path);
}

}  // namespace kiln::server
