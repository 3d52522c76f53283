// libFuzzer target: envd's path normalisation (a request's path -> the clean absolute path every file API
// then resolves inside the sandbox root). Checks the contract, not just crashes: results are clean and
// absolute, cleaning is idempotent, and splitting and joining round-trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/envd/paths.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Clean: absolute, no empty, "." or ".." segment, no trailing slash but for "/".
bool IsClean(const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  if (p == "/") return true;
  if (p.back() == '/') return false;
  for (size_t start = 1; start <= p.size();) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string_view segment(p.data() + start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string absolute = "/" + std::string(input);
  std::string clean = kiln::envd::CleanAbsolute(absolute);
  Check(IsClean(clean));
  Check(kiln::envd::CleanAbsolute(clean) == clean);
  auto [parent, name] = kiln::envd::SplitParent(clean);
  Check(IsClean(parent));
  if (clean != "/") Check(kiln::envd::JoinPath(parent, name) == clean);
  kiln::Result<std::string> user = kiln::envd::ResolveUserPath(input, "/home/user");
  Check(user.ok() == (input.find('\0') == std::string_view::npos));
  if (user.ok()) Check(IsClean(*user));
  return 0;
}
