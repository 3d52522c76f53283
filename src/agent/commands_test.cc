#include "kiln/agent/commands.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/agent/cli_commands.h"
#include "kiln/agent/executor.h"
#include "kiln/artifact/artifact.h"
#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> NoEnv(const std::string&) {
  return std::nullopt;
}

class AgentCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!python_.available()) GTEST_SKIP() << "no python3 on this host";
    opts_.task = "Print the first 10 prime numbers";
    opts_.model = "script:" + testing::RepoPath("examples/agent/demo.script");
    opts_.executor = &python_;
    opts_.env = NoEnv;
    opts_.out = &out_;
    opts_.err = &err_;
  }
  testing::HostPythonExecutor python_;
  AgentCommandOptions opts_;
  std::ostringstream out_, err_;
};

TEST_F(AgentCommandTest, ScriptedDemoSucceedsAtAttemptThree) {
  EXPECT_EQ(RunAgentCommand(opts_), 0) << err_.str();
  const std::string out = out_.str(), err = err_.str();
  EXPECT_NE(out.find("2, 3, 5, 7, 11, 13, 17, 19, 23, 29"), std::string::npos) << out;
  EXPECT_NE(out.find("solved at attempt 3 of 3"), std::string::npos) << out;
  EXPECT_NE(out.find("(scripted model, offline demo)"), std::string::npos);
  EXPECT_NE(err.find("(scripted model, offline demo)"), std::string::npos);
  EXPECT_NE(err.find("[attempt 1/3] generating"), std::string::npos) << err;
  EXPECT_NE(err.find("[attempt 1/3] error: SyntaxError"), std::string::npos) << err;
  EXPECT_NE(err.find("[attempt 2/3] error: ModuleNotFoundError: No module named 'numpyy'"),
            std::string::npos);
  EXPECT_NE(err.find("[attempt 3/3] passed"), std::string::npos);
}

TEST_F(AgentCommandTest, ExhaustedAttemptsExitOne) {
  opts_.max_attempts = 2;
  EXPECT_EQ(RunAgentCommand(opts_), 1);
  EXPECT_NE(out_.str().find("NOT solved after 2 attempt(s)"), std::string::npos) << out_.str();
}

TEST_F(AgentCommandTest, JsonOutput) {
  opts_.json = true;
  ASSERT_EQ(RunAgentCommand(opts_), 0);
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["success"], true);
  EXPECT_EQ(j["attempts"], 3);
  EXPECT_EQ(j["scripted"], true);
  EXPECT_EQ(j["note"], "scripted model, offline demo");
  EXPECT_EQ(j["history"][1]["verdict"]["error_name"], "ModuleNotFoundError");
}

TEST_F(AgentCommandTest, OutWritesProjectAndTarball) {
  const std::string dir = ::testing::TempDir() + "/kiln_agent_out/primes";
  fs::remove_all(::testing::TempDir() + "/kiln_agent_out");
  opts_.out_dir = dir + "/";
  ASSERT_EQ(RunAgentCommand(opts_), 0) << err_.str();
  auto files = artifact::ReadTarGz(dir + ".tar.gz");
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 4u);
  const std::string& main_py = files->at("primes/main.py");
  EXPECT_NE(main_py.find("def is_prime"), std::string::npos);
  EXPECT_EQ(files->at("primes/requirements.txt"), "");
  const std::string& readme = files->at("primes/README.md");
  EXPECT_NE(readme.find("Print the first 10 prime numbers"), std::string::npos);
  EXPECT_NE(readme.find("python3 main.py"), std::string::npos);
  EXPECT_NE(readme.find("Passed at attempt 3 of 3"), std::string::npos);
  EXPECT_NE(readme.find("(scripted model, offline demo)"), std::string::npos);
  const nlohmann::json meta = nlohmann::json::parse(files->at("primes/metadata.json"));
  EXPECT_EQ(meta["attempts"], 3);
  EXPECT_EQ(meta["verdict"]["verdict"], "passed");
  EXPECT_EQ(meta["timings"].size(), 3u);
  EXPECT_TRUE(meta.contains("usage"));
  EXPECT_TRUE(meta.contains("cost_usd"));
  std::ifstream on_disk(dir + "/main.py");
  std::stringstream ss;
  ss << on_disk.rdbuf();
  EXPECT_EQ(ss.str(), main_py);
}

TEST_F(AgentCommandTest, TestsFileIsUsed) {
  const std::string tests = ::testing::TempDir() + "/kiln_agent_tests.py";
  std::ofstream(tests) << "assert is_prime(29)\nassert primes[-1] == 31\n";  // wrong on purpose
  opts_.tests_file = tests;
  EXPECT_EQ(RunAgentCommand(opts_), 1);
  EXPECT_NE(err_.str().find("[attempt 3/3] tests_failed"), std::string::npos) << err_.str();
  opts_.tests_file = "/nonexistent/tests.py";
  EXPECT_EQ(RunAgentCommand(opts_), 125);
}

TEST(AgentCommand, NoModelNoKeyPointsToTheDemo) {
  std::ostringstream out, err;
  FunctionExecutor never([](const ExecRequest&) -> Result<Execution> { return Internal("unreachable"); });
  AgentCommandOptions o;
  o.task = "x";
  o.executor = &never;
  o.env = NoEnv;
  o.out = &out;
  o.err = &err;
  EXPECT_EQ(RunAgentCommand(o), 125);
  EXPECT_NE(err.str().find("KILN_MODEL"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("--model script:examples/agent/demo.script"), std::string::npos) << err.str();
  // A model whose key is missing: the message names the variable.
  o.model = "openai:gpt-4o";
  err.str("");
  EXPECT_EQ(RunAgentCommand(o), 125);
  EXPECT_NE(err.str().find("OPENAI_API_KEY"), std::string::npos) << err.str();
  // KILN_MODEL is the default model.
  o.model = "";
  o.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "KILN_MODEL") return "script:/nonexistent/kiln.script";
    return std::nullopt;
  };
  err.str("");
  EXPECT_EQ(RunAgentCommand(o), 125);
  EXPECT_NE(err.str().find("/nonexistent/kiln.script"), std::string::npos) << err.str();
}

TEST(BenchCommand, CanonicalLimitWritesJsonl) {
  testing::HostPythonExecutor python;
  if (!python.available()) GTEST_SKIP() << "no python3 on this host";
  std::ostringstream out, err;
  BenchCommandOptions o;
  o.model = "canonical";
  o.limit = 5;
  o.jobs = 2;
  o.out_file = ::testing::TempDir() + "/kiln_he.jsonl";
  o.executor = &python;
  o.env = NoEnv;
  o.out = &out;
  o.err = &err;
  ASSERT_EQ(RunBenchHumanEvalCommand(o), 0) << err.str();
  EXPECT_NE(out.str().find("pass rate within 1 attempt : 5/5 (100.0%)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("wall time"), std::string::npos);
  EXPECT_NE(err.str().find("[5/5]"), std::string::npos);
  std::ifstream f(o.out_file);
  std::string line;
  int lines = 0;
  while (std::getline(f, line)) {
    EXPECT_EQ(nlohmann::json::parse(line)["passed"], true);
    ++lines;
  }
  EXPECT_EQ(lines, 5);
}

TEST(CliCommands, RegistersAgentAndBenchHumaneval) {
  CLI::App app{"kiln"};
  int exit_code = -1;
  AddAgentCommands(app, exit_code);
  EXPECT_NO_THROW(app.get_subcommand("agent"));
  CLI::App* bench = app.get_subcommand("bench");
  EXPECT_NO_THROW(bench->get_subcommand("humaneval"));
  if (HaveSandboxRuntime()) return;  // the rest would run a real model call
  // Without a runtime the agent stops before calling any model: Kiln's own error.
  const char* argv[] = {"kiln", "agent", "hello", "--model", "script:/nonexistent", "--max-attempts", "2"};
  app.parse(7, const_cast<char**>(argv));
  EXPECT_EQ(exit_code, 125);
}

}  // namespace
}  // namespace kiln::agent
