#include "kiln/runtime/backend.h"

#include <mutex>

namespace kiln::runtime {

Result<sandbox::Backend*> DefaultBackend() {
  static std::once_flag once;
  static Result<std::unique_ptr<sandbox::Backend>>* backend = nullptr;
  std::call_once(
      once, [] { backend = new Result<std::unique_ptr<sandbox::Backend>>(sandbox::MakeNamespaceBackend()); });
  if (!backend->ok()) return backend->status();
  return backend->value().get();
}

std::vector<std::pair<std::string, std::string>> ProgramEnvironment(const sandbox::SandboxSpec& spec) {
  std::vector<std::pair<std::string, std::string>> env(spec.env.begin(), spec.env.end());
  auto add_default = [&](const char* key, const char* value) {
    if (!spec.env.count(key)) env.emplace_back(key, value);
  };
  add_default("PATH", "/opt/kiln/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  add_default("HOME", sandbox::kSandboxHome);
  add_default("USER", sandbox::kSandboxUser);
  add_default("LOGNAME", sandbox::kSandboxUser);
  add_default("LANG", "C.UTF-8");
  return env;
}

}  // namespace kiln::runtime
