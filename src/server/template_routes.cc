#include "template_routes.h"

#include <nlohmann/json.hpp>

#include "kiln/base/clock.h"
#include "kiln/base/json.h"

namespace kiln::server {
namespace {

using Json = nlohmann::json;

Json TemplateJson(const control::Template& t) {
  // A built template has one build, named by when it was made (a rebuild is a new one); a built-in one is
  // Kiln's own, public, and was never built.
  std::string build_id = t.built ? t.id + "-" + std::to_string(t.created_ms) : t.id;
  std::string created = Rfc3339(t.created_ms * 1'000'000);
  return Json{{"templateID", t.id},
              {"buildID", build_id},
              {"cpuCount", t.cpu_count},
              {"memoryMB", t.memory_mb},
              {"diskSizeMB", t.disk_mb},
              {"public", !t.built},
              {"aliases", Json::array({t.id})},
              {"names", Json::array({t.id})},
              {"createdAt", created},
              {"updatedAt", created},
              {"createdBy", nullptr},
              {"lastSpawnedAt", nullptr},
              {"spawnCount", 0},
              {"buildCount", t.built ? 1 : 0},
              {"envdVersion", kEnvdVersion},
              {"buildStatus", "ready"},
              {"startCmd", t.start_cmd},
              {"readyCmd", t.ready_cmd}};
}

}  // namespace

ApiResponse ListTemplates(const control::Control& control) {
  Json out = Json::array();
  for (const control::Template& t : control::Templates(control.options().home))
    out.push_back(TemplateJson(t));
  ApiResponse response;
  response.body = DumpJson(out);
  return response;
}

}  // namespace kiln::server
