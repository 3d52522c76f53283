// Control::Logs: a sandbox's event log, read from its envd (GET /logs on its socket, with its token).
#include <nlohmann/json.hpp>

#include "envd_logs.h"
#include "kiln/control/control.h"
#include "kiln/protocol/http_client.h"

namespace kiln::control {
namespace {

constexpr int64_t kMaxLogLimit = 10'000;
constexpr int kEnvdTimeoutMs = 10'000;

// The string at `key`, or `fallback` when it is absent or not a string: the answer comes from inside the
// sandbox, so a field of another type must not throw (json::value would).
std::string StringOr(const nlohmann::json& object, const char* key, const char* fallback) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
}

}  // namespace

Result<std::vector<SandboxLogEntry>> ParseEnvdLogs(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("logs") || !parsed["logs"].is_array())
    return Internal("envd answered GET /logs with something that is not its log");
  std::vector<SandboxLogEntry> entries;
  for (const auto& e : parsed["logs"]) {
    if (!e.is_object() || !e.value("timestampMs", nlohmann::json()).is_number_integer()) continue;
    SandboxLogEntry entry{
        e["timestampMs"].get<int64_t>(), StringOr(e, "level", "info"), StringOr(e, "message", ""), {}};
    if (e.contains("fields") && e["fields"].is_object())
      for (const auto& [key, value] : e["fields"].items())
        if (value.is_string()) entry.fields[key] = value.get<std::string>();
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<std::vector<SandboxLogEntry>> Control::Logs(const Principal& caller, const std::string& id,
                                                   int64_t start_ms, int64_t limit) {
  if (limit < 1 || limit > kMaxLogLimit)
    return InvalidArgument("limit: must be between 1 and " + std::to_string(kMaxLogLimit));
  if (start_ms < 0) return InvalidArgument("start: must not be negative");
  KILN_ASSIGN_OR_RETURN(SandboxRecord record, Visible(caller, id));
  if (record.state == "paused")
    return FailedPrecondition("sandbox '" + id + "' is paused: connect to resume it, then read its logs");
  KILN_ASSIGN_OR_RETURN(Route route, Resolve(id));
  http::Headers headers;
  headers.Set("X-Access-Token", route.access_token);
  http::Client envd = http::Client::Unix(route.socket_path);
  std::string target = "/logs?start=" + std::to_string(start_ms) + "&limit=" + std::to_string(limit);
  Result<http::Response> answer = envd.Do("GET", target, headers, {}, kEnvdTimeoutMs);
  if (!answer.ok())
    return Unavailable("sandbox '" + id + "': its envd did not answer: " + answer.status().message());
  if (answer->status != 200)
    return Internal("sandbox '" + id + "': envd answered GET /logs with " + std::to_string(answer->status));
  return ParseEnvdLogs(answer->body);
}

}  // namespace kiln::control
