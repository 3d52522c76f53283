#include "kiln/envd/server.h"

#include "kiln/envd/event_log.h"
#include "kiln/envd/port_forward.h"
#include "kiln/protocol/http_server.h"

namespace kiln::envd {
namespace {

// A non-negative integer query parameter; `fallback` when absent.
Result<int64_t> QueryInt(const http::Request& request, std::string_view name, int64_t fallback) {
  std::optional<std::string_view> v = request.Query(name);
  if (!v) return fallback;
  if (v->empty() || v->size() > 18 || v->find_first_not_of("0123456789") != std::string_view::npos)
    return InvalidArgument(std::string(name) + ": must be a non-negative integer");
  return std::stoll(std::string(*v));
}

// GET /logs?start=<unix ms>&limit=<n>: {"logs": [{timestampMs, level, message, fields}], "dropped": n}.
void SendLogs(const http::Request& request, http::ResponseWriter& writer) {
  Result<int64_t> start = QueryInt(request, "start", 0);
  Result<int64_t> limit = QueryInt(request, "limit", EventLog::kMaxEntries);
  if (!start.ok()) return SendRestError(writer, start.status());
  if (!limit.ok()) return SendRestError(writer, limit.status());
  Json logs = Json::array();
  for (const LogEntry& e : SandboxEvents().Since(*start, static_cast<size_t>(*limit)))
    logs.push_back(
        {{"timestampMs", e.timestamp_ms}, {"level", e.level}, {"message", e.message}, {"fields", e.fields}});
  SendJson(writer, 200, {{"logs", std::move(logs)}, {"dropped", SandboxEvents().dropped()}});
}

}  // namespace

// POST /init {envVars?: {K: V}} -> 204: the sandbox-wide env vars, merged over the current ones.
void EnvdServer::Init(http::Request& request, http::ResponseWriter& writer) {
  Result<Json> body = ParseRequestJson(request.body);
  if (!body.ok()) return SendRestError(writer, body.status());
  Result<EnvVars> vars = GetStringMap(*body, "envVars");
  if (!vars.ok()) return SendRestError(writer, vars.status());
  Status merged = config_.init_env->Merge(*vars);
  if (!merged.ok()) return SendRestError(writer, merged);
  http::Response response;
  response.status = 204;
  (void)writer.Send(response);
}

Result<std::unique_ptr<EnvdServer>> EnvdServer::Create(EnvdConfig config, ProcessTable* table) {
  KILN_ASSIGN_OR_RETURN(RootFs root, RootFs::Open(config.root_dir));
  std::unique_ptr<EnvdServer> server(new EnvdServer(std::move(config), std::move(root), table));
  server->AddRoutes();
  return server;
}

EnvdServer::EnvdServer(EnvdConfig config, RootFs root, ProcessTable* table)
    : config_(std::move(config)),
      root_(std::move(root)),
      table_(table),
      filesystem_(&root_),
      watch_(&root_, &config_, &filesystem_),
      process_(&root_, &config_, table_),
      router_(config_.access_token) {}

Status EnvdServer::Serve(UniqueFd listen_fd) {
  http::ServerOptions options;
  options.max_connections = config_.max_connections;
  // A few maximal bodies at once, not one per connection: envd's memory stays bounded however many
  // clients send large requests together.
  options.max_buffered_total = 4 * uint64_t{config_.max_request_body_bytes};
  options.idle_timeout_ms = 60'000;
  options.head_timeout_ms = 30'000;
  options.body_timeout_ms = 60'000;
  // Uploads stream to disk as they arrive, so only the filesystem bounds them; every other body is held
  // whole and must stay far below the sandbox's memory.
  options.body_policy = [max = config_.max_request_body_bytes](const http::Request& request) {
    if (request.method == "POST" && request.path == "/files")
      return http::BodyPolicy{true, uint64_t{1} << 50};
    return http::BodyPolicy{false, max};
  };
  options.body_error = BodyErrorResponse;
  // Health checks must answer while envd is at capacity (a load balancer or pool would otherwise give up
  // on a sandbox that is merely busy).
  options.at_capacity = [](const http::Request& request) -> std::optional<http::Response> {
    if (request.method != "GET" || request.path != "/health") return std::nullopt;
    http::Response response;
    response.status = 204;
    return response;
  };
  http::Server server(
      [this](http::Request& request, http::ResponseWriter& writer) { router_.Handle(request, writer); },
      options);
  return server.Serve(std::move(listen_fd));
}

Result<Caller> EnvdServer::RpcCaller(const http::Request& request) const {
  KILN_ASSIGN_OR_RETURN(std::optional<std::string> username, UsernameFromAuthorization(request));
  return ResolveCaller(root_, config_, username);
}

void EnvdServer::AddRoutes() {
  AddRestRoutes();
  AddProcessRoutes();
  AddFilesystemRoutes();
  code_ = std::make_unique<CodeInterpreter>(&config_, &root_, table_);
  code_->AddRoutes(router_);
}

void EnvdServer::AddProcessRoutes() {
  const std::string prefix = "/process.Process/";
  router_.Add("POST", prefix + "Start",
              ConnectStream([this](const Json& req, const http::Request& http, EventSink& sink) {
                KILN_ASSIGN_OR_RETURN(Caller caller, RpcCaller(http));
                KILN_ASSIGN_OR_RETURN(StreamOptions options,
                                      StreamOptionsFrom(http, config_.default_keepalive_seconds));
                return process_.Start(req, caller, options, sink);
              }));
  router_.Add("POST", prefix + "Connect",
              ConnectStream([this](const Json& req, const http::Request& http, EventSink& sink) {
                KILN_ASSIGN_OR_RETURN(StreamOptions options,
                                      StreamOptionsFrom(http, config_.default_keepalive_seconds));
                return process_.Connect(req, options, sink);
              }));
  using Method = Result<Json> (ProcessService::*)(const Json&);
  const std::pair<const char*, Method> unary[] = {{"List", &ProcessService::List},
                                                  {"SendInput", &ProcessService::SendInput},
                                                  {"CloseStdin", &ProcessService::CloseStdin},
                                                  {"SendSignal", &ProcessService::SendSignal},
                                                  {"Update", &ProcessService::Update}};
  for (const auto& [name, method] : unary) {
    router_.Add("POST", prefix + name,
                ConnectUnary([this, method = method](const Json& req, const http::Request&) {
                  return (process_.*method)(req);
                }));
  }
  router_.Add("POST", prefix + "StreamInput",
              ConnectUnary([](const Json&, const http::Request&) -> Result<Json> {
                return Unimplemented("StreamInput (client streaming) is not supported; use SendInput");
              }));
}

void EnvdServer::AddFilesystemRoutes() {
  const std::string prefix = "/filesystem.Filesystem/";
  using Method = Result<Json> (FilesystemService::*)(const Json&, const Caller&) const;
  const std::pair<const char*, Method> unary[] = {{"Stat", &FilesystemService::Stat},
                                                  {"ListDir", &FilesystemService::ListDir},
                                                  {"MakeDir", &FilesystemService::MakeDir},
                                                  {"Move", &FilesystemService::Move},
                                                  {"Remove", &FilesystemService::Remove}};
  for (const auto& [name, method] : unary) {
    router_.Add(
        "POST", prefix + name,
        ConnectUnary([this, method = method](const Json& req, const http::Request& http) -> Result<Json> {
          KILN_ASSIGN_OR_RETURN(Caller caller, RpcCaller(http));
          return (filesystem_.*method)(req, caller);
        }));
  }
  AddWatchRoutes();
}

void EnvdServer::AddWatchRoutes() {
  const std::string prefix = "/filesystem.Filesystem/";
  router_.Add("POST", prefix + "WatchDir",
              ConnectStream([this](const Json& req, const http::Request& http, EventSink& sink) {
                KILN_ASSIGN_OR_RETURN(Caller caller, RpcCaller(http));
                KILN_ASSIGN_OR_RETURN(StreamOptions options,
                                      StreamOptionsFrom(http, config_.default_keepalive_seconds));
                return watch_.WatchDir(req, caller, options, sink);
              }));
  router_.Add("POST", prefix + "CreateWatcher",
              ConnectUnary([this](const Json& req, const http::Request& http) -> Result<Json> {
                KILN_ASSIGN_OR_RETURN(Caller caller, RpcCaller(http));
                return watch_.CreateWatcher(req, caller);
              }));
  router_.Add(
      "POST", prefix + "GetWatcherEvents",
      ConnectUnary([this](const Json& req, const http::Request&) { return watch_.GetWatcherEvents(req); }));
  router_.Add("POST", prefix + "RemoveWatcher", ConnectUnary([this](const Json& req, const http::Request&) {
                return watch_.RemoveWatcher(req);
              }));
}

void EnvdServer::AddRestRoutes() {
  // Kiln's own (not E2B envd's): the sandbox's event log for the server's GET /sandboxes/{id}/logs.
  router_.Add("GET", "/logs", [](http::Request& r, http::ResponseWriter& w) { SendLogs(r, w); });
  router_.Add("GET", kPortForwardPath, ServePortForward);
  router_.Add(
      "GET", "/health",
      [](http::Request&, http::ResponseWriter& writer) {
        http::Response response;
        response.status = 204;
        (void)writer.Send(response);
      },
      /*requires_token=*/false);
  router_.Add("GET", "/envs", [this](http::Request&, http::ResponseWriter& writer) {
    Json envs = Json::object();
    for (const auto& [k, v] : DefaultEnv(config_)) envs[k] = v;
    SendJson(writer, 200, envs);
  });
  // E2B envd's /init is unauthenticated (the orchestrator calls it before the token exists); Kiln's
  // envd has its token from the start, so this one requires it. Only envVars is taken.
  router_.Add("POST", "/init", [this](http::Request& r, http::ResponseWriter& w) { Init(r, w); });
  router_.Add(
      "GET", "/files", [this](http::Request& r, http::ResponseWriter& w) { ReadFile(r, w); },
      /*requires_token=*/false);
  router_.Add(
      "POST", "/files", [this](http::Request& r, http::ResponseWriter& w) { WriteFiles(r, w); },
      /*requires_token=*/false);
}

}  // namespace kiln::envd
