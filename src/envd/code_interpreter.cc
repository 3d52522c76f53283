#include "kiln/envd/code_interpreter.h"

#include <fcntl.h>

#include <thread>

#include "kiln/base/ids.h"
#include "kiln/base/log.h"
#include "kiln/base/strings.h"

namespace kiln::envd {
namespace {

constexpr char kContextsPrefix[] = "/contexts/";

bool Supported(const std::string& language) {
  return language == "python" || language == "javascript" || language == "typescript" || language == "bash";
}

void SendText(http::ResponseWriter& writer, int status, const std::string& text) {
  http::Response response;
  response.status = status;
  response.headers.Set("Content-Type", "text/plain; charset=utf-8");
  response.body = text;
  (void)writer.Send(response);
}

void SendEmpty(http::ResponseWriter& writer) {
  http::Response response;
  response.status = 204;
  (void)writer.Send(response);
}

Json Describe(const CodeContext& c) {
  return {{"id", c.id()}, {"language", c.language()}, {"cwd", c.cwd()}};
}

// The /execute stream: NDJSON lines, each flushed.
class NdjsonSink : public CodeItemSink {
 public:
  explicit NdjsonSink(http::ResponseWriter& writer) : writer_(writer) {}
  Status Send(const Json& item) override { return writer_.Write(DumpJson(item) + "\n"); }
  bool ClientGone() override { return writer_.PeerClosed(); }

 private:
  http::ResponseWriter& writer_;
};

struct ExecuteBody {
  CodeExecuteRequest request;
  std::optional<std::string> context_id;
  std::optional<std::string> language;
};

Result<ExecuteBody> ParseExecute(const std::string& body) {
  KILN_ASSIGN_OR_RETURN(Json j, ParseRequestJson(body));
  ExecuteBody out;
  KILN_ASSIGN_OR_RETURN(out.request.code, GetString(j, "code"));
  KILN_ASSIGN_OR_RETURN(out.context_id, GetOptionalString(j, "context_id"));
  KILN_ASSIGN_OR_RETURN(out.language, GetOptionalString(j, "language"));
  KILN_ASSIGN_OR_RETURN(out.request.env_vars, GetStringMap(j, "env_vars"));
  KILN_ASSIGN_OR_RETURN(out.request.timeout_ms, GetInt(j, "timeout"));
  if (out.context_id && out.language)
    return InvalidArgument("context_id and language are mutually exclusive");
  return out;
}

}  // namespace

std::string NormalizeLanguage(std::string_view language) {
  std::string l = ToLower(Trim(language));
  if (l.empty()) return "python";
  if (l == "js") return "javascript";
  if (l == "ts") return "typescript";
  return l;
}

CodeInterpreter::CodeInterpreter(const EnvdConfig* config, const RootFs* root, ProcessTable* table,
                                 CodeLimits limits)
    : config_(config), root_(root), table_(table), limits_(limits) {
  for (const char* language : {"python", "javascript"}) {
    auto made = Make(language, "");
    if (made.ok()) contexts_.push_back(*made);
  }
  if (config_->preload_python && !contexts_.empty()) {
    std::shared_ptr<CodeContext> python = contexts_.front();
    std::thread([python] {
      Status started = python->EnsureStarted();
      if (!started.ok()) log::Error("envd: starting the default python context: " + started.ToString());
    }).detach();
  }
}

CodeInterpreter::~CodeInterpreter() = default;

Result<std::shared_ptr<CodeContext>> CodeInterpreter::Make(const std::string& language,
                                                           const std::string& cwd) {
  if (!Supported(language)) return InvalidArgument("unsupported language '" + language + "'");
  KILN_ASSIGN_OR_RETURN(Caller caller, ResolveCaller(*root_, *config_, std::nullopt));
  std::string dir = config_->workdir.value_or(caller.user.home);
  if (!cwd.empty()) {
    KILN_ASSIGN_OR_RETURN(dir, ResolveUserPath(cwd, caller.user.home));
  }
  if (!root_->OpenDir(dir).ok()) return InvalidArgument("cwd '" + dir + "' is not a directory");
  RunnerLaunch launch;
  launch.table = table_;
  launch.env = BuildEnv(caller.user.home, caller.user.name, config_->env, {});
  if (caller.switch_identity) launch.identity = SpawnIdentity{caller.user.uid, caller.user.gid};
  const RootFs* root = root_;
  launch.open_cwd = [root](const std::string& d) { return root->OpenDir(d); };
  return std::make_shared<CodeContext>(RandomId(20), language, dir, std::move(launch), limits_);
}

Result<std::shared_ptr<CodeContext>> CodeInterpreter::Find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : contexts_)
    if (c->id() == id) return c;
  return NotFound("context '" + id + "' not found");
}

Result<std::shared_ptr<CodeContext>> CodeInterpreter::Default(const std::string& language) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : contexts_)
      if (c->language() == language) return c;
  }
  return Create(language, "");
}

Result<std::shared_ptr<CodeContext>> CodeInterpreter::Create(const std::string& language,
                                                             const std::string& cwd) {
  KILN_ASSIGN_OR_RETURN(auto context, Make(language, cwd));
  std::lock_guard<std::mutex> lock(mu_);
  contexts_.push_back(context);
  return context;
}

Status CodeInterpreter::Remove(const std::string& id) {
  std::shared_ptr<CodeContext> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = contexts_.begin(); it != contexts_.end(); ++it) {
      if ((*it)->id() != id) continue;
      removed = *it;
      contexts_.erase(it);
      break;
    }
  }
  if (!removed) return NotFound("context '" + id + "' not found");
  removed->Stop();
  return Status::Ok();
}

void CodeInterpreter::AddRoutes(Router& router) {
  router.Add("POST", "/execute", [this](http::Request& r, http::ResponseWriter& w) { Execute(r, w); });
  router.Add(
      "POST", "/contexts", [this](http::Request& r, http::ResponseWriter& w) { CreateRoute(r, w); }, false);
  router.Add(
      "GET", "/contexts", [this](http::Request&, http::ResponseWriter& w) { ListRoute(w); }, false);
  for (const char* method : {"DELETE", "POST"})
    router.AddPrefix(
        method, kContextsPrefix, [this](http::Request& r, http::ResponseWriter& w) { ContextRoute(r, w); },
        false);
}

void CodeInterpreter::Execute(http::Request& request, http::ResponseWriter& writer) {
  auto body = ParseExecute(request.body);
  if (!body.ok()) return SendText(writer, 400, body.status().message());
  Result<std::shared_ptr<CodeContext>> context = NotFound("");
  if (body->context_id) {
    context = Find(*body->context_id);
  } else {
    std::string language = NormalizeLanguage(body->language.value_or(""));
    if (!Supported(language)) return SendText(writer, 400, "unsupported language '" + language + "'");
    context = Default(language);
  }
  if (!context.ok()) {
    int status = context.status().code() == Code::kNotFound ? 404 : 400;
    return SendText(writer, status, context.status().message());
  }
  http::Headers headers;
  headers.Set("Content-Type", "application/x-ndjson");
  if (!writer.StartStream(200, headers).ok()) return;
  NdjsonSink sink(writer);
  Status ran = (*context)->Execute(body->request, sink);
  if (!ran.ok())
    (void)sink.Send(
        {{"type", "error"}, {"name", "ContextStartError"}, {"value", ran.ToString()}, {"traceback", ""}});
  (void)sink.Send({{"type", "end_of_execution"}});
  (void)writer.Finish();
}

void CodeInterpreter::CreateRoute(http::Request& request, http::ResponseWriter& writer) {
  auto j = ParseRequestJson(request.body);
  if (!j.ok()) return SendText(writer, 400, j.status().message());
  std::string language = NormalizeLanguage(j->value("language", ""));
  auto context = Create(language, j->value("cwd", ""));
  if (!context.ok()) return SendText(writer, 400, context.status().message());
  // Start it now so the first execute does not pay for it; a failure shows up on execute.
  std::shared_ptr<CodeContext> c = *context;
  std::thread([c] { (void)c->EnsureStarted(); }).detach();
  SendJson(writer, 200, Describe(*c));
}

void CodeInterpreter::ListRoute(http::ResponseWriter& writer) {
  Json list = Json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : contexts_) list.push_back(Describe(*c));
  SendJson(writer, 200, list);
}

// DELETE /contexts/{id} and POST /contexts/{id}/restart.
void CodeInterpreter::ContextRoute(http::Request& request, http::ResponseWriter& writer) {
  std::string rest = request.path.substr(sizeof(kContextsPrefix) - 1);
  bool restart = rest.size() > 8 && rest.compare(rest.size() - 8, 8, "/restart") == 0;
  if (restart) rest.resize(rest.size() - 8);
  if (rest.empty() || rest.find('/') != std::string::npos || (request.method == "POST") != restart)
    return SendText(writer, 404, "not found");
  if (!restart) {
    Status removed = Remove(rest);
    return removed.ok() ? SendEmpty(writer) : SendText(writer, 404, removed.message());
  }
  auto context = Find(rest);
  if (!context.ok()) return SendText(writer, 404, context.status().message());
  Status restarted = (*context)->Restart();
  if (!restarted.ok()) return SendText(writer, 500, restarted.ToString());
  SendEmpty(writer);
}

}  // namespace kiln::envd
