// Re-adopting a sandbox launched by an earlier process (Backend::Adopt of the namespaces backend).
#pragma once

#include <memory>
#include <string>

#include "cgroup.h"
#include "kiln/sandbox/sandbox.h"

namespace kiln::sandbox {

// See Backend::Adopt. `os` must outlive the handle.
Result<std::unique_ptr<Sandbox>> AdoptSandbox(Os& os, const CgroupConfig& cgroups, const std::string& id);

}  // namespace kiln::sandbox
