#include "body_fields.h"

namespace kiln::server {
namespace {

using Json = nlohmann::json;

bool Absent(const Json& object, const char* field) {
  return !object.contains(field) || object[field].is_null();
}

std::string NameOf(const char* field, const std::string& name) {
  return name.empty() ? std::string(field) : name;
}

}  // namespace

Result<Json> ParseObject(std::string_view body) {
  if (body.empty()) return Json::object();
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return InvalidArgument("request body: malformed JSON");
  if (!parsed.is_object()) return InvalidArgument("request body: must be a JSON object");
  return parsed;
}

Result<std::map<std::string, std::string>> StringMap(const Json& object, const char* field,
                                                     const std::string& name) {
  std::map<std::string, std::string> map;
  if (Absent(object, field)) return map;
  std::string what = NameOf(field, name);
  if (!object[field].is_object()) return InvalidArgument(what + ": must be an object of strings");
  for (auto& [key, value] : object[field].items()) {
    if (!value.is_string()) return InvalidArgument(what + "." + key + ": must be a string");
    map[key] = value.get<std::string>();
  }
  return map;
}

Result<std::vector<std::string>> StringList(const Json& object, const char* field, const std::string& name) {
  std::vector<std::string> list;
  if (Absent(object, field)) return list;
  std::string what = NameOf(field, name);
  if (!object[field].is_array()) return InvalidArgument(what + ": must be an array of strings");
  for (const Json& item : object[field]) {
    if (!item.is_string()) return InvalidArgument(what + ": must be an array of strings");
    list.push_back(item.get<std::string>());
  }
  return list;
}

Result<std::optional<int64_t>> Seconds(const Json& object, const char* field) {
  if (Absent(object, field)) return std::optional<int64_t>();
  const Json& v = object[field];
  if (!v.is_number_integer())
    return InvalidArgument(std::string(field) + ": must be an integer number of seconds");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return InvalidArgument(std::string(field) + ": too large");
  return std::optional<int64_t>(v.get<int64_t>());
}

Result<std::optional<bool>> Boolean(const Json& object, const char* field, const std::string& name) {
  if (Absent(object, field)) return std::optional<bool>();
  if (!object[field].is_boolean()) return InvalidArgument(NameOf(field, name) + ": must be a boolean");
  return std::optional<bool>(object[field].get<bool>());
}

Status StringField(const Json& object, const char* field, bool required, std::string* out) {
  if (Absent(object, field))
    return required ? InvalidArgument(std::string(field) + ": required") : Status::Ok();
  if (!object[field].is_string()) return InvalidArgument(std::string(field) + ": must be a string");
  *out = object[field].get<std::string>();
  return Status::Ok();
}

}  // namespace kiln::server
