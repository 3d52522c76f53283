#include "kiln/tools/schema.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

namespace kiln::tools {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 7> kTypes = {"object",  "array",   "string", "number",
                                                    "integer", "boolean", "null"};
constexpr std::array<std::string_view, 4> kAnnotations = {"description", "title", "default", "examples"};
constexpr std::array<std::string_view, 4> kNumberBounds = {"minimum", "maximum", "exclusiveMinimum",
                                                           "exclusiveMaximum"};
constexpr std::array<std::string_view, 4> kCounts = {"minLength", "maxLength", "minItems", "maxItems"};
constexpr std::array<std::string_view, 6> kStructural = {"type",  "properties", "required",
                                                         "items", "enum",       "additionalProperties"};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

bool IsKnownKeyword(std::string_view key) {
  return Contains(kAnnotations, key) || Contains(kNumberBounds, key) || Contains(kCounts, key) ||
         Contains(kStructural, key);
}

std::string TypeList() {
  std::string out;
  for (std::string_view t : kTypes) out += (out.empty() ? "" : ", ") + std::string(t);
  return out;
}

using Problem = std::optional<SchemaProblem>;

Problem At(std::vector<std::string> path, std::string message) {
  return SchemaProblem{std::move(path), std::move(message)};
}

std::vector<std::string> Child(const std::vector<std::string>& path, std::string key) {
  std::vector<std::string> out = path;
  out.push_back(std::move(key));
  return out;
}

Problem CheckType(const json& type, const std::vector<std::string>& path) {
  auto check_one = [&](const json& name, const std::vector<std::string>& where) -> Problem {
    if (!name.is_string()) return At(where, "a type name must be a string, got " + JsonTypeName(name));
    if (!Contains(kTypes, name.get<std::string>()))
      return At(where, "unknown type '" + name.get<std::string>() + "' (one of " + TypeList() + ")");
    return std::nullopt;
  };
  if (!type.is_array()) return check_one(type, path);
  if (type.empty()) return At(path, "an empty list of types allows nothing");
  for (size_t i = 0; i < type.size(); ++i)
    if (Problem p = check_one(type[i], Child(path, std::to_string(i)))) return p;
  return std::nullopt;
}

Problem CheckNode(const json& schema, const std::vector<std::string>& path, int depth);

Problem CheckProperties(const json& schema, const std::vector<std::string>& path, int depth) {
  if (auto it = schema.find("properties"); it != schema.end()) {
    if (!it->is_object()) return At(Child(path, "properties"), "must be a map of name -> schema");
    for (const auto& [name, sub] : it->items())
      if (Problem p = CheckNode(sub, Child(Child(path, "properties"), name), depth + 1)) return p;
  }
  if (auto it = schema.find("required"); it != schema.end()) {
    if (!it->is_array()) return At(Child(path, "required"), "must be a list of property names");
    const json* props = schema.contains("properties") ? &schema["properties"] : nullptr;
    for (size_t i = 0; i < it->size(); ++i) {
      const json& name = (*it)[i];
      auto where = Child(Child(path, "required"), std::to_string(i));
      if (!name.is_string()) return At(where, "a property name must be a string");
      if (props == nullptr || !props->contains(name.get<std::string>()))
        return At(where, "'" + name.get<std::string>() + "' is required but not declared in properties");
    }
  }
  if (auto it = schema.find("additionalProperties"); it != schema.end() && !it->is_boolean())
    return CheckNode(*it, Child(path, "additionalProperties"), depth + 1);
  return std::nullopt;
}

Problem CheckNode(const json& schema, const std::vector<std::string>& path, int depth) {
  if (depth > kMaxSchemaDepth)
    return At(path, "nested deeper than " + std::to_string(kMaxSchemaDepth) + " levels");
  if (!schema.is_object()) return At(path, "a schema must be a map, got " + JsonTypeName(schema));
  for (const auto& [key, value] : schema.items()) {
    if (!IsKnownKeyword(key))
      return At(Child(path, key), "unsupported schema keyword '" + key +
                                      "' (supported: type, properties, required, additionalProperties, "
                                      "items, enum, minimum, maximum, exclusiveMinimum, exclusiveMaximum, "
                                      "minLength, maxLength, minItems, maxItems, description, title, "
                                      "default, examples)");
    if (Contains(kNumberBounds, key) && !value.is_number()) return At(Child(path, key), "must be a number");
    if (Contains(kCounts, key) && !(value.is_number_unsigned() || (value.is_number_integer() && value >= 0)))
      return At(Child(path, key), "must be a whole number >= 0");
    if ((key == "description" || key == "title") && !value.is_string())
      return At(Child(path, key), "must be a string");
  }
  if (auto it = schema.find("type"); it != schema.end())
    if (Problem p = CheckType(*it, Child(path, "type"))) return p;
  if (auto it = schema.find("enum"); it != schema.end() && (!it->is_array() || it->empty()))
    return At(Child(path, "enum"), "must be a non-empty list of values");
  if (auto it = schema.find("items"); it != schema.end())
    if (Problem p = CheckNode(*it, Child(path, "items"), depth + 1)) return p;
  return CheckProperties(schema, path, depth);
}

bool HasType(const json& schema, std::string_view name) {
  auto it = schema.find("type");
  if (it == schema.end()) return true;
  if (it->is_string()) return *it == name;
  return std::any_of(it->begin(), it->end(), [&](const json& t) { return t == name; });
}

bool MatchesType(const json& schema, const json& value) {
  if (!schema.contains("type")) return true;
  std::string actual = JsonTypeName(value);
  if (HasType(schema, actual)) return true;
  return actual == "integer" && HasType(schema, "number");
}

std::string Quote(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// Counts code points: a UTF-8 lead byte starts each one.
size_t CodePoints(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

Status Violation(const std::string& where, const std::string& what) {
  return InvalidArgument(where + ": " + what);
}

Status ValidateNumber(const json& schema, const json& value, const std::string& where) {
  double v = value.get<double>();
  auto bound = [&](const char* key) -> std::optional<double> {
    auto it = schema.find(key);
    return it == schema.end() ? std::nullopt : std::optional<double>(it->get<double>());
  };
  if (auto b = bound("minimum"); b && v < *b)
    return Violation(where, Quote(value) + " is below the minimum " + Quote(schema["minimum"]));
  if (auto b = bound("maximum"); b && v > *b)
    return Violation(where, Quote(value) + " is above the maximum " + Quote(schema["maximum"]));
  if (auto b = bound("exclusiveMinimum"); b && v <= *b)
    return Violation(where, Quote(value) + " must be greater than " + Quote(schema["exclusiveMinimum"]));
  if (auto b = bound("exclusiveMaximum"); b && v >= *b)
    return Violation(where, Quote(value) + " must be less than " + Quote(schema["exclusiveMaximum"]));
  return Status::Ok();
}

Status ValidateCount(const json& schema, size_t count, const char* min_key, const char* max_key,
                     const char* unit, const std::string& where) {
  if (auto it = schema.find(min_key); it != schema.end() && count < it->get<uint64_t>())
    return Violation(where,
                     "has " + std::to_string(count) + " " + unit + ", fewer than the minimum " + it->dump());
  if (auto it = schema.find(max_key); it != schema.end() && count > it->get<uint64_t>())
    return Violation(where,
                     "has " + std::to_string(count) + " " + unit + ", more than the maximum " + it->dump());
  return Status::Ok();
}

Status ValidateAt(const json& schema, const json& value, const std::string& where);

Status ValidateObject(const json& schema, const json& value, const std::string& where) {
  if (auto it = schema.find("required"); it != schema.end())
    for (const json& name : *it)
      if (!value.contains(name.get<std::string>()))
        return Violation(where, "missing required property '" + name.get<std::string>() + "'");
  const json empty = json::object();
  const json& props = schema.contains("properties") ? schema["properties"] : empty;
  auto extra = schema.find("additionalProperties");
  for (const auto& [key, sub] : value.items()) {
    std::string child = where + "." + key;
    if (auto p = props.find(key); p != props.end()) {
      KILN_RETURN_IF_ERROR(ValidateAt(*p, sub, child));
    } else if (extra != schema.end() && extra->is_boolean() && !extra->get<bool>()) {
      std::string known;
      for (const auto& [name, unused] : props.items()) known += (known.empty() ? "" : ", ") + name;
      return Violation(
          where, "unknown property '" + key + "'" +
                     (known.empty() ? std::string(" (none are accepted)") : " (accepted: " + known + ")"));
    } else if (extra != schema.end() && extra->is_object()) {
      KILN_RETURN_IF_ERROR(ValidateAt(*extra, sub, child));
    }
  }
  return Status::Ok();
}

Status ValidateAt(const json& schema, const json& value, const std::string& where) {
  if (!MatchesType(schema, value)) {
    const json& type = schema["type"];
    std::string expected = type.is_string() ? type.get<std::string>() : "one of " + type.dump();
    return Violation(where, "expected " + expected + ", got " + JsonTypeName(value));
  }
  if (auto it = schema.find("enum");
      it != schema.end() && std::find(it->begin(), it->end(), value) == it->end())
    return Violation(where, Quote(value) + " is not one of " + Quote(*it));
  if (value.is_number()) return ValidateNumber(schema, value, where);
  if (value.is_string())
    return ValidateCount(schema, CodePoints(value.get_ref<const std::string&>()), "minLength", "maxLength",
                         "characters", where);
  if (value.is_array()) {
    KILN_RETURN_IF_ERROR(ValidateCount(schema, value.size(), "minItems", "maxItems", "items", where));
    if (auto it = schema.find("items"); it != schema.end())
      for (size_t i = 0; i < value.size(); ++i)
        KILN_RETURN_IF_ERROR(ValidateAt(*it, value[i], where + "[" + std::to_string(i) + "]"));
    return Status::Ok();
  }
  if (value.is_object()) return ValidateObject(schema, value, where);
  return Status::Ok();
}

}  // namespace

std::string JsonTypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::null:
      return "null";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float: {
      double d = value.get<double>();
      return std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15 ? "integer"
                                                                                           : "number";
    }
    default:
      return "unsupported";
  }
}

std::optional<SchemaProblem> CheckSchema(const json& schema) {
  return CheckNode(schema, {}, 0);
}

Status ValidateValue(const json& schema, const json& value, const std::string& root) {
  return ValidateAt(schema, value, root);
}

}  // namespace kiln::tools
