// libFuzzer target: control's reading of envd's GET /logs answer, which a sandbox's code may forge.
#include <cstddef>
#include <cstdint>
#include <string>

#include "../envd_logs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto entries = kiln::control::ParseEnvdLogs(std::string(reinterpret_cast<const char*>(data), size));
  if (entries.ok()) {
    for (const auto& e : *entries) {
      if (e.level.size() > size || e.message.size() > size) __builtin_trap();
    }
  }
  return 0;
}
