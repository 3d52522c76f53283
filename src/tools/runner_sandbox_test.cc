// ToolRunner against a real sandbox: every built-in, command templates (and their quoting), a Python
// function from a file, state between calls, images, timeouts and a flood of output.
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/base/strings.h"
#include "kiln/tools/runner.h"
#include "kiln/tools/sandbox.h"

namespace kiln::tools {
namespace {

using json = nlohmann::json;

class ToolSandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<runtime::Runtime>> rt = runtime::Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value().release();
    Result<Registry> registry = LoadRegistryFile(std::string(KILN_TOOLS_TESTDATA) + "/registry.yaml");
    ASSERT_TRUE(registry.ok()) << registry.status().message();
    std::vector<ToolDef> tools = DefaultRegistry().tools();
    for (const ToolDef& t : registry->tools()) tools.push_back(t);
    registry_ = new Registry(std::move(tools));
    runner_ = new ToolRunner(registry_, RuntimeSandboxFactory(runtime_, {600'000, false}));
  }
  static void TearDownTestSuite() {
    delete runner_;
    delete registry_;
    delete runtime_;  // kills the sandbox
  }
  static ToolResult Call(const std::string& tool, const json& arguments) {
    return runner_->Call(tool, arguments);
  }

  static runtime::Runtime* runtime_;
  static Registry* registry_;
  static ToolRunner* runner_;
};
runtime::Runtime* ToolSandboxTest::runtime_ = nullptr;
Registry* ToolSandboxTest::registry_ = nullptr;
ToolRunner* ToolSandboxTest::runner_ = nullptr;

TEST_F(ToolSandboxTest, RunPythonKeepsStateBetweenCalls) {
  ToolResult first = Call("run_python", {{"code", "x = 41\nprint('set')"}});
  EXPECT_FALSE(first.is_error) << first.Text();
  EXPECT_EQ(first.Text(), "[stdout]\nset\n");
  ToolResult second = Call("run_python", {{"code", "x + 1"}});
  EXPECT_EQ(second.Text(), "[result]\n42");
  // The registry's LangChain-named tool is the same interpreter.
  EXPECT_EQ(Call("execute_python", {{"code", "x * 2"}}).Text(), "[result]\n82");
}

TEST_F(ToolSandboxTest, RunPythonErrorsCarryTheTraceback) {
  ToolResult r =
      Call("run_python", {{"code", "import sys\nprint('before', file=sys.stderr)\nundefined_name"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_NE(r.Text().find("[stderr]\nbefore"), std::string::npos) << r.Text();
  EXPECT_NE(r.Text().find("[error]\nNameError: name 'undefined_name' is not defined"), std::string::npos)
      << r.Text();
}

TEST_F(ToolSandboxTest, RunPythonReturnsImagesAsImages) {
  // A 1x1 PNG made with the standard library, shown through IPython's _repr_png_ protocol.
  const char* code =
      "import struct, zlib\n"
      "def chunk(kind, data):\n"
      "    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))\n"
      "png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0)) + "
      "chunk(b'IDAT', zlib.compress(b'\\x00\\xff\\x00\\x00')) + chunk(b'IEND', b'')\n"
      "class Dot:\n"
      "    def _repr_png_(self):\n"
      "        return png\n"
      "Dot()\n";
  ToolResult r = Call("run_python", {{"code", code}});
  EXPECT_FALSE(r.is_error) << r.Text();
  ASSERT_FALSE(r.content.empty());
  const Content* image = nullptr;
  for (const Content& c : r.content)
    if (c.type == Content::Type::kImage) image = &c;
  ASSERT_NE(image, nullptr) << r.Text();
  EXPECT_EQ(image->mime_type, "image/png");
  std::string bytes;
  ASSERT_TRUE(Base64Decode(image->data, &bytes));
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
}

TEST_F(ToolSandboxTest, AHangingCellTimesOutAndTheInterpreterLivesOn) {
  ToolDef slow = *registry_->Find("run_python");
  slow.name = "slow_python";
  slow.timeout_ms = 1'000;
  Registry one({slow});
  // The shared runner makes its sandbox on first use: make sure it exists when this test runs alone.
  ASSERT_FALSE(Call("run_python", {{"code", "1"}}).is_error);
  ASSERT_TRUE(runner_->sandbox().has_value());
  ToolRunner runner(&one, [] { return Result<SandboxEndpoint>(*runner_->sandbox()); });
  ToolResult r = runner.Call("slow_python", json{{"code", "while True: pass"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_NE(r.Text().find("TimeoutError"), std::string::npos) << r.Text();
  EXPECT_EQ(Call("run_python", {{"code", "40 + 2"}}).Text(), "[result]\n42");
}

TEST_F(ToolSandboxTest, FiftyMegabytesOfOutputAreCutToTheCap) {
  ToolResult r = Call("run_python",
                      {{"code", "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * 1_000_000)\n"}});
  std::string text = r.Text();
  EXPECT_LT(text.size(), 200'000u);
  EXPECT_NE(text.find("more bytes cut"), std::string::npos)
      << text.substr(text.size() > 300 ? text.size() - 300 : 0);
  ToolResult shell = Call("run_shell", {{"command", "head -c 50000000 /dev/zero | tr '\\0' y"}});
  EXPECT_LT(shell.Text().size(), 200'000u);
  EXPECT_NE(shell.Text().find("more bytes cut"), std::string::npos);
}

TEST_F(ToolSandboxTest, RunShellReportsExitCodeAndStreams) {
  ToolResult r = Call("run_shell", {{"command", "echo out; echo err >&2; exit 3"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.Text(), "[exit code] 3\n[stdout]\nout\n\n[stderr]\nerr\n");
  ToolResult cwd = Call("run_shell", {{"command", "pwd"}, {"cwd", "/tmp"}});
  EXPECT_EQ(cwd.Text(), "[exit code] 0\n[stdout]\n/tmp\n");
}

TEST_F(ToolSandboxTest, AHangingCommandIsKilledAtItsTimeout) {
  ToolResult r = Call("shell", {{"command", "echo started; sleep 60"}});  // registry timeout: 2 s
  EXPECT_TRUE(r.is_error);
  EXPECT_NE(r.Text().find("timed out after 2 s"), std::string::npos) << r.Text();
}

// A call the user stops (the cancel predicate turning true while it runs) ends long before its timeout,
// says so, and keeps the output so far; the process is gone and the interpreter keeps its variables.
TEST_F(ToolSandboxTest, ACancelledCallStopsAndKeepsItsOutput) {
  std::atomic<bool> cancel{false};
  std::function<bool()> cancelled = [&] { return cancel.load(); };
  std::thread user([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    cancel = true;
  });
  ToolResult shell =
      runner_->Call("run_shell", {{"command", "echo started; sleep 600; echo finished"}}, cancelled);
  user.join();
  EXPECT_TRUE(shell.is_error);
  EXPECT_NE(shell.Text().find("stopped by the user"), std::string::npos) << shell.Text();
  EXPECT_NE(shell.Text().find("[stdout]\nstarted"), std::string::npos) << shell.Text();
  EXPECT_EQ(shell.Text().find("\nfinished"), std::string::npos) << shell.Text();
  // No process of the sandbox is still the sleep (the /proc walk works without procps).
  std::string still_running =
      Call("run_shell",
           {{"command",
             "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep -c '^sleep 600'"}})
          .Text();
  EXPECT_NE(still_running.find("[stdout]\n0"), std::string::npos) << still_running;

  ASSERT_FALSE(Call("run_python", {{"code", "kept = 'yes'"}}).is_error);
  cancel = false;
  std::thread again([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    cancel = true;
  });
  ToolResult cell = runner_->Call(
      "run_python", {{"code", "print('started', flush=True)\nimport time\ntime.sleep(600)"}}, cancelled);
  again.join();
  EXPECT_TRUE(cell.is_error);
  EXPECT_NE(cell.Text().find("stopped by the user"), std::string::npos) << cell.Text();
  EXPECT_NE(cell.Text().find("[stdout]\nstarted"), std::string::npos) << cell.Text();
  EXPECT_EQ(Call("run_python", {{"code", "len(kept)"}}).Text(), "[result]\n3");
}

TEST_F(ToolSandboxTest, FilesRoundTrip) {
  ToolResult w = Call("write_file", {{"path", "data/notes.txt"}, {"content", "line one\nline two\n"}});
  EXPECT_FALSE(w.is_error) << w.Text();
  EXPECT_EQ(w.Text(), "wrote 18 bytes to data/notes.txt");
  EXPECT_EQ(Call("read_file", {{"path", "data/notes.txt"}}).Text(), "line one\nline two\n");
  ToolResult listed = Call("list_files", {{"path", "data"}});
  EXPECT_NE(listed.Text().find("file 18 /home/user/data/notes.txt"), std::string::npos) << listed.Text();
  ToolResult missing = Call("read_file", {{"path", "data/none.txt"}});
  EXPECT_TRUE(missing.is_error);
  EXPECT_EQ(missing.Text().rfind("read_file: ", 0), 0u);
  ToolResult dir = Call("read_file", {{"path", "data"}});
  EXPECT_TRUE(dir.is_error);
  EXPECT_NE(dir.Text().find("is a directory"), std::string::npos);
}

TEST_F(ToolSandboxTest, CommandTemplatesQuoteArgumentsSoTheyCannotInject) {
  const std::string hostile = "a'; touch /tmp/pwned; echo '$(id)";
  ToolResult r = Call("echo_text", {{"text", hostile}, {"times", 2}});
  EXPECT_FALSE(r.is_error) << r.Text();
  EXPECT_EQ(r.Text(), "[exit code] 0\n[stdout]\n" + hostile + "\n" + hostile + "\n");
  EXPECT_EQ(Call("run_shell", {{"command", "test -e /tmp/pwned && echo yes || echo no"}}).Text(),
            "[exit code] 0\n[stdout]\nno\n");
  EXPECT_EQ(Call("echo_text", {{"text", "once"}}).Text(), "[exit code] 0\n[stdout]\nonce\n");  // default: 1
  EXPECT_EQ(Call("count_words", {{"text", "three little words; $(x)"}}).Text(),
            "[exit code] 0\n[stdout]\n4\n");
}

TEST_F(ToolSandboxTest, PythonFunctionToolIsUploadedAndCalled) {
  ToolResult r = Call("stats", {{"numbers", {1, 2, 6}}});
  EXPECT_FALSE(r.is_error) << r.Text();
  EXPECT_EQ(r.Text(), "[stdout]\n{\"mean\": 3.0, \"min\": 1, \"max\": 6}\n");
  ToolResult bad = Call("stats", {{"numbers", json::array()}});
  EXPECT_TRUE(bad.is_error);
  EXPECT_NE(bad.Text().find("fewer than the minimum 1"), std::string::npos);
}

TEST_F(ToolSandboxTest, InstallPackagesRefusesOptionsAsNames) {
  ToolResult r = Call("install_packages", {{"packages", {"--index-url=http://evil/", "numpy"}}});
  EXPECT_TRUE(r.is_error);
  EXPECT_NE(r.Text().find("is not a package name"), std::string::npos) << r.Text();
}

}  // namespace
}  // namespace kiln::tools
