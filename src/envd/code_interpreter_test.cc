// The code interpreter (/execute, /contexts) of kiln-envd as PID 1 of a real sandbox, over its socket.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kiln/base/strings.h"
#include "kiln/client/code_client.h"
#include "kiln/protocol/http_client.h"
#include "kiln/runtime/runtime.h"

namespace kiln::envd {
namespace {

using client::CodeClient;
using client::ExecuteOptions;
using client::Execution;
using Json = nlohmann::json;

class CodeInterpreterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto rt = runtime::Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value().release();
    runtime::CreateOptions options;
    options.access_token = "tok";
    auto info = runtime_->CreateSandbox(options);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    info_ = new runtime::SandboxInfo(*info);
  }
  static void TearDownTestSuite() {
    delete runtime_;
    delete info_;
  }
  CodeClient Client() const { return CodeClient(info_->socket_path, "tok"); }
  Execution Run(const std::string& code, ExecuteOptions options = {}) {
    auto r = Client().Execute(code, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Execution{};
  }
  // The raw NDJSON lines of one /execute.
  std::vector<std::string> RawLines(const Json& body, int* status) {
    http::Client c = http::Client::Unix(info_->socket_path);
    http::Headers h;
    h.Set("X-Access-Token", "tok");
    auto r = c.Do("POST", "/execute", h, body.dump(), 60'000);
    EXPECT_TRUE(r.ok());
    *status = r.ok() ? r->status : 0;
    return r.ok() ? Split(r->body, '\n') : std::vector<std::string>{};
  }
  static runtime::Runtime* runtime_;
  static runtime::SandboxInfo* info_;
};
runtime::Runtime* CodeInterpreterTest::runtime_ = nullptr;
runtime::SandboxInfo* CodeInterpreterTest::info_ = nullptr;

TEST_F(CodeInterpreterTest, WireFormatItemByItem) {
  auto ctx = Client().CreateContext("python");
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  int status = 0;
  auto lines = RawLines({{"code", "x = 1; x"}, {"context_id", ctx->id}}, &status);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(lines.size(), 4u);  // the trailing "" after the last \n
  EXPECT_EQ(Json::parse(lines[0]), Json::parse(R"({"type":"number_of_executions","execution_count":1})"));
  Json result = Json::parse(lines[1]);
  EXPECT_EQ(result, Json::parse(R"({"type":"result","text":"1","is_main_result":true,"extra":{}})"));
  EXPECT_EQ(lines[2], R"({"type":"end_of_execution"})");
  EXPECT_EQ(lines[3], "");
  lines = RawLines({{"code", "print('hello')"}, {"context_id", ctx->id}}, &status);
  ASSERT_EQ(lines.size(), 4u);  // number_of_executions, stdout, end_of_execution, ""
  Json out = Json::parse(lines[1]);
  EXPECT_EQ(out["type"], "stdout");
  EXPECT_EQ(out["text"], "hello\n");
}

TEST_F(CodeInterpreterTest, StateEnvErrorsAndRichOutput) {
  auto ctx = Client().CreateContext("python");
  ASSERT_TRUE(ctx.ok());
  ExecuteOptions o;
  o.context_id = ctx->id;
  Run("x = 1", o);
  EXPECT_EQ(Run("x += 1; x", o).Text(), "2");
  EXPECT_EQ(Run("'abc'", o).Text(), "abc");
  EXPECT_EQ(Run("    y = 5\n    y * 2", o).Text(), "10");  // indented cell
  ExecuteOptions env = o;
  env.env_vars["KILN_T"] = "on";
  EXPECT_EQ(Run("import os; os.environ.get('KILN_T')", env).Text(), "on");
  EXPECT_EQ(Run("os.environ.get('KILN_T', 'unset')", o).Text(), "unset");
  Execution err = Run("1/0", o);
  ASSERT_TRUE(err.error);
  EXPECT_EQ(err.error->name, "ZeroDivisionError");
  EXPECT_NE(err.error->traceback.find("1/0"), std::string::npos) << err.error->traceback;
  EXPECT_EQ(Run("x", o).Text(), "2");  // survived
  Execution in = Run("input('?')", o);
  ASSERT_TRUE(in.error);
  EXPECT_NE(in.error->value.find("input"), std::string::npos);
  Execution shell = Run("!echo hi", o);
  EXPECT_EQ(shell.Stdout(), "hi\n");
  Execution disp = Run("class R:\n  def _repr_html_(self): return '<b>r</b>'\ndisplay(R()); R()", o);
  ASSERT_EQ(disp.results.size(), 2u);
  EXPECT_FALSE(disp.results[0].is_main_result);
  EXPECT_EQ(disp.results[0].Get("html"), "<b>r</b>");
  EXPECT_TRUE(disp.results[1].is_main_result);
  EXPECT_EQ(disp.results[0].Get("extra"), "{}");
}

TEST_F(CodeInterpreterTest, MatplotlibAndPandas) {
  Execution chart = Run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n7");
  ASSERT_FALSE(chart.error) << chart.error->value << chart.error->traceback;
  ASSERT_EQ(chart.results.size(), 2u);
  std::string png;
  ASSERT_TRUE(Base64Decode(chart.results[0].Get("png"), &png));
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(chart.Text(), "7");
  Execution df = Run("import pandas as pd\npd.DataFrame({'a': [1, 2]})");
  ASSERT_EQ(df.results.size(), 1u);
  EXPECT_NE(df.results[0].Get("html").find("<table"), std::string::npos);
  EXPECT_EQ(Json::parse(df.results[0].Get("data")), Json::parse(R"({"a":[1,2]})"));
}

TEST_F(CodeInterpreterTest, TimeoutDeathAndOutputCap) {
  auto ctx = Client().CreateContext("python");
  ASSERT_TRUE(ctx.ok());
  ExecuteOptions o;
  o.context_id = ctx->id;
  Run("v = 42", o);
  ExecuteOptions t = o;
  t.timeout_ms = 500;
  Execution slow = Run("import time; time.sleep(30)", t);
  ASSERT_TRUE(slow.error);
  EXPECT_EQ(slow.error->name, "TimeoutError");
  EXPECT_EQ(Run("v", o).Text(), "42");
  Execution died = Run("import os; os._exit(3)", o);
  ASSERT_TRUE(died.error);
  EXPECT_EQ(died.error->name, "ContextDied");
  EXPECT_NE(died.error->value.find("exit status 3"), std::string::npos) << died.error->value;
  EXPECT_TRUE(Run("v", o).error);  // restarted: NameError
  Execution segv = Run("import ctypes; ctypes.string_at(0)", o);
  ASSERT_TRUE(segv.error);
  EXPECT_EQ(segv.error->name, "ContextDied");
  EXPECT_EQ(Run("1 + 1", o).Text(), "2");
  ExecuteOptions abort = o;
  abort.request_timeout_ms = 500;  // the client goes away: envd interrupts the cell
  EXPECT_EQ(Client().Execute("import time; time.sleep(30)", abort).status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(Run("3", o).Text(), "3");
  Execution huge = Run("for _ in range(300): print('x' * 100000)", o);
  EXPECT_LE(huge.Stdout().size(), 10u << 20);
  EXPECT_NE(huge.Stderr().find("output truncated"), std::string::npos);
}

TEST_F(CodeInterpreterTest, ContextsApi) {
  auto list = Client().ListContexts();
  ASSERT_TRUE(list.ok());
  ASSERT_GE(list->size(), 2u);
  EXPECT_EQ((*list)[0].language, "python");
  EXPECT_EQ((*list)[1].language, "javascript");
  EXPECT_EQ((*list)[0].cwd, "/home/user");
  auto a = Client().CreateContext("python");
  auto b = Client().CreateContext("python");
  ASSERT_TRUE(a.ok() && b.ok());
  ExecuteOptions oa, ob;
  oa.context_id = a->id;
  ob.context_id = b->id;
  Run("z = 'a'", oa);
  EXPECT_TRUE(Run("z", ob).error);  // independent
  ASSERT_TRUE(Client().RestartContext(a->id).ok());
  Execution after = Run("z", oa);
  ASSERT_TRUE(after.error);
  EXPECT_EQ(after.error->name, "NameError");
  ASSERT_TRUE(Client().DeleteContext(b->id).ok());
  EXPECT_EQ(Client().Execute("1", ob).status().code(), Code::kNotFound);
  EXPECT_EQ(Client().DeleteContext(b->id).code(), Code::kNotFound);
  ExecuteOptions both;
  both.context_id = a->id;
  both.language = "python";
  EXPECT_EQ(Client().Execute("1", both).status().code(), Code::kInvalidArgument);
}

TEST_F(CodeInterpreterTest, BashAndJavascript) {
  ExecuteOptions bash;
  bash.language = "bash";
  Run("FOO=bar; cd /tmp", bash);
  Execution b = Run("echo $FOO; pwd", bash);
  EXPECT_EQ(b.Stdout(), "bar\n/tmp\n");
  ExecuteOptions js;
  js.language = "js";
  Run("var n = 20", js);
  EXPECT_EQ(Run("n + 1", js).Text(), "21");
  EXPECT_EQ(Run("await Promise.resolve('Hello World!')", js).Text(), "Hello World!");
  EXPECT_EQ(Run("process.cwd()", js).Text(), "/home/user");
  Execution log = Run("console.log('hi')", js);
  EXPECT_EQ(log.Stdout(), "hi\n");
}

}  // namespace
}  // namespace kiln::envd
