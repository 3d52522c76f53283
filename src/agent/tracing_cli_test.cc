// The built CLI: `kiln agent --model script:examples/agent/demo.script --trace "..."` runs the demo in real
// sandboxes, prints the span tree on stderr and exits 0. ctest label "sandbox".
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

constexpr char kTask[] = "Print the first 10 prime numbers";

std::string DemoModel() {
  return "script:" + testing::RepoPath("examples/agent/demo.script");
}

// The built CLI: `kiln agent --trace` prints the span tree on stderr and exits 0.
TEST(AgentTracingCli, TraceFlagPrintsTheTreeOnStderr) {
  int err_pipe[2];
  ASSERT_EQ(pipe(err_pipe), 0);
  const std::string model = DemoModel();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(err_pipe[1], 2);
    close(err_pipe[0]);
    close(err_pipe[1]);
    for (const char* v : {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                          "OTEL_TRACES_EXPORTER", "KILN_TRACE_FILE", "KILN_MODEL"})
      unsetenv(v);
    execl(KILN_BINARY, KILN_BINARY, "agent", "--model", model.c_str(), "--trace", kTask,
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(err_pipe[1]);
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = read(err_pipe[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<size_t>(n));
  close(err_pipe[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << err;
  const size_t tree = err.find("\ntrace ");
  ASSERT_NE(tree, std::string::npos) << err;
  const size_t agent = err.find("invoke_agent kiln-coder", tree);
  ASSERT_NE(agent, std::string::npos) << err;
  size_t chats = 0, tools = 0;
  for (size_t p = agent; (p = err.find("chat script:", p + 1)) != std::string::npos;) ++chats;
  for (size_t p = agent; (p = err.find("execute_tool run_code", p + 1)) != std::string::npos;) ++tools;
  EXPECT_EQ(chats, 3u) << err;
  EXPECT_EQ(tools, 3u) << err;
  EXPECT_NE(err.find("kiln.sandbox.id="), std::string::npos) << err;
}

}  // namespace
}  // namespace kiln::agent
