#include "kiln/envd/code_interpreter.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include "kiln/base/ids.h"
#include "kiln/base/log.h"
#include "kiln/base/strings.h"
#include "kiln/kernel_bridge/kernelspec.h"

namespace kiln::envd {
namespace {

constexpr char kContextsPrefix[] = "/contexts/";

// Languages with a runner of envd's own; any other needs a Jupyter kernelspec and kiln-kernel-bridge.
bool Builtin(const std::string& language) {
  return language == "python" || language == "javascript" || language == "typescript" || language == "bash";
}

// Kernelspecs as seen inside envd's root. envd runs as root there, so it reads only regular files of
// bounded size, without blocking (a FIFO planted as kernel.json).
class RootKernelSpecFs : public kernel_bridge::KernelSpecFs {
 public:
  explicit RootKernelSpecFs(const RootFs& root) : root_(root) {}
  std::vector<std::string> ListDirectories(const std::string& dir) const override {
    std::vector<std::string> names;
    auto fd = root_.OpenPath(dir, O_RDONLY | O_DIRECTORY);
    if (!fd.ok()) return names;
    DIR* d = ::fdopendir(fd->release());
    if (d == nullptr) return names;
    while (dirent* e = ::readdir(d)) {
      struct stat st {};
      std::string name = e->d_name;
      if (name != "." && name != ".." && ::fstatat(::dirfd(d), e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode))
        names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  Result<std::string> ReadSmallFile(const std::string& path) const override {
    KILN_ASSIGN_OR_RETURN(UniqueFd fd, root_.OpenPath(path, O_RDONLY | O_NONBLOCK));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat " + path, errno);
    if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20))
      return InvalidArgument(path + ": not a small regular file");
    std::string out(static_cast<size_t>(st.st_size), '\0');
    ssize_t n = ::read(fd.get(), out.data(), out.size());
    if (n < 0) return ErrnoStatus("read " + path, errno);
    out.resize(static_cast<size_t>(n));
    return out;
  }

 private:
  const RootFs& root_;
};

// OK when `language` can run: envd has the bridge and a kernelspec serves it. The NotFound names the
// language and every directory searched, like the bridge itself would.
Status CheckKernelLanguage(const std::string& language, const EnvdConfig& config, const RootFs& root,
                           const std::string& home) {
  if (config.kernel_bridge.empty())
    return InvalidArgument("unsupported language '" + language +
                           "' (other languages need Jupyter kernels through kiln-kernel-bridge, which this "
                           "sandbox does not have)");
  std::string jupyter_path;
  for (const auto& [key, value] : DefaultEnv(config))
    if (key == "JUPYTER_PATH") jupyter_path = value;
  return kernel_bridge::FindKernelSpec(language, kernel_bridge::KernelSearchDirs(jupyter_path, home),
                                       RootKernelSpecFs(root))
      .status();
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
  // Output can be megabytes: one escaping pass into the line, no Json in between.
  Status SendOutput(std::string_view type, std::string_view text, std::string_view timestamp) override {
    std::string line = R"({"type":")";
    line.reserve(text.size() + 96);
    line.append(type).append(R"(","text":)");
    AppendJsonString(&line, text);
    line.append(R"(,"timestamp":")").append(timestamp).append("\"}\n");
    return writer_.Write(line);
  }
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
  KILN_ASSIGN_OR_RETURN(Caller caller, ResolveCaller(*root_, *config_, std::nullopt));
  if (!Builtin(language))
    KILN_RETURN_IF_ERROR(CheckKernelLanguage(language, *config_, *root_, caller.user.home));
  std::string dir = config_->workdir.value_or(caller.user.home);
  if (!cwd.empty()) {
    KILN_ASSIGN_OR_RETURN(dir, ResolveUserPath(cwd, caller.user.home));
  }
  if (!root_->OpenDir(dir).ok()) return InvalidArgument("cwd '" + dir + "' is not a directory");
  RunnerLaunch launch;
  launch.table = table_;
  launch.env = BuildEnv(caller.user.home, caller.user.name, DefaultEnv(*config_), {});
  if (caller.switch_identity) launch.identity = SpawnIdentity{caller.user.uid, caller.user.gid};
  const RootFs* root = root_;
  launch.open_cwd = [root](const std::string& d) { return root->OpenDir(d); };
  launch.kernel_bridge = config_->kernel_bridge;
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
    context = Default(NormalizeLanguage(body->language.value_or("")));
  }
  if (!context.ok()) {
    int status = context.status().code() == Code::kNotFound ? 404 : 400;
    return SendText(writer, status, context.status().message());
  }
  http::Headers headers;
  headers.Set("Content-Type", "application/x-ndjson");
  if (!writer.StartStream(200, headers).ok()) return;
  NdjsonSink sink(writer);
  // A context made before POST /init (the default ones are made at start) has the start-time env only:
  // every cell gets the vars set since, under its own env_vars.
  EnvVars env_vars = config_->init_env ? config_->init_env->Get() : EnvVars{};
  env_vars.insert(env_vars.end(), body->request.env_vars.begin(), body->request.env_vars.end());
  body->request.env_vars = std::move(env_vars);
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
