// The JSON-Schema subset Kiln accepts for tool parameters, and the validator that checks a model's
// arguments against it before a tool runs.
//
// Supported keywords (everything else is refused when a registry loads, so that no constraint is silently
// ignored):
//   type                  a name or a list of names: object, array, string, number, integer, boolean, null
//   properties            object: name -> schema
//   required              list of property names (each must be declared in properties)
//   additionalProperties  true, false or a schema (default true, as in JSON Schema)
//   items                 a schema for every element of an array
//   enum                  a non-empty list of allowed values (compared as JSON values)
//   minimum, maximum, exclusiveMinimum, exclusiveMaximum        numbers
//   minLength, maxLength  strings, counted in Unicode code points
//   minItems, maxItems    arrays
//   description, title, default, examples                      annotations, not checked
// A schema nests at most kMaxSchemaDepth levels.
//
// Thread-safety: free functions on values; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::tools {

inline constexpr int kMaxSchemaDepth = 32;

// A mistake in a schema: where (keys and array indices from the schema's root, e.g.
// {"properties", "code", "type"}) and what.
struct SchemaProblem {
  std::vector<std::string> path;
  std::string message;
};

// Checks that `schema` is an object using only the subset above, with well-formed values. nullopt: fine.
std::optional<SchemaProblem> CheckSchema(const nlohmann::json& schema);

// Checks `value` against a schema that passed CheckSchema. OK, or InvalidArgument naming the first
// violation by its place in the value, e.g. "arguments.files[2].path: expected string, got number".
// `root` names the value in messages.
Status ValidateValue(const nlohmann::json& schema, const nlohmann::json& value,
                     const std::string& root = "arguments");

// The JSON type name of a value as the schema language calls it ("integer" for whole numbers).
std::string JsonTypeName(const nlohmann::json& value);

}  // namespace kiln::tools
