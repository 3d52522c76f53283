#include "kiln/envd/json_util.h"

#include <charconv>

#include "kiln/base/strings.h"

namespace kiln::envd {
namespace {

Status WrongType(std::string_view field, std::string_view want) {
  return InvalidArgument("field '" + std::string(field) + "' must be " + std::string(want));
}

// The length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 if it is not one
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i), lo = 0x80, hi = 0xBF;
  size_t n = 0;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  if (c >= 0xE0 && c <= 0xEF) n = 3;
  if (c >= 0xF0 && c <= 0xF4) n = 4;
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (n == 0 || i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if ((at(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

void AppendEscape(std::string* out, unsigned char c) {
  static constexpr std::pair<char, std::string_view> kShort[] = {{'"', "\\\""}, {'\\', "\\\\"}, {'\b', "\\b"},
                                                                 {'\f', "\\f"}, {'\n', "\\n"},  {'\r', "\\r"},
                                                                 {'\t', "\\t"}};
  for (const auto& [ch, escaped] : kShort) {
    if (static_cast<unsigned char>(ch) != c) continue;
    out->append(escaped);
    return;
  }
  if (c >= 0x80) {
    out->append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\u00");
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 15]);
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

void AppendJsonString(std::string* out, std::string_view text) {
  out->reserve(out->size() + text.size() + 2);
  out->push_back('"');
  size_t run = 0;  // the start of the bytes not yet appended, all of which are copied as they are
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    size_t n = c >= 0x80 ? Utf8SequenceLength(text, i) : 0;
    if (n > 0) {
      i += n;
      continue;
    }
    out->append(text.substr(run, i - run));
    AppendEscape(out, c);
    run = ++i;
  }
  out->append(text.substr(run));
  out->push_back('"');
}

}  // namespace kiln::envd
