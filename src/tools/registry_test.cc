#include "kiln/tools/registry.h"

#include <gtest/gtest.h>

#include "kiln/tools/schema.h"
#include "template.h"

namespace kiln::tools {
namespace {

using json = nlohmann::json;

std::string LoadError(const std::string& yaml, const std::string& base_dir = KILN_TOOLS_TESTDATA) {
  Result<Registry> r = ParseRegistry(yaml, "t.yaml", base_dir);
  if (r.ok()) return "(loaded)";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

const char* kHeader = "version: 1\ntools:\n";

TEST(Registry, DefaultRegistryHasTheSixBuiltins) {
  const Registry& r = DefaultRegistry();
  ASSERT_EQ(r.tools().size(), 6u) << DefaultRegistryYaml();
  for (const char* name :
       {"run_python", "run_shell", "read_file", "write_file", "list_files", "install_packages"}) {
    const ToolDef* tool = r.Find(name);
    ASSERT_NE(tool, nullptr) << name;
    EXPECT_EQ(tool->kind, Implementation::kBuiltin);
    EXPECT_EQ(tool->parameters, FindBuiltin(name)->parameters);
    EXPECT_FALSE(tool->description.empty());
    EXPECT_FALSE(CheckSchema(tool->parameters).has_value()) << name;
  }
  EXPECT_EQ(r.Find("install_packages")->timeout_ms, 300'000);
}

TEST(Registry, LoadsEveryKindOfTool) {
  Result<Registry> r = LoadRegistryFile(std::string(KILN_TOOLS_TESTDATA) + "/registry.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tools().size(), 5u);
  const ToolDef* py = r->Find("execute_python");
  EXPECT_EQ(py->builtin, "run_python");
  EXPECT_EQ(py->description, "Execute Python code and return what it printed and its value.");
  EXPECT_EQ(py->timeout_ms, 20'000);
  EXPECT_EQ(r->Find("shell")->description, FindBuiltin("run_shell")->description);
  const ToolDef* echo = r->Find("echo_text");
  EXPECT_EQ(echo->kind, Implementation::kCommand);
  EXPECT_EQ(echo->parameters["properties"]["times"]["default"], 1);
  EXPECT_EQ(echo->parameters["additionalProperties"], false);
  EXPECT_EQ(r->Find("count_words")->argv.size(), 4u);
  const ToolDef* stats = r->Find("stats");
  EXPECT_EQ(stats->kind, Implementation::kPython);
  EXPECT_EQ(stats->python_function, "summarize");
  EXPECT_NE(stats->python_source.find("def summarize("), std::string::npos);
  EXPECT_EQ(stats->declared_at.substr(stats->declared_at.size() - 3), ":29");
}

TEST(Registry, MissingFileIsNotFound) {
  Result<Registry> r = LoadRegistryFile("/nonexistent/tools.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/tools.yaml"), std::string::npos);
}

// Each broken file names the file, line, column and field of its mistake.
TEST(Registry, BrokenFilesNameFileLineAndField) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::string h = kHeader;
  const std::vector<Case> cases = {
      {"tools: [\n", "t.yaml:2:1: not valid YAML"},
      {"- a\n- b\n", "t.yaml:1:1: (top level): must be a map"},
      {"tools:\n  - {name: a, builtin: run_shell}\n", "t.yaml:1:1: version: missing (write 'version: 1')"},
      {"version: 2\ntools: []\n", "t.yaml:1:10: version: must be 1"},
      {"version: 1\ntool: []\n", "t.yaml:2:1: tool: unknown key (expected version, tools)"},
      {"version: 1\ntools: []\n", "t.yaml:2:8: tools: must be a non-empty list of tools"},
      {h + "  - builtin: run_shell\n", "t.yaml:3:5: tools[0].name: missing"},
      {h + "  - name: 9lives\n    builtin: run_shell\n",
       "t.yaml:3:11: tools[0].name: '9lives' is not a valid tool name"},
      {h + "  - name: a\n    builtin: run_ruby\n",
       "t.yaml:4:14: tools[0].builtin: unknown built-in 'run_ruby' (one of"},
      {h + "  - name: a\n    builtin: run_shell\n    parameters: {type: object}\n",
       "t.yaml:5:17: tools[0].parameters: a built-in has its own parameters"},
      {h + "  - name: a\n    builtin: run_shell\n    command: ls\n",
       "t.yaml:3:5: tools[0]: has both builtin and command"},
      {h + "  - name: a\n    description: d\n",
       "t.yaml:3:5: tools[0]: needs one of builtin, command or python"},
      {h + "  - name: a\n    builtin: run_shell\n    timeout: never\n",
       "t.yaml:5:14: tools[0].timeout: must be a number of seconds"},
      {h + "  - name: a\n    builtin: run_shell\n    timeout: 7200\n",
       "t.yaml:5:14: tools[0].timeout: must be"},
      {h + "  - name: a\n    builtin: run_shell\n    colour: red\n",
       "t.yaml:5:5: tools[0].colour: unknown key (expected name, description"},
      {h + "  - name: a\n    command: ls\n    parameters: {type: object}\n",
       "t.yaml:3:5: tools[0].description: missing"},
      {h + "  - name: a\n    description: d\n    command: ls\n", "t.yaml:3:5: tools[0].parameters: missing"},
      {h + "  - name: a\n    description: d\n    command: ls\n    parameters:\n      type: object\n"
           "      properties:\n        path: {type: strng}\n",
       "t.yaml:9:22: tools[0].parameters.properties.path.type: unknown type 'strng'"},
      {h + "  - name: a\n    description: d\n    command: ls\n    parameters:\n      type: object\n"
           "      required: [path]\n",
       "t.yaml:8:18: tools[0].parameters.required.0: 'path' is required but not declared"},
      {h + "  - name: a\n    description: d\n    command: ls\n    parameters: {type: array}\n",
       "t.yaml:6:17: tools[0].parameters.type: the parameters must be a schema of type object"},
      {h + "  - name: a\n    description: d\n    parameters: {type: object}\n    command: \"cat {{path}}\"\n",
       "t.yaml:6:14: tools[0].command: placeholder {{path}} names no declared parameter"},
      {h + "  - name: a\n    description: d\n    parameters: {type: object, properties: {p: {}}}\n"
           "    command: [cat, \"{{p\"]\n",
       "t.yaml:6:20: tools[0].command[1]: '{{' at offset 0 is not closed by '}}'"},
      {h + "  - name: a\n    description: d\n    parameters: {type: object}\n    command: []\n",
       "t.yaml:6:14: tools[0].command: must be a shell command (a string) or an argv"},
      {h + "  - name: a\n    description: d\n    parameters: {type: object}\n    python: {file: nope.py, "
           "function: f}\n",
       "t.yaml:6:20: tools[0].python.file: cannot read"},
      {h + "  - name: a\n    description: d\n    parameters: {type: object}\n"
           "    python: {file: stats.py, function: average}\n",
       "t.yaml:6:40: tools[0].python.function: " KILN_TOOLS_TESTDATA
       "/stats.py has no top-level 'def average('"},
      {h + "  - name: a\n    description: d\n    parameters: {type: object}\n    python: {file: stats.py, "
           "function: 1x}\n",
       "t.yaml:6:40: tools[0].python.function: '1x' is not a Python identifier"},
      {h + "  - name: a\n    builtin: run_shell\n  - name: b\n    builtin: run_shell\n  - name: a\n    "
           "builtin: read_file\n",
       "t.yaml:7:11: tools[2].name: duplicate tool name 'a' (first declared at t.yaml:3)"},
      {h + "  - name: a\n    description: d\n    command: ls\n    parameters: {type: object, type: object}\n",
       "t.yaml:6:32: tools[0].parameters: duplicate key 'type'"},
  };
  for (const Case& c : cases) {
    std::string got = LoadError(c.yaml);
    EXPECT_EQ(got.substr(0, c.error.size()), c.error) << "file:\n" << c.yaml;
  }
}

TEST(Registry, PythonFilesNeedABaseDirectory) {
  std::string yaml = std::string(kHeader) +
                     "  - name: a\n    description: d\n    parameters: {type: object}\n"
                     "    python: {file: stats.py, function: summarize}\n";
  EXPECT_NE(LoadError(yaml, "").find("python files cannot be read here"), std::string::npos);
}

TEST(Registry, AliasExpansionIsBounded) {
  std::string yaml = std::string(kHeader) +
                     "  - name: a\n    description: d\n    command: ls\n    parameters:\n      type: object\n"
                     "      properties:\n"
                     "        p0: {default: &a0 [x, x, x, x, x, x, x, x, x, x]}\n";
  for (int i = 1; i < 8; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    yaml += "        p" + std::to_string(i) + ": {default: &a" + std::to_string(i) + " [" + prev + ", " +
            prev + ", " + prev + ", " + prev + ", " + prev + ", " + prev + ", " + prev + ", " + prev + ", " +
            prev + ", " + prev + "]}\n";
  }
  EXPECT_NE(LoadError(yaml).find("too many values"), std::string::npos);
}

TEST(Registry, YamlScalarsBecomeJsonTypes) {
  std::string yaml = std::string(kHeader) +
                     "  - name: a\n    description: d\n    command: ls\n    parameters:\n      type: object\n"
                     "      properties:\n"
                     "        p: {enum: [1, -2, 2.5, true, null, \"3\", 'yes', no, ~]}\n";
  Result<Registry> r = ParseRegistry(yaml, "t.yaml", "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tools()[0].parameters["properties"]["p"]["enum"],
            json::parse(R"([1, -2, 2.5, true, null, "3", "yes", "no", null])"));
}

TEST(Template, ShellQuotingKeepsArgumentsInert) {
  json params = json::parse(R"({"type":"object","properties":{"t":{},"n":{"default":2},"m":{}}})");
  Result<std::string> line =
      RenderTemplate("echo {{ t }} {{n}} {{m}}", json{{"t", "it's; rm -rf / $(id)"}}, params, true);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, R"(echo 'it'\''s; rm -rf / $(id)' '2' '')");
  Result<std::string> raw = RenderTemplate("--n={{n}}", json{{"n", 5}}, params, false);
  EXPECT_EQ(*raw, "--n=5");
  Status bad = ForEachPlaceholder("a {{}} b", [](const std::string&) { return Status::Ok(); });
  EXPECT_EQ(bad.message(), "empty placeholder '{{}}' at offset 2");
}

}  // namespace
}  // namespace kiln::tools
