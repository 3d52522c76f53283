#include "kiln/envd/json_util.h"

#include <charconv>

#include "kiln/base/strings.h"

namespace kiln::envd {
namespace {

Status WrongType(std::string_view field, std::string_view want) {
  return InvalidArgument("field '" + std::string(field) + "' must be " + std::string(want));
}

}  // namespace

Result<Json> ParseRequestJson(std::string_view body) {
  if (Trim(body).empty()) return Json::object();
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("request body is not valid JSON");
  if (!j.is_object()) return InvalidArgument("request body must be a JSON object");
  return j;
}

const Json* FindField(const Json& obj, std::string_view camel, std::string_view snake) {
  if (!obj.is_object()) return nullptr;
  for (std::string_view key : {camel, snake}) {
    if (key.empty()) continue;
    auto it = obj.find(key);
    if (it != obj.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

Result<std::optional<std::string>> GetOptionalString(const Json& obj, std::string_view camel,
                                                     std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(camel, "a string");
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::string> GetString(const Json& obj, std::string_view camel, std::string_view snake) {
  KILN_ASSIGN_OR_RETURN(auto value, GetOptionalString(obj, camel, snake));
  return value.value_or("");
}

Result<std::optional<bool>> GetOptionalBool(const Json& obj, std::string_view camel, std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (!v) return std::optional<bool>();
  if (!v->is_boolean()) return WrongType(camel, "a boolean");
  return std::optional<bool>(v->get<bool>());
}

Result<bool> GetBool(const Json& obj, std::string_view camel, std::string_view snake) {
  KILN_ASSIGN_OR_RETURN(auto value, GetOptionalBool(obj, camel, snake));
  return value.value_or(false);
}

Result<int64_t> GetInt(const Json& obj, std::string_view camel, std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (!v) return int64_t{0};
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d != static_cast<double>(static_cast<int64_t>(d))) return WrongType(camel, "an integer");
    return static_cast<int64_t>(d);
  }
  if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    int64_t out = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return out;
  }
  return WrongType(camel, "an integer");
}

Result<Json> GetObject(const Json& obj, std::string_view camel, std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (!v) return Json::object();
  if (!v->is_object()) return WrongType(camel, "an object");
  return *v;
}

Result<std::vector<std::string>> GetStringList(const Json& obj, std::string_view camel,
                                               std::string_view snake) {
  std::vector<std::string> out;
  const Json* v = FindField(obj, camel, snake);
  if (!v) return out;
  if (!v->is_array()) return WrongType(camel, "an array of strings");
  for (const Json& item : *v) {
    if (!item.is_string()) return WrongType(camel, "an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> GetStringMap(const Json& obj, std::string_view camel,
                                                                      std::string_view snake) {
  std::vector<std::pair<std::string, std::string>> out;
  const Json* v = FindField(obj, camel, snake);
  if (!v) return out;
  if (!v->is_object()) return WrongType(camel, "an object of strings");
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it->is_string()) return WrongType(camel, "an object of strings");
    out.emplace_back(it.key(), it->get<std::string>());
  }
  return out;
}

Result<std::string> GetBytes(const Json& obj, std::string_view camel, std::string_view snake) {
  KILN_ASSIGN_OR_RETURN(std::string text, GetString(obj, camel, snake));
  std::string out;
  if (!Base64Decode(text, &out)) return WrongType(camel, "base64");
  return out;
}

Result<int> ParseEnum(const Json& value, const std::vector<EnumName>& names, std::string_view field) {
  if (value.is_number_integer()) return static_cast<int>(value.get<int64_t>());
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    for (const EnumName& n : names)
      if (n.name == s) return n.value;
    return InvalidArgument("field '" + std::string(field) + "': unknown value '" + s + "'");
  }
  return WrongType(field, "an enum name or number");
}

}  // namespace kiln::envd
