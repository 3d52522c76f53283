// YAML nodes as JSON values, for the parts of a registry that are JSON Schema.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::tools {

// "FILE:LINE:COLUMN" of a node (1-based), or "FILE" for a node without a mark.
std::string Where(const std::string& file, const YAML::Node& node);

// Converts a YAML node to JSON: plain scalars that read as YAML 1.2 core booleans, nulls, integers or
// floats become those; quoted scalars stay strings. InvalidArgument ("FILE:L:C: FIELD: ...") for a
// non-scalar map key, a duplicate key, nesting deeper than `max_depth`, or more values than `*budget`
// (decremented per value: aliases can expand a small file exponentially).
Result<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& file, const std::string& field,
                                  int max_depth, size_t* budget);

// The node reached from `node` by map keys and sequence indices, or the deepest one that exists.
YAML::Node Descend(const YAML::Node& node, const std::vector<std::string>& path);

}  // namespace kiln::tools
