// Fuzz target: the tool registry loader (YAML -> tools), then each loaded tool's schema against arguments
// made from the same bytes. Must never crash or hang, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kiln/tools/registry.h"
#include "kiln/tools/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kiln::Result<kiln::tools::Registry> registry = kiln::tools::ParseRegistry(text, "fuzz.yaml", "");
  if (!registry.ok()) return 0;
  nlohmann::json arguments = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  for (const kiln::tools::ToolDef& tool : registry->tools()) {
    (void)kiln::tools::ValidateValue(tool.parameters, arguments);
    (void)kiln::tools::ValidateValue(tool.parameters, nlohmann::json::object());
  }
  return 0;
}
