// libFuzzer target: the fast reader of /execute's NDJSON items (flat objects of strings), checked against
// nlohmann::json on the same bytes: whatever the fast path accepts, the full parser must accept too and
// read as the same object, since the client trusts either one.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../flat_json.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json fast;
  if (!kiln::client::ParseFlatStringObject(text, &fast)) return 0;
  nlohmann::json full = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  Check(!full.is_discarded());
  Check(full == fast);
  // What the client later does with an item: serialise it (for the trace and the CLI's --json output).
  Check(!fast.dump().empty());
  return 0;
}
