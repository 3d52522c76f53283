// Kernel against a real ipykernel on the host (no sandbox): the protocol, interrupts and death.
#include "kiln/kernel_bridge/kernel.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

namespace kiln::kernel_bridge {
namespace {

KernelSpec IpykernelSpec() {
  KernelSpec spec;
  spec.name = "kiln-test-python";
  spec.language = "python";
  spec.interrupt_mode = "signal";
  spec.argv = {"/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"};
  return spec;
}

bool HaveIpykernel() {
  return std::system("/usr/bin/python3 -c 'import ipykernel' >/dev/null 2>&1") == 0;
}

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(BlockKernelSignals().ok());
    if (!HaveIpykernel()) GTEST_SKIP() << "python3-ipykernel is not installed";
    auto started = Kernel::Start(IpykernelSpec(), KernelOptions{});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    kernel_ = std::move(started).value();
  }
  std::vector<Json> Run(const std::string& code, std::vector<std::pair<std::string, std::string>> env = {}) {
    std::vector<Json> items;
    Status s = kernel_->Execute(code, env, [&](Json item) { items.push_back(std::move(item)); });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return items;
  }
  std::unique_ptr<Kernel> kernel_;
};

TEST_F(KernelTest, StreamsResultsDisplaysAndState) {
  EXPECT_TRUE(Run("x = 6 * 7").empty());
  std::vector<Json> items = Run("print('hi'); x");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], Json({{"type", "stdout"}, {"text", "hi\n"}}));
  EXPECT_EQ(items[1]["text"], "42");
  EXPECT_EQ(items[1]["is_main_result"], true);
  items = Run("from IPython.display import HTML, display\ndisplay(HTML('<b>b</b>'))\n'done'");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["html"], "<b>b</b>");
  EXPECT_EQ(items[0]["is_main_result"], false);
  EXPECT_EQ(items[1]["text"], "done");
}

TEST_F(KernelTest, ErrorsAndEnvVars) {
  std::vector<Json> items = Run("1/0");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["type"], "error");
  EXPECT_EQ(items[0]["name"], "ZeroDivisionError");
  EXPECT_EQ(items[0]["value"], "division by zero");
  std::string tb = items[0]["traceback"];
  EXPECT_NE(tb.find("1/0"), std::string::npos) << tb;
  EXPECT_EQ(tb.find('\x1b'), std::string::npos) << tb;
  items = Run("import os; os.environ.get('KILN_T')", {{"KILN_T", "on"}});
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["text"], "on") << items[0].dump();
  items = Run("os.environ.get('KILN_T', 'unset')");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["text"], "unset") << items[0].dump();
  items = Run("input('?')");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["type"], "error");
}

TEST_F(KernelTest, SigintInterruptsTheCell) {
  std::thread interrupter([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    ::kill(::getpid(), SIGINT);
  });
  auto start = std::chrono::steady_clock::now();
  std::vector<Json> items = Run("import time; time.sleep(30)");
  interrupter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["name"], "KeyboardInterrupt");
  EXPECT_EQ(Run("1 + 1").at(0)["text"], "2");
}

TEST_F(KernelTest, DeathIsUnavailable) {
  Status s = kernel_->Execute("import os; os._exit(3)", {}, [](Json) {});
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("exit status 3"), std::string::npos) << s.message();
}

TEST(KernelStart, MissingProgramIsNotFound) {
  ASSERT_TRUE(BlockKernelSignals().ok());
  KernelSpec spec = IpykernelSpec();
  spec.argv = {"kiln-no-such-kernel-binary", "{connection_file}"};
  auto started = Kernel::Start(spec, KernelOptions{});
  EXPECT_EQ(started.status().code(), Code::kNotFound) << started.status().ToString();
  EXPECT_NE(started.status().message().find("kiln-no-such-kernel-binary"), std::string::npos);
}

TEST(KernelStart, EarlyExitIsUnavailable) {
  ASSERT_TRUE(BlockKernelSignals().ok());
  KernelSpec spec = IpykernelSpec();
  spec.argv = {"sh", "-c", "exit 4", "{connection_file}"};
  auto started = Kernel::Start(spec, KernelOptions{});
  EXPECT_EQ(started.status().code(), Code::kUnavailable) << started.status().ToString();
  EXPECT_NE(started.status().message().find("exit status 4"), std::string::npos);
}

}  // namespace
}  // namespace kiln::kernel_bridge
