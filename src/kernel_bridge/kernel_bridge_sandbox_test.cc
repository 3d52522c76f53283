// Kernelspec languages in code contexts, end to end: kiln-envd as PID 1 of a real sandbox runs
// kiln-kernel-bridge (bound at /opt/kiln/bin), which drives ipykernel (through a kernelspec this test writes
// into the sandbox) and IRkernel (Debian's r-cran-irkernel, when installed).
#include <gtest/gtest.h>
#include <unistd.h>

#include "kiln/client/code_client.h"
#include "kiln/runtime/envd_binary.h"
#include "kiln/runtime/runtime.h"

namespace kiln {
namespace {

using client::CodeClient;
using client::ExecuteOptions;
using client::Execution;

// Named so it cannot be confused with the built-in python runner: "ipython" is not a builtin language.
constexpr char kIpythonKernelJson[] =
    R"json({"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "IPython (kiln test)", "language": "python"})json";

class KernelBridgeSandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(runtime::KernelBridgeBinaryPath()) << "kiln-kernel-bridge is not beside kiln-envd";
    auto rt = runtime::Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value().release();
    runtime::CreateOptions options;
    options.access_token = "tok";
    options.spec.limits.timeout_ms = 600'000;
    options.spec.limits.memory_bytes = 1ll << 30;
    options.spec.files["/home/user/.local/share/jupyter/kernels/ipython/kernel.json"] = kIpythonKernelJson;
    auto info = runtime_->CreateSandbox(options);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    info_ = new runtime::SandboxInfo(*info);
  }
  static void TearDownTestSuite() {
    delete runtime_;
    delete info_;
  }
  static CodeClient Client() { return CodeClient(info_->socket_path, "tok"); }
  static Execution Run(const std::string& code, const ExecuteOptions& options) {
    auto r = Client().Execute(code, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Execution{};
  }
  static ExecuteOptions In(const std::string& context_id) {
    ExecuteOptions o;
    o.context_id = context_id;
    return o;
  }
  static runtime::Runtime* runtime_;
  static runtime::SandboxInfo* info_;
};
runtime::Runtime* KernelBridgeSandboxTest::runtime_ = nullptr;
runtime::SandboxInfo* KernelBridgeSandboxTest::info_ = nullptr;

TEST_F(KernelBridgeSandboxTest, IpykernelStateOutputResultsAndErrors) {
  auto ctx = Client().CreateContext("ipython");
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  EXPECT_EQ(ctx->language, "ipython");
  ExecuteOptions o = In(ctx->id);
  Execution first = Run("x = 20", o);
  EXPECT_FALSE(first.error) << first.error->name << ": " << first.error->value;
  EXPECT_EQ(first.execution_count, 1);
  Execution printed = Run("print('hello')\nx += 1; x * 2", o);
  EXPECT_EQ(printed.stdout_chunks, std::vector<std::string>{"hello\n"});
  ASSERT_EQ(printed.results.size(), 1u);
  EXPECT_TRUE(printed.results[0].is_main_result);
  EXPECT_EQ(printed.Text(), "42");
  EXPECT_EQ(Run("'abc'", o).Text(), "abc");
  EXPECT_EQ(Run("import os; os.getcwd()", o).Text(), "/home/user");
  Execution shown = Run("from IPython.display import HTML, display\ndisplay(HTML('<b>bold</b>'))\nx", o);
  ASSERT_EQ(shown.results.size(), 2u);
  EXPECT_FALSE(shown.results[0].is_main_result);
  EXPECT_EQ(shown.results[0].Get("html"), "<b>bold</b>");
  EXPECT_EQ(shown.Text(), "21");
  Execution error = Run("1/0", o);
  ASSERT_TRUE(error.error);
  EXPECT_EQ(error.error->name, "ZeroDivisionError");
  EXPECT_EQ(error.error->value, "division by zero");
  EXPECT_NE(error.error->traceback.find("1/0"), std::string::npos) << error.error->traceback;
  EXPECT_EQ(error.error->traceback.find('\x1b'), std::string::npos) << error.error->traceback;
  EXPECT_EQ(Run("x", o).Text(), "21");  // survived the exception
  ExecuteOptions env = o;
  env.env_vars["KILN_T"] = "on";
  EXPECT_EQ(Run("os.environ.get('KILN_T')", env).Text(), "on");
  EXPECT_EQ(Run("os.environ.get('KILN_T', 'unset')", o).Text(), "unset");
  EXPECT_TRUE(Run("raise ValueError(os.environ['KILN_T'])", env).error);
  EXPECT_EQ(Run("os.environ.get('KILN_T', 'unset')", o).Text(), "unset");  // restored after a failure too
  Execution input = Run("input('?')", o);
  ASSERT_TRUE(input.error);
  EXPECT_EQ(Run("x", o).Text(), "21");
}

TEST_F(KernelBridgeSandboxTest, IpykernelTimeoutAndDeath) {
  auto ctx = Client().CreateContext("ipython");
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  ExecuteOptions o = In(ctx->id);
  Run("v = 42", o);
  ExecuteOptions t = o;
  t.timeout_ms = 1000;
  auto start = std::chrono::steady_clock::now();
  Execution slow = Run("import time; time.sleep(30)", t);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_TRUE(slow.error);
  EXPECT_EQ(slow.error->name, "TimeoutError");
  EXPECT_EQ(Run("v", o).Text(), "42");  // interrupted, not restarted
  Execution died = Run("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", o);
  ASSERT_TRUE(died.error);
  EXPECT_EQ(died.error->name, "ContextDied");
  EXPECT_NE(died.Stderr().find("kernel exited"), std::string::npos) << died.Stderr();
  Execution after = Run("v", o);  // a fresh bridge and kernel: the variable is gone
  ASSERT_TRUE(after.error);
  EXPECT_EQ(after.error->name, "NameError");
  EXPECT_EQ(Run("1 + 1", o).Text(), "2");
  ASSERT_TRUE(Client().RestartContext(ctx->id).ok());
  EXPECT_EQ(Run("2 + 2", o).Text(), "4");
}

TEST_F(KernelBridgeSandboxTest, MissingKernelspecNamesLanguageAndSearchPath) {
  auto ctx = Client().CreateContext("cobol");
  ASSERT_FALSE(ctx.ok());
  const std::string& m = ctx.status().message();
  EXPECT_NE(m.find("'cobol'"), std::string::npos) << m;
  EXPECT_NE(m.find("/home/user/.local/share/jupyter/kernels"), std::string::npos) << m;
  EXPECT_NE(m.find("/usr/share/jupyter/kernels"), std::string::npos) << m;
  ExecuteOptions by_language;
  by_language.language = "cobol";
  auto executed = Client().Execute("DISPLAY 'HI'.", by_language);
  EXPECT_EQ(executed.status().code(), Code::kNotFound) << executed.status().ToString();
  EXPECT_NE(executed.status().message().find("'cobol'"), std::string::npos);
}

// IRkernel publishes every visible value as display_data, never execute_result, so R values arrive as
// results with is_main_result false (execution.text stays empty), as they do on E2B.
std::string FirstResultText(const Execution& e) {
  return e.results.empty() ? "<no result>" : e.results[0].Get("text");
}

TEST_F(KernelBridgeSandboxTest, IRkernel) {
  if (::access("/usr/share/jupyter/kernels/ir/kernel.json", R_OK) != 0)
    GTEST_SKIP() << "IRkernel is not installed (apt-get install r-cran-irkernel)";
  ExecuteOptions r;
  r.language = "r";  // finds the kernelspec "ir" through its "language": "R"
  Execution first = Run("x <- 2; x * 21", r);
  ASSERT_FALSE(first.error) << first.error->name << ": " << first.error->value;
  ASSERT_EQ(first.results.size(), 1u);
  EXPECT_FALSE(first.results[0].is_main_result);
  EXPECT_EQ(FirstResultText(first), "[1] 42");
  EXPECT_EQ(FirstResultText(Run("x", r)), "[1] 2");  // state persists
  EXPECT_EQ(FirstResultText(Run("getwd()", r)), "[1] \"/home/user\"");
  EXPECT_EQ(Run("cat('hi\\n')", r).Stdout(), "hi\n");
  Execution error = Run("stop('boom')", r);
  ASSERT_TRUE(error.error);
  EXPECT_NE(error.error->value.find("boom"), std::string::npos) << error.error->value;
  ExecuteOptions env = r;
  env.env_vars["KILN_T"] = "on";
  EXPECT_EQ(FirstResultText(Run("Sys.getenv('KILN_T')", env)), "[1] \"on\"");
  EXPECT_EQ(FirstResultText(Run("Sys.getenv('KILN_T', 'unset')", r)), "[1] \"unset\"");
  ExecuteOptions t = r;
  t.timeout_ms = 1000;
  Execution slow = Run("Sys.sleep(30)", t);
  ASSERT_TRUE(slow.error);
  EXPECT_EQ(slow.error->name, "TimeoutError");
  EXPECT_EQ(FirstResultText(Run("x", r)), "[1] 2");  // interrupted, not restarted
}

}  // namespace
}  // namespace kiln
