// Fuzz target: the JUnit XML reader of `kiln test` (the runner inside the sandbox writes what it likes).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kiln/checks/project_tests.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)kiln::checks::ParseJunit(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
