#include "kiln/client/code_client.h"

#include <nlohmann/json.hpp>

#include "connection_pool.h"
#include "flat_json.h"
#include "kiln/base/json.h"
#include "kiln/protocol/http_client.h"

namespace kiln::client {
namespace {

using Json = nlohmann::json;

Status HttpError(int status, const std::string& body) {
  std::string message = std::to_string(status) + ": " + body;
  if (status == 404) return NotFound(message);
  if (status == 400) return InvalidArgument(message);
  if (status == 401) return PermissionDenied(message);
  return Unavailable(message);
}

ExecutionResult ResultFrom(const Json& item) {
  ExecutionResult r;
  r.is_main_result = item.value("is_main_result", false);
  for (const auto& [key, value] : item.items()) {
    if (key == "type" || key == "is_main_result") continue;
    r.formats[key] = value.is_string() ? value.get<std::string>() : DumpJson(value);
  }
  return r;
}

// Applies one NDJSON item to `out`, calling the matching callback.
void Apply(const Json& item, Execution& out, const ExecuteCallbacks& cb) {
  std::string type = item.value("type", "");
  if (type == "stdout" || type == "stderr") {
    std::string text = item.value("text", "");
    (type == "stdout" ? out.stdout_chunks : out.stderr_chunks).push_back(text);
    auto& fn = type == "stdout" ? cb.on_stdout : cb.on_stderr;
    if (fn) fn(text);
  } else if (type == "result") {
    out.results.push_back(ResultFrom(item));
    if (cb.on_result) cb.on_result(out.results.back());
  } else if (type == "error") {
    out.error = ExecutionError{item.value("name", ""), item.value("value", ""), item.value("traceback", "")};
    if (cb.on_error) cb.on_error(*out.error);
  } else if (type == "number_of_executions") {
    out.execution_count = item.value("execution_count", int64_t{0});
    if (cb.on_execution_count) cb.on_execution_count(out.execution_count);
  } else if (type == "end_of_execution") {
    out.completed = true;
  }
}

CodeContext ContextFrom(const Json& j) {
  return {j.value("id", ""), j.value("language", ""), j.value("cwd", "")};
}

}  // namespace

std::string Execution::Text() const {
  for (const auto& r : results)
    if (r.is_main_result) return r.Get("text");
  return "";
}

std::string Execution::Stdout() const {
  std::string s;
  for (const auto& c : stdout_chunks) s += c;
  return s;
}

std::string Execution::Stderr() const {
  std::string s;
  for (const auto& c : stderr_chunks) s += c;
  return s;
}

CodeClient::CodeClient(std::string socket_path, std::string access_token)
    : access_token_(std::move(access_token)),
      pool_(std::make_shared<ConnectionPool>(std::move(socket_path))) {}

Result<Execution> CodeClient::Execute(const std::string& code, const ExecuteOptions& options,
                                      const ExecuteCallbacks& callbacks) const {
  Json body = {{"code", code}};
  if (options.context_id) body["context_id"] = *options.context_id;
  if (options.language) body["language"] = *options.language;
  if (!options.env_vars.empty()) body["env_vars"] = options.env_vars;
  if (options.timeout_ms > 0) body["timeout"] = options.timeout_ms;
  http::Headers headers;
  headers.Set("Content-Type", "application/json");
  if (!access_token_.empty()) headers.Set("X-Access-Token", access_token_);
  Execution out;
  int status = 0;
  std::string error_body, lines;
  size_t scanned = 0;  // lines[0, scanned) holds no '\n': a long line is searched once, not once per read
  auto on_head = [&](const http::Response& r) { status = r.status; };
  auto on_data = [&](std::string_view data) {
    if (status != 200) {
      error_body.append(data);
      return true;
    }
    lines.append(data);
    size_t start = 0;
    for (size_t nl; (nl = lines.find('\n', scanned)) != std::string::npos; start = scanned = nl + 1) {
      std::string_view text = std::string_view(lines).substr(start, nl - start);
      Json item;
      if (!ParseFlatStringObject(text, &item)) item = Json::parse(text, nullptr, false);
      if (item.is_object()) Apply(item, out, callbacks);
    }
    lines.erase(0, start);
    scanned = lines.size();
    return true;
  };
  PooledClient client(*pool_);
  int timeout = options.request_timeout_ms > 0 ? static_cast<int>(options.request_timeout_ms) : -1;
  client->set_cancelled(options.cancelled);
  Status transport = client->Stream("POST", "/execute", headers, DumpJson(body), on_head, on_data, timeout);
  client->set_cancelled({});
  if (!transport.ok() && options.cancelled && options.cancelled())
    return FailedPrecondition("cancelled: the cell was interrupted");
  if (!transport.ok()) return transport;
  if (status != 200) return HttpError(status, error_body);
  if (!out.completed) return Unavailable("the execution stream ended before end_of_execution");
  return out;
}

Result<CodeContext> CodeClient::CreateContext(const std::string& language, const std::string& cwd) const {
  Json body = Json::object();
  if (!language.empty()) body["language"] = language;
  if (!cwd.empty()) body["cwd"] = cwd;
  http::Headers headers;
  headers.Set("Content-Type", "application/json");
  PooledClient client(*pool_);
  KILN_ASSIGN_OR_RETURN(http::Response r, client->Do("POST", "/contexts", headers, DumpJson(body), 30'000));
  if (r.status != 200) return HttpError(r.status, r.body);
  Json j = Json::parse(r.body, nullptr, false);
  if (!j.is_object()) return Internal("bad /contexts reply: " + r.body);
  return ContextFrom(j);
}

Result<std::vector<CodeContext>> CodeClient::ListContexts() const {
  PooledClient client(*pool_);
  KILN_ASSIGN_OR_RETURN(http::Response r, client->Do("GET", "/contexts", {}, {}, 30'000));
  if (r.status != 200) return HttpError(r.status, r.body);
  Json j = Json::parse(r.body, nullptr, false);
  if (!j.is_array()) return Internal("bad /contexts reply: " + r.body);
  std::vector<CodeContext> out;
  for (const Json& c : j) out.push_back(ContextFrom(c));
  return out;
}

Status CodeClient::DeleteContext(const std::string& id) const {
  PooledClient client(*pool_);
  KILN_ASSIGN_OR_RETURN(http::Response r, client->Do("DELETE", "/contexts/" + id, {}, {}, 30'000));
  return r.status / 100 == 2 ? Status::Ok() : HttpError(r.status, r.body);
}

Status CodeClient::RestartContext(const std::string& id) const {
  PooledClient client(*pool_);
  KILN_ASSIGN_OR_RETURN(http::Response r, client->Do("POST", "/contexts/" + id + "/restart", {}, {}, 30'000));
  return r.status / 100 == 2 ? Status::Ok() : HttpError(r.status, r.body);
}

}  // namespace kiln::client
