#include "kiln/template/builtin.h"

#include <cstdio>
#include <cstdlib>

#include "builtin_files.h"  // generated from templates/*/Dockerfile (CMakeLists.txt)

namespace kiln::tmpl {

Status CheckBuiltIn(const Dockerfile& file) {
  if (file.from != "host")
    return InvalidArgument(file.file + ":" + std::to_string(file.from_line) +
                           ": a built-in template is FROM host (anything else needs `kiln template build`)");
  if (!file.steps.empty())
    return InvalidArgument(file.file + ":" + std::to_string(file.steps.front().line) +
                           ": a built-in template has no instructions after FROM (" +
                           file.steps.front().text + " needs `kiln template build`)");
  if (!file.start_cmd.empty())
    return InvalidArgument(file.file + ":" + std::to_string(file.start_cmd_line) +
                           ": a built-in template has no start command");
  if (file.description.empty())
    return InvalidArgument(file.file + ": a built-in template needs a description");
  return Status::Ok();
}

Result<BuiltInTemplate> ParseBuiltIn(const std::string& name, const std::string& text) {
  KILN_ASSIGN_OR_RETURN(Dockerfile file, ParseDockerfile(text, "templates/" + name + "/Dockerfile"));
  KILN_RETURN_IF_ERROR(CheckBuiltIn(file));
  return BuiltInTemplate{name, std::move(file)};
}

const std::vector<BuiltInTemplate>& BuiltInTemplates() {
  static const std::vector<BuiltInTemplate> kAll = [] {
    std::vector<BuiltInTemplate> all;
    for (const auto& [name, text] :
         {std::pair{"base", kBaseDockerfile}, std::pair{"code-interpreter-v1", kCodeInterpreterDockerfile}}) {
      Result<BuiltInTemplate> t = ParseBuiltIn(name, text);
      if (!t.ok()) {
        std::fprintf(stderr, "kiln: built-in template %s: %s\n", name, t.status().ToString().c_str());
        std::abort();
      }
      all.push_back(std::move(*t));
    }
    return all;
  }();
  return kAll;
}

}  // namespace kiln::tmpl
