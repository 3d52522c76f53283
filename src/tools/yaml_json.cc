#include "yaml_json.h"

#include <charconv>
#include <cstdlib>
#include <set>

namespace kiln::tools {
namespace {

using json = nlohmann::json;

json PlainScalar(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  int64_t integer = 0;
  const char* end = s.data() + s.size();
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  if (auto r = std::from_chars(begin, end, integer); r.ec == std::errc() && r.ptr == end) return integer;
  if (s.find_first_not_of("+-.0123456789eE") == std::string::npos) {
    char* stop = nullptr;
    double d = std::strtod(s.c_str(), &stop);
    if (stop == s.c_str() + s.size()) return d;
  }
  return s;
}

}  // namespace

std::string Where(const std::string& file, const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.line < 0) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Result<json> YamlToJson(const YAML::Node& node, const std::string& file, const std::string& field,
                        int max_depth, size_t* budget) {
  if (max_depth < 0) return InvalidArgument(Where(file, node) + ": " + field + ": nested too deeply");
  // Aliases let a small file name a huge tree ("billion laughs"); the budget bounds the expansion.
  if (*budget == 0) return InvalidArgument(Where(file, node) + ": " + field + ": too many values (aliases?)");
  --*budget;
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return node.Tag() == "?" ? PlainScalar(node.Scalar()) : json(node.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (size_t i = 0; i < node.size(); ++i) {
        KILN_ASSIGN_OR_RETURN(json item, YamlToJson(node[i], file, field + "[" + std::to_string(i) + "]",
                                                    max_depth - 1, budget));
        out.push_back(std::move(item));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar())
          return InvalidArgument(Where(file, entry.first) + ": " + field +
                                 ": map keys must be plain strings");
        const std::string& key = entry.first.Scalar();
        if (out.contains(key))
          return InvalidArgument(Where(file, entry.first) + ": " + field + ": duplicate key '" + key + "'");
        KILN_ASSIGN_OR_RETURN(out[key],
                              YamlToJson(entry.second, file, field + "." + key, max_depth - 1, budget));
      }
      return out;
    }
    default:
      return json(nullptr);
  }
}

YAML::Node Descend(const YAML::Node& node, const std::vector<std::string>& path) {
  // reset() rebinds; operator= on a yaml-cpp Node would overwrite the node it refers to.
  YAML::Node at;
  at.reset(node);
  for (const std::string& step : path) {
    YAML::Node next;
    bool found = false;
    if (at.IsMap()) {
      for (const auto& entry : at) {
        if (entry.first.IsScalar() && entry.first.Scalar() == step) {
          next.reset(entry.second);
          found = true;
          break;
        }
      }
    } else if (at.IsSequence()) {
      size_t index = 0;
      auto r = std::from_chars(step.data(), step.data() + step.size(), index);
      if (r.ec == std::errc() && r.ptr == step.data() + step.size() && index < at.size()) {
        const YAML::Node& sequence = at;
        next.reset(sequence[index]);
        found = true;
      }
    }
    if (!found) break;
    at.reset(next);
  }
  return at;
}

}  // namespace kiln::tools
