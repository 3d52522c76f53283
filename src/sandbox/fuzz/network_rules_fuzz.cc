// Fuzz target: egress rules from clients (E2B's network.allowOut / denyOut, kiln run --allow-out) through
// SandboxSpec::Validate, one rule a line, alternating between the two lists. Must never crash; a rule
// that validates must parse again to the same verdict.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/sandbox/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  kiln::sandbox::SandboxSpec spec;
  size_t start = 0;
  for (int i = 0; start <= input.size(); ++i) {
    size_t end = input.find('\n', start);
    if (end == std::string::npos) end = input.size();
    (i % 2 ? spec.network_rules.deny_out : spec.network_rules.allow_out)
        .push_back(input.substr(start, end - start));
    start = end + 1;
  }
  bool ok = spec.Validate().ok();
  if (ok != spec.Validate().ok()) __builtin_trap();
  return 0;
}
