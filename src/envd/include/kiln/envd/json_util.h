// Reading proto3-JSON request messages the way protobuf-es and connect-go do: fields by lowerCamelCase or
// snake_case name, unknown keys ignored, int64 as number or string, enums as names or numbers, absent or
// null fields meaning the default. Type mismatches are InvalidArgument errors naming the field.
// Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::envd {

using Json = nlohmann::json;

// Parses a request body. Empty body -> {}. Not JSON or not an object -> InvalidArgument.
Result<Json> ParseRequestJson(std::string_view body);

// The member called `camel` (or `snake` when given), or nullptr when absent or null.
const Json* FindField(const Json& obj, std::string_view camel, std::string_view snake = {});

Result<std::string> GetString(const Json& obj, std::string_view camel, std::string_view snake = {});
Result<std::optional<std::string>> GetOptionalString(const Json& obj, std::string_view camel,
                                                     std::string_view snake = {});
Result<bool> GetBool(const Json& obj, std::string_view camel, std::string_view snake = {});
Result<std::optional<bool>> GetOptionalBool(const Json& obj, std::string_view camel,
                                            std::string_view snake = {});
// Integers: a JSON number or a decimal string ("3"); absent -> 0.
Result<int64_t> GetInt(const Json& obj, std::string_view camel, std::string_view snake = {});
// An object-valued field; absent -> empty object.
Result<Json> GetObject(const Json& obj, std::string_view camel, std::string_view snake = {});
Result<std::vector<std::string>> GetStringList(const Json& obj, std::string_view camel,
                                               std::string_view snake = {});
Result<std::vector<std::pair<std::string, std::string>>> GetStringMap(const Json& obj, std::string_view camel,
                                                                      std::string_view snake = {});
// `bytes` fields: base64 (standard or URL-safe, padding optional); absent -> "".
Result<std::string> GetBytes(const Json& obj, std::string_view camel, std::string_view snake = {});

// An enum value given as a name from `names` or as a number (any number is accepted: proto3 enums are open).
struct EnumName {
  std::string_view name;
  int value;
};
Result<int> ParseEnum(const Json& value, const std::vector<EnumName>& names, std::string_view field);

// Appends `text` to *out as a JSON string literal, quotes included, without building a Json: valid UTF-8 is
// kept as is, `"`, `\` and control characters are escaped, and each byte that is not part of a valid UTF-8
// sequence becomes U+FFFD (as Json::dump with error_handler_t::replace). For large output text.
void AppendJsonString(std::string* out, std::string_view text);

}  // namespace kiln::envd
