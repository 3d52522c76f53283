#include "kiln/tools/schema.h"

#include <gtest/gtest.h>

namespace kiln::tools {
namespace {

using json = nlohmann::json;

std::string ProblemAt(const json& schema) {
  std::optional<SchemaProblem> p = CheckSchema(schema);
  if (!p) return "(none)";
  std::string where;
  for (const std::string& step : p->path) where += (where.empty() ? "" : ".") + step;
  return where + ": " + p->message;
}

TEST(SchemaCheck, AcceptsEverySupportedKeyword) {
  json schema = json::parse(R"({
    "type": "object", "title": "t", "description": "d",
    "properties": {
      "s": {"type": "string", "minLength": 1, "maxLength": 5, "enum": ["a", "bb"], "default": "a"},
      "n": {"type": ["number", "null"], "minimum": 0, "maximum": 9.5, "exclusiveMinimum": -1, "exclusiveMaximum": 10},
      "a": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3, "examples": [[1]]}
    },
    "required": ["s"],
    "additionalProperties": {"type": "boolean"}
  })");
  EXPECT_EQ(ProblemAt(schema), "(none)");
}

TEST(SchemaCheck, NamesTheFieldOfEachMistake) {
  EXPECT_EQ(ProblemAt(json::parse(R"({"type":"object","properties":{"p":{"type":"strng"}}})")),
            "properties.p.type: unknown type 'strng' (one of object, array, string, number, integer, "
            "boolean, null)");
  EXPECT_EQ(ProblemAt(json::parse(R"({"type":"object","properties":{"p":{"pattern":"^a"}}})")).substr(0, 48),
            "properties.p.pattern: unsupported schema keyword");
  EXPECT_EQ(ProblemAt(json::parse(R"({"type":"object","required":["x"]})")),
            "required.0: 'x' is required but not declared in properties");
  EXPECT_EQ(ProblemAt(json::parse(R"({"type":"string","minLength":-1})")),
            "minLength: must be a whole number >= 0");
  EXPECT_EQ(ProblemAt(json::parse(R"({"type":"number","maximum":"9"})")), "maximum: must be a number");
  EXPECT_EQ(ProblemAt(json::parse(R"({"enum":[]})")), "enum: must be a non-empty list of values");
  EXPECT_EQ(ProblemAt(json::parse(R"({"type":["string", 3]})")),
            "type.1: a type name must be a string, got integer");
  EXPECT_EQ(ProblemAt(json::parse(R"({"items":{"additionalProperties":{"type":"nope"}}})")),
            "items.additionalProperties.type: unknown type 'nope' (one of object, array, string, number, "
            "integer, boolean, null)");
  EXPECT_EQ(ProblemAt(json("string")), ": a schema must be a map, got string");
}

TEST(SchemaCheck, RefusesSchemasNestedTooDeeply) {
  json schema = {{"type", "string"}};
  for (int i = 0; i < kMaxSchemaDepth + 2; ++i) schema = {{"type", "array"}, {"items", schema}};
  EXPECT_NE(ProblemAt(schema).find("nested deeper than"), std::string::npos);
}

Status Check(const char* schema, const char* value) {
  return ValidateValue(json::parse(schema), json::parse(value));
}

TEST(SchemaValidate, ReportsTheFirstViolationByItsPlace) {
  const char* schema = R"({"type":"object","properties":{
      "code":{"type":"string","minLength":1},
      "files":{"type":"array","maxItems":2,"items":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}},
      "mode":{"enum":["fast","slow"]},
      "n":{"type":"integer","minimum":1,"maximum":3}},
    "required":["code"],"additionalProperties":false})";
  EXPECT_TRUE(Check(schema, R"j({"code":"print(1)","files":[{"path":"a"}],"mode":"fast","n":2})j").ok());
  EXPECT_EQ(Check(schema, R"({})").message(), "arguments: missing required property 'code'");
  EXPECT_EQ(Check(schema, R"({"code":5})").message(), "arguments.code: expected string, got integer");
  EXPECT_EQ(Check(schema, R"({"code":""})").message(),
            "arguments.code: has 0 characters, fewer than the minimum 1");
  EXPECT_EQ(Check(schema, R"({"code":"x","files":[{"path":"a"},{"path":7}]})").message(),
            "arguments.files[1].path: expected string, got integer");
  EXPECT_EQ(Check(schema, R"({"code":"x","files":[{},{},{}]})").message(),
            "arguments.files: has 3 items, more than the maximum 2");
  EXPECT_EQ(Check(schema, R"({"code":"x","mode":"turbo"})").message(),
            R"(arguments.mode: "turbo" is not one of ["fast","slow"])");
  EXPECT_EQ(Check(schema, R"({"code":"x","n":4})").message(), "arguments.n: 4 is above the maximum 3");
  EXPECT_EQ(Check(schema, R"({"code":"x","n":1.5})").message(), "arguments.n: expected integer, got number");
  EXPECT_EQ(Check(schema, R"({"code":"x","cmd":"rm"})").message(),
            "arguments: unknown property 'cmd' (accepted: code, files, mode, n)");
}

TEST(SchemaValidate, IntegersAreNumbersAndWholeFloatsAreIntegers) {
  EXPECT_TRUE(Check(R"({"type":"number"})", "3").ok());
  EXPECT_TRUE(Check(R"({"type":"integer"})", "3.0").ok());
  EXPECT_FALSE(Check(R"({"type":"integer"})", "3.25").ok());
  EXPECT_TRUE(Check(R"({"type":["string","null"]})", "null").ok());
  EXPECT_EQ(Check(R"({"type":["string","null"]})", "true").message(),
            R"(arguments: expected one of ["string","null"], got boolean)");
  EXPECT_EQ(Check(R"({"exclusiveMinimum":0})", "0").message(), "arguments: 0 must be greater than 0");
}

TEST(SchemaValidate, StringLengthsCountCodePoints) {
  EXPECT_TRUE(Check(R"({"type":"string","maxLength":2})", "\"\u00e9\u00e9\"").ok());
  EXPECT_FALSE(Check(R"({"type":"string","maxLength":2})", "\"\u00e9\u00e9\u00e9\"").ok());
}

TEST(SchemaValidate, AdditionalPropertiesSchemaChecksTheExtras) {
  const char* schema = R"({"type":"object","properties":{"a":{}},"additionalProperties":{"type":"integer"}})";
  EXPECT_TRUE(Check(schema, R"({"a":"any","b":1})").ok());
  EXPECT_EQ(Check(schema, R"({"b":"x"})").message(), "arguments.b: expected integer, got string");
}

}  // namespace
}  // namespace kiln::tools
