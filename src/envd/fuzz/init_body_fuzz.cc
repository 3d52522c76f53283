// libFuzzer target: the body of envd's POST /init (what a pooled sandbox's create sends) and its merge into
// the sandbox-wide env vars. Checks the contract, not just crashes: a merge either sets every pair or
// nothing; what is set stays within InitEnv's bounds, with valid unique names; merging the same pairs again
// changes nothing.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "kiln/envd/config.h"

namespace {

using kiln::envd::EnvVars;
using kiln::envd::InitEnv;

void CheckWithinBounds(const EnvVars& vars) {
  size_t bytes = 0;
  std::set<std::string> names;
  for (const auto& [key, value] : vars) {
    KILN_FUZZ_CHECK(!key.empty() && key.find('=') == std::string::npos);
    KILN_FUZZ_CHECK(key.find('\0') == std::string::npos && value.find('\0') == std::string::npos);
    KILN_FUZZ_CHECK(names.insert(key).second);
    bytes += key.size() + value.size();
  }
  KILN_FUZZ_CHECK(vars.size() <= InitEnv::kMaxVars);
  KILN_FUZZ_CHECK(bytes <= InitEnv::kMaxBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto vars = kiln::envd::ParseInitBody(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!vars.ok()) return 0;
  InitEnv env;
  KILN_FUZZ_CHECK(env.Merge({{"BEFORE", "kept"}}).ok());
  EnvVars before = env.Get();
  if (!env.Merge(*vars).ok()) {
    KILN_FUZZ_CHECK(env.Get() == before);  // refused: nothing set
    return 0;
  }
  EnvVars merged = env.Get();
  CheckWithinBounds(merged);
  for (const auto& [key, value] : *vars) {
    bool found = false;
    for (const auto& [k, v] : merged) found = found || (k == key && v == value);
    KILN_FUZZ_CHECK(found);
  }
  KILN_FUZZ_CHECK(env.Merge(*vars).ok());
  KILN_FUZZ_CHECK(env.Get() == merged);
  return 0;
}
