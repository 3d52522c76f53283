// Random identifiers from the kernel's CSPRNG (getrandom); safe to use as unguessable tokens.
#pragma once

#include <string>
#include <string_view>

namespace kiln {

// `bytes` random bytes as lower-case hex (2*bytes characters).
std::string RandomHex(size_t bytes);
// A sandbox-style id: a letter followed by lower-case alphanumerics, `length` characters in all.
std::string RandomId(size_t length = 20);
// Whether `s` has the shape RandomId(length) gives.
bool HasRandomIdShape(std::string_view s, size_t length = 20);

}  // namespace kiln
