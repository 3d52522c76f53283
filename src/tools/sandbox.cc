#include "kiln/tools/sandbox.h"

namespace kiln::tools {

SandboxFactory RuntimeSandboxFactory(runtime::Runtime* runtime, ToolSandboxOptions options) {
  return [runtime, options]() -> Result<SandboxEndpoint> {
    runtime::CreateOptions create;
    create.spec.limits.timeout_ms = options.lifetime_ms;
    create.die_with_owner = options.die_with_owner;
    create.spec.env["MPLCONFIGDIR"] = "/tmp/.matplotlib";
    create.env_vars["MPLCONFIGDIR"] = "/tmp/.matplotlib";
    KILN_ASSIGN_OR_RETURN(runtime::SandboxInfo info, runtime->CreateSandbox(create));
    return SandboxEndpoint{info.id, info.socket_path, info.access_token};
  };
}

}  // namespace kiln::tools
