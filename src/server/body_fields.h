// Reading the fields of a control-plane JSON body (internal to kiln_server). Every error is an
// InvalidArgument whose message starts with the field's name ("timeout: must be an integer ..."), which the
// API answers as a 400. Pure functions; no exception escapes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::server {

// The body as a JSON object; an empty body counts as {} (the SDK sends {} or nothing for connect).
Result<nlohmann::json> ParseObject(std::string_view body);
// An optional object of strings (absent or null: empty). `name` is the field's name in messages
// ("network.rules"), `field` its key in `object`.
Result<std::map<std::string, std::string>> StringMap(const nlohmann::json& object, const char* field,
                                                     const std::string& name = "");
// An optional array of strings (absent or null: empty).
Result<std::vector<std::string>> StringList(const nlohmann::json& object, const char* field,
                                            const std::string& name = "");
// An optional whole number of seconds (E2B sends integers; a fraction is refused rather than rounded).
Result<std::optional<int64_t>> Seconds(const nlohmann::json& object, const char* field);
// An optional boolean (absent or null: nullopt).
Result<std::optional<bool>> Boolean(const nlohmann::json& object, const char* field,
                                    const std::string& name = "");
// A string field; absent or null is an error only when `required`, and leaves *out unchanged.
Status StringField(const nlohmann::json& object, const char* field, bool required, std::string* out);

}  // namespace kiln::server
