// A multipart/form-data (RFC 7578) body parser for POST /files. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::envd {

struct FormPart {
  std::string name;                     // Content-Disposition name
  std::optional<std::string> filename;  // raw, NOT reduced to a base name (E2B sends destination paths)
  std::string data;
};

// The boundary parameter of a multipart/form-data Content-Type; InvalidArgument if it is not one.
Result<std::string> MultipartBoundary(std::string_view content_type);
// Splits `body` into its parts. Malformed bodies (no closing delimiter, part without headers) ->
// InvalidArgument.
Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary);

}  // namespace kiln::envd
