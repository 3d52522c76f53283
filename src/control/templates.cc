#include "kiln/control/control.h"

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

}  // namespace kiln::control
