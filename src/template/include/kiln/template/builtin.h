// The built-in templates, `base` and `code-interpreter-v1`: template files like any other
// (templates/NAME/Dockerfile in the source tree), compiled into Kiln so that they work on a fresh machine
// with no build step. A built-in's file must need no build: FROM host and no instruction after it (only
// `# kiln:` directives: description, code-context, cpu-count, memory-mb, disk-mb). A sandbox of one is the
// plain sandbox (the host's /usr read-only) with those settings.
#pragma once

#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/template/dockerfile.h"

namespace kiln::tmpl {

struct BuiltInTemplate {
  std::string name;
  Dockerfile file;  // parsed; file.description, file.python_context and the limits say what it gives
};

// OK when `file` is a valid built-in: FROM host with no steps and no start command. InvalidArgument naming
// FILE and what would need a build otherwise.
Status CheckBuiltIn(const Dockerfile& file);

// Parses and checks `text` as the built-in template `name` (errors name templates/NAME/Dockerfile).
Result<BuiltInTemplate> ParseBuiltIn(const std::string& name, const std::string& text);

// The compiled-in templates, in a stable order: base, code-interpreter-v1. Parsed once; a shipped file
// that does not parse is a build defect and aborts with its error (builtin_test checks them).
const std::vector<BuiltInTemplate>& BuiltInTemplates();

}  // namespace kiln::tmpl
