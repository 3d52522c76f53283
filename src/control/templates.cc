#include "kiln/control/control.h"
#include "kiln/template/store.h"

namespace kiln::control {

const std::vector<Template>& Templates() {
  static const std::vector<Template> kTemplates = {
      {"base", "the host's /usr read-only, a private home and /tmp; processes and files through envd", false},
      {"code-interpreter-v1", "base with the default Python code context started (E2B code interpreter)",
       true},
  };
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
  for (const tmpl::TemplateInfo& t : tmpl::TemplateStore(home).List())
    all.push_back({t.name, "built from " + t.from + " (kiln template build)", false, true});
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
