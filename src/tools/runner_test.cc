// ToolRunner without a sandbox: everything that must be refused before a sandbox is made or used.
#include "kiln/tools/runner.h"

#include <gtest/gtest.h>

namespace kiln::tools {
namespace {

struct Counting {
  int made = 0;
  SandboxFactory Factory() {
    return [this]() -> Result<SandboxEndpoint> {
      ++made;
      return Unavailable("test: no sandboxes here");
    };
  }
};

TEST(ToolRunner, BadCallsAreErrorResultsAndNeverReachTheSandbox) {
  Counting sandboxes;
  ToolRunner runner(&DefaultRegistry(), sandboxes.Factory());
  struct Case {
    const char* tool;
    const char* arguments;
    const char* error;
  };
  const Case cases[] = {
      {"run_python", "{\"code\": ", "the arguments for run_python are not valid JSON"},
      {"run_python", "[1, 2]", "the arguments for run_python must be a JSON object, got array"},
      {"run_python", "{}", "invalid arguments for run_python: arguments: missing required property 'code'"},
      {"run_python", R"({"code": 42})",
       "invalid arguments for run_python: arguments.code: expected string, got integer"},
      {"run_python", R"({"code": "1", "cell": 2})",
       "invalid arguments for run_python: arguments: unknown property 'cell'"},
      {"list_files", R"({"depth": 9})",
       "invalid arguments for list_files: arguments.depth: 9 is above the maximum 5"},
      {"install_packages", R"({"packages": []})",
       "invalid arguments for install_packages: arguments.packages: has 0 items"},
      {"rm_rf", "{}", "there is no tool named 'rm_rf' (available: run_python, run_shell,"},
  };
  for (const Case& c : cases) {
    ToolResult r = runner.CallWithJsonText(c.tool, c.arguments);
    EXPECT_TRUE(r.is_error) << c.arguments;
    EXPECT_EQ(r.Text().substr(0, std::string(c.error).size()), c.error);
  }
  EXPECT_EQ(sandboxes.made, 0);
  EXPECT_FALSE(runner.sandbox().has_value());
}

TEST(ToolRunner, ASandboxThatCannotBeMadeIsAnErrorResult) {
  Counting sandboxes;
  ToolRunner runner(&DefaultRegistry(), sandboxes.Factory());
  ToolResult r = runner.CallWithJsonText("run_shell", R"({"command": "true"})");
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.Text(), "run_shell: no sandbox: test: no sandboxes here");
  EXPECT_EQ(sandboxes.made, 1);
  // Empty arguments are {}: list_files has no required parameter, so it gets as far as the sandbox.
  EXPECT_EQ(runner.CallWithJsonText("list_files", "").Text(),
            "list_files: no sandbox: test: no sandboxes here");
}

}  // namespace
}  // namespace kiln::tools
