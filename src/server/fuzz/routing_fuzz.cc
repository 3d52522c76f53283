// libFuzzer target: the server's reading of untrusted request heads: the data-plane routing headers and
// host name, the request target (path and query), the list endpoint's metadata filter and its RFC 3339
// times. The input is newline-separated fields: id header, port header, host, target, metadata, time.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../query.h"
#include "../routing.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::string> Fields(std::string_view input, size_t count) {
  std::vector<std::string> fields;
  while (fields.size() + 1 < count) {
    size_t newline = input.find('\n');
    if (newline == std::string_view::npos) break;
    fields.emplace_back(input.substr(0, newline));
    input.remove_prefix(newline + 1);
  }
  fields.emplace_back(input);
  fields.resize(count);
  return fields;
}

void CheckRouting(const std::string& id, const std::string& port, const std::string& host) {
  auto target = kiln::server::FindDataPlane(id, port, host);
  if (!target) return;
  Check(target->port >= 0 && target->port <= 65535);
  Check(!target->sandbox_id.empty());
  // The 502 body echoes the id the client sent: it must still be valid JSON naming that sandbox.
  auto body = nlohmann::json::parse(kiln::server::SandboxNotFoundBody(target->sandbox_id), nullptr, false);
  Check(body.is_object() && body["sandboxId"].is_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = Fields(std::string_view(reinterpret_cast<const char*>(data), size), 6);
  CheckRouting(f[0], f[1], f[2]);
  if (auto target = kiln::server::ParseTarget(f[3]); target.ok()) {
    for (const std::string& segment : kiln::server::PathSegments(target->path)) Check(!segment.empty());
  }
  (void)kiln::server::DecodeMetadataFilter(f[4]);
  (void)kiln::server::ParseRfc3339Millis(f[5]);
  return 0;
}
