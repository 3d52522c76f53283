// libFuzzer target: ParseCreateRequest, the body of every create a client sends, on both create paths.
// It must never crash or throw, and what it accepts or refuses must keep its contract (create_request.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../create_request.h"
#include "fuzz_check.h"

namespace {

void CheckOne(std::string_view body, kiln::server::CreatePath path) {
  auto parsed = kiln::server::ParseCreateRequest(body, path);
  if (!parsed.ok()) {
    KILN_FUZZ_CHECK(parsed.status().code() == kiln::Code::kInvalidArgument);
    KILN_FUZZ_CHECK(!parsed.status().message().empty());
    return;
  }
  KILN_FUZZ_CHECK(!parsed->template_id.empty());
  if (path == kiln::server::CreatePath::kLegacy) KILN_FUZZ_CHECK(parsed->allow_internet_access != true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  CheckOne(body, kiln::server::CreatePath::kV2);
  CheckOne(body, kiln::server::CreatePath::kLegacy);
  return 0;
}
