#include "kiln/control/control.h"
#include "kiln/template/builtin.h"
#include "kiln/template/store.h"

#include <cmath>

namespace kiln::control {

namespace {

// A built-in template (templates/NAME/Dockerfile, compiled in): a sandbox's default limits unless its file
// says otherwise.
Template BuiltIn(const tmpl::BuiltInTemplate& b) {
  sandbox::Limits limits;
  Template t{b.name, b.file.description, b.file.python_context};
  t.cpu_count = static_cast<int64_t>(std::ceil(b.file.cpu_count.value_or(limits.cpus)));
  t.memory_mb = b.file.memory_mb.value_or(limits.memory_bytes >> 20);
  t.disk_mb = b.file.disk_mb.value_or(limits.tmpfs_home_bytes >> 20);
  return t;
}

}  // namespace

const std::vector<Template>& Templates() {
  static const std::vector<Template> kTemplates = [] {
    std::vector<Template> all;
    for (const tmpl::BuiltInTemplate& b : tmpl::BuiltInTemplates()) all.push_back(BuiltIn(b));
    return all;
  }();
  return kTemplates;
}

Result<Template> FindTemplate(const std::string& id) {
  std::string known;
  for (const Template& t : Templates()) {
    if (t.id == id) return t;
    known += (known.empty() ? "" : ", ") + t.id;
  }
  return NotFound("template '" + id + "' not found; known templates: " + known);
}

std::vector<Template> Templates(const std::string& home) {
  std::vector<Template> all = Templates();
  for (const tmpl::TemplateInfo& t : tmpl::TemplateStore(home).List()) {
    std::string description =
        t.description.empty() ? "built from " + t.from + " (kiln template build)" : t.description;
    Template listed{t.name, description, t.python_context, true};
    listed.cpu_count = static_cast<int64_t>(std::ceil(t.cpu_count));
    listed.memory_mb = t.memory_mb;
    listed.disk_mb = t.disk_mb;
    listed.created_ms = t.created_ms;
    listed.version = t.envd_version;
    listed.start_cmd = t.start_cmd;
    listed.ready_cmd = t.ready_cmd;
    all.push_back(std::move(listed));
  }
  return all;
}

Result<Template> FindTemplate(const std::string& id, const std::string& home) {
  std::string known;
  for (const Template& t : Templates(home)) {
    if (t.id == id) return t;
    known += (known.empty() ? "" : ", ") + t.id;
  }
  return NotFound("template '" + id + "' not found; known templates: " + known);
}

}  // namespace kiln::control
