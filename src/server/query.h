// Pieces of E2B's control-plane URLs: the path and query of a target, the thrice-encoded metadata filter,
// and RFC 3339 times. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::server {

struct Target {
  std::string path;                          // percent-decoded
  std::map<std::string, std::string> query;  // names and values percent-decoded once; last one wins
};
// InvalidArgument for bad percent-encoding.
Result<Target> ParseTarget(const std::string& target);

// The list endpoint's `metadata` parameter once the query itself was decoded: a form-encoded string whose
// keys and values are percent-encoded once more ("k=v%2520w" -> {"k": "v w"}), see e2b-protocol.md 3.2.
Result<std::map<std::string, std::string>> DecodeMetadataFilter(const std::string& value);

// "2026-01-01T00:00:00Z" or with fractional seconds or a numeric offset, to Unix milliseconds.
Result<int64_t> ParseRfc3339Millis(const std::string& text);

// "/sandboxes/abc/timeout" -> {"sandboxes", "abc", "timeout"}.
std::vector<std::string> PathSegments(const std::string& path);

}  // namespace kiln::server
