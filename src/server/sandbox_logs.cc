#include "sandbox_logs.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "kiln/base/clock.h"
#include "kiln/base/json.h"

namespace kiln::server {
namespace {

using Json = nlohmann::json;

constexpr int64_t kDefaultLimit = 1000;
constexpr int64_t kMaxLimit = 10'000;  // Control::Logs' maximum

Result<std::optional<int64_t>> QueryInt(const Target& target, const char* name, int64_t max) {
  auto it = target.query.find(name);
  if (it == target.query.end()) return std::optional<int64_t>();
  const std::string& v = it->second;
  if (v.empty() || v.size() > 15 || v.find_first_not_of("0123456789") != std::string::npos ||
      std::stoll(v) > max)
    return InvalidArgument(std::string(name) + ": must be an integer from 0 to " + std::to_string(max));
  return std::optional<int64_t>(std::stoll(v));
}

int LevelRank(const std::string& level) {
  static const char* kLevels[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; ++i)
    if (level == kLevels[i]) return i;
  return -1;
}

Json EntryJson(const control::SandboxLogEntry& e) {
  return Json{{"timestamp", Rfc3339(e.at_ms * 1'000'000)},
              {"level", e.level},
              {"message", e.message},
              {"fields", e.fields}};
}

ApiResponse Error(const Status& status) {
  return ErrorResponse(HttpStatus(status.code()), status.message());
}

ApiResponse Legacy(control::Control& control, const control::Principal& caller, const std::string& id,
                   const Target& target) {
  auto start = QueryInt(target, "start", int64_t{1} << 50);
  auto limit = QueryInt(target, "limit", kMaxLimit);
  for (const Status* s : {&start.status(), &limit.status()})
    if (!s->ok()) return Error(*s);
  auto entries =
      control.Logs(caller, id, start->value_or(0), std::max<int64_t>(limit->value_or(kDefaultLimit), 1));
  if (!entries.ok()) return Error(entries.status());
  Json logs = Json::array(), structured = Json::array();
  if (limit->value_or(1) == 0) entries->clear();
  for (const control::SandboxLogEntry& e : *entries) {
    Json line = {{"level", e.level}, {"message", e.message}};
    for (const auto& [key, value] : e.fields) line[key] = value;
    logs.push_back({{"timestamp", Rfc3339(e.at_ms * 1'000'000)}, {"line", DumpJson(line)}});
    structured.push_back(EntryJson(e));
  }
  return ApiResponse{200, DumpJson(Json{{"logs", logs}, {"logEntries", structured}}), {}};
}

ApiResponse V2(control::Control& control, const control::Principal& caller, const std::string& id,
               const Target& target) {
  auto cursor = QueryInt(target, "cursor", int64_t{1} << 50);
  auto limit = QueryInt(target, "limit", kMaxLimit);
  for (const Status* s : {&cursor.status(), &limit.status()})
    if (!s->ok()) return Error(*s);
  auto param = [&](const char* name) {
    auto it = target.query.find(name);
    return it == target.query.end() ? std::string() : it->second;
  };
  std::string direction = param("direction"), level = param("level"), search = param("search");
  if (!direction.empty() && direction != "forward" && direction != "backward")
    return ErrorResponse(400, "direction: must be forward or backward");
  if (!level.empty() && LevelRank(level) < 0)
    return ErrorResponse(400, "level: must be debug, info, warn or error");
  bool backward = direction == "backward";
  // Filters apply before the limit, so the whole log is read (envd keeps at most a few thousand entries).
  auto entries = control.Logs(caller, id, backward ? 0 : cursor->value_or(0), kMaxLimit);
  if (!entries.ok()) return Error(entries.status());
  int64_t until = cursor->value_or(WallNanos() / 1'000'000);
  std::vector<control::SandboxLogEntry> kept;
  for (control::SandboxLogEntry& e : *entries) {
    if (backward && e.at_ms > until) continue;
    if (!level.empty() && LevelRank(e.level) < LevelRank(level)) continue;
    if (!search.empty() && e.message.find(search) == std::string::npos) continue;
    kept.push_back(std::move(e));
  }
  if (backward) std::reverse(kept.begin(), kept.end());
  size_t max = static_cast<size_t>(limit->value_or(kDefaultLimit));
  if (kept.size() > max) kept.resize(max);
  Json logs = Json::array();
  for (const control::SandboxLogEntry& e : kept) logs.push_back(EntryJson(e));
  return ApiResponse{200, DumpJson(Json{{"logs", logs}}), {}};
}

}  // namespace

ApiResponse SandboxLogs(control::Control& control, const control::Principal& caller, const std::string& id,
                        const Target& target, bool v2) {
  return v2 ? V2(control, caller, id, target) : Legacy(control, caller, id, target);
}

}  // namespace kiln::server
