// The code interpreter (/execute, /contexts) of kiln-envd as PID 1 of a real sandbox, over its socket.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "kiln/base/clock.h"
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
  Execution nan = Run("pd.DataFrame({'a': [1.5, float('nan')]})");  // NaN is not JSON: it becomes null
  ASSERT_EQ(nan.results.size(), 1u);
  EXPECT_EQ(Json::parse(nan.results[0].Get("data")), Json::parse(R"({"a":[1.5,null]})"));
}

// What the first cells of real notebooks do, as under ipykernel: %matplotlib inline (which raised
// NotImplementedError from IPython's enable_gui), figures left open at the end of a cell as PNG results,
// the everyday magics, IPython.display and PIL's Image.show() as results.
TEST_F(CodeInterpreterTest, NotebookMagicsAndInlineFigures) {
  auto ctx = Client().CreateContext("python");
  ASSERT_TRUE(ctx.ok());
  ExecuteOptions o;
  o.context_id = ctx->id;
  Execution inline_fig = Run("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);", o);
  ASSERT_FALSE(inline_fig.error) << inline_fig.error->value << inline_fig.error->traceback;
  ASSERT_EQ(inline_fig.results.size(), 1u);  // the open figure, shown once the cell ends
  std::string png;
  ASSERT_TRUE(Base64Decode(inline_fig.results[0].Get("png"), &png));
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(Run("plt.plot([2, 1]); plt.show()", o).results.size(), 1u);
  EXPECT_EQ(Run("plt.plot([3]); 1 / 0", o).results.size(), 1u);  // shown after the error, as ipykernel does
  Execution timed = Run("x = 41\n%time y = x + 1\n%timeit -n1 -r1 sum(range(x))", o);
  ASSERT_FALSE(timed.error) << timed.error->value;
  EXPECT_NE(timed.Stdout().find("Wall time"), std::string::npos);
  EXPECT_NE(timed.Stdout().find("per loop"), std::string::npos);
  Execution who = Run("%who", o);
  EXPECT_NE(who.Stdout().find("x\t"), std::string::npos) << who.Stdout();
  EXPECT_EQ(who.Stdout().find("self"), std::string::npos) << who.Stdout();  // the cell's names, not kiln's
  Execution write = Run("%%writefile /tmp/kiln_magic.txt\nwritten\n", o);
  EXPECT_NE(write.Stdout().find("Writing /tmp/kiln_magic.txt"), std::string::npos);
  EXPECT_EQ(Run("open('/tmp/kiln_magic.txt').read()", o).Text(), "written\\n");
  EXPECT_NE(Run("len?", o).Stdout().find("Return the number of items"), std::string::npos);
  EXPECT_EQ(Run("%cd /tmp\n%pwd", o).Text(), "/tmp");
  EXPECT_EQ(Run("%env KILN_MAGIC=yes\nimport os; os.environ['KILN_MAGIC']", o).Text(), "yes");
  EXPECT_EQ(Run("!echo shell-$((1+1))", o).Stdout(), "shell-2\n");
  Execution pylab = Run("%pylab inline\nplot(arange(3));", o);
  ASSERT_FALSE(pylab.error) << pylab.error->value << pylab.error->traceback;
  EXPECT_EQ(pylab.results.size(), 1u);
  Execution html = Run("from IPython.display import display, HTML\ndisplay(HTML('<b>h</b>'))", o);
  ASSERT_EQ(html.results.size(), 1u);
  EXPECT_EQ(html.results[0].Get("html"), "<b>h</b>");
  Execution pil = Run("from PIL import Image\nImage.new('RGB', (4, 4)).show()", o);
  ASSERT_FALSE(pil.error) << pil.error->value << pil.error->traceback;
  ASSERT_EQ(pil.results.size(), 1u);
  ASSERT_TRUE(Base64Decode(pil.results[0].Get("png"), &png));
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

// Output goes out while the cell runs, whole and in order, however it is written.
TEST_F(CodeInterpreterTest, OutputIsLiveWholeAndOrdered) {
  auto ctx = Client().CreateContext("python");
  ASSERT_TRUE(ctx.ok());
  ExecuteOptions o;
  o.context_id = ctx->id;
  int64_t start = MonotonicMillis(), first = -1;
  client::ExecuteCallbacks cb;
  cb.on_stdout = [&](const std::string&) { first = first < 0 ? MonotonicMillis() - start : first; };
  auto live = Client().Execute("print('early')\nimport time; time.sleep(1.5)\nprint('late')", o, cb);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->Stdout(), "early\nlate\n");
  EXPECT_GE(first, 0);
  EXPECT_LT(first, 1000) << "the first print waited for the end of the cell";
  // Multi-byte characters across the runner's 256 KiB frames; 20000 quick prints; stderr in between.
  Execution big = Run("import sys\nsys.stdout.write('\u00e9' * 600000 + '!')", o);
  std::string accents;
  for (int i = 0; i < 600000; ++i) accents += "\u00e9";
  EXPECT_EQ(big.Stdout(), accents + "!");
  Execution many = Run("import sys\nfor i in range(20000): print(i)\nprint('e', file=sys.stderr)", o);
  std::string expected;
  for (int i = 0; i < 20000; ++i) expected += std::to_string(i) + "\n";
  EXPECT_EQ(many.Stdout(), expected);
  EXPECT_EQ(many.Stderr(), "e\n");
  int status = 0;
  auto lines = RawLines({{"code", "print('a'); display(1); print('b')"}, {"context_id", ctx->id}}, &status);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(Json::parse(lines[1])["text"], "a\n");
  EXPECT_EQ(Json::parse(lines[2])["type"], "result");
  EXPECT_EQ(Json::parse(lines[3])["text"], "b\n");
}

// Charts (e2b-protocol.md 5.3). Chart(code) is the chart object of the one figure `code` shows.
class ChartTest : public CodeInterpreterTest {
 protected:
  Json Chart(const std::string& code) {
    Execution e = Run("import matplotlib.pyplot as plt\n" + code + "\nplt.show()");
    EXPECT_FALSE(e.error) << e.error->name << ": " << e.error->value << e.error->traceback;
    EXPECT_EQ(e.results.size(), 1u);
    if (e.results.size() != 1) return Json();
    EXPECT_FALSE(e.results[0].Get("png").empty());
    return Json::parse(e.results[0].Get("chart"), nullptr, false);
  }
};

TEST_F(ChartTest, LineChartWireFormat) {
  int status = 0;
  auto lines = RawLines({{"code",
                          "import matplotlib.pyplot as plt\n"
                          "plt.plot([1, 2, 3], [2, 4, 8], label='speed')\n"
                          "plt.title('Run'); plt.xlabel('Time (s)'); plt.ylabel('Distance [m]')\n"
                          "plt.show(); 5"}},
                        &status);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(lines.size(), 5u);  // number_of_executions, the figure, 5, end_of_execution, ""
  Json figure = Json::parse(lines[1]);
  std::vector<std::string> keys;
  for (const auto& [key, value] : figure.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"chart", "extra", "is_main_result", "png", "text", "type"}));
  EXPECT_EQ(figure["extra"], Json::object());
  EXPECT_EQ(figure["is_main_result"], false);
  const Json& chart = figure["chart"];
  EXPECT_EQ(chart["type"], "line");
  EXPECT_EQ(chart["title"], "Run");
  EXPECT_EQ(chart["x_label"], "Time (s)");
  EXPECT_EQ(chart["x_unit"], "s");
  EXPECT_EQ(chart["y_unit"], "m");
  EXPECT_EQ(chart["x_scale"], "linear");
  EXPECT_EQ(chart["x_ticks"].size(), chart["x_tick_labels"].size());
  EXPECT_FALSE(chart["y_tick_labels"].empty());
  EXPECT_EQ(chart["elements"],
            Json::parse(R"([{"label":"speed","points":[[1.0,2.0],[2.0,4.0],[3.0,8.0]]}])"));
  EXPECT_EQ(Json::parse(lines[2]),
            Json::parse(R"({"type":"result","text":"5","is_main_result":true,"extra":{}})"));
}

TEST_F(ChartTest, ScatterBarPie) {
  Json scatter = Chart("plt.scatter([1, 2], [3, 4], label='pts'); plt.scatter([5], [6], label='more')");
  EXPECT_EQ(scatter["type"], "scatter");
  EXPECT_EQ(scatter["elements"],
            Json::parse(
                R"([{"label":"pts","points":[[1.0,3.0],[2.0,4.0]]},{"label":"more","points":[[5.0,6.0]]}])"));
  Json bar = Chart(
      "plt.bar(['a', 'b'], [1, 2], label='2023'); plt.bar(['a', 'b'], [3, -4], bottom=[1, 2], label='2024')\n"
      "plt.ylabel('Sales (EUR)')");
  EXPECT_EQ(bar["type"], "bar");
  EXPECT_EQ(bar["y_unit"], "EUR");
  EXPECT_EQ(bar["elements"], Json::parse(R"([{"label":"a","value":1.0,"group":"2023"},
      {"label":"b","value":2.0,"group":"2023"},{"label":"a","value":3.0,"group":"2024"},
      {"label":"b","value":-4.0,"group":"2024"}])"));
  Json pie = Chart("plt.pie([1, 3], labels=['x', 'y']); plt.title('Share')");
  EXPECT_EQ(pie["type"], "pie");
  EXPECT_EQ(pie["title"], "Share");
  EXPECT_FALSE(pie.contains("x_label"));
  ASSERT_EQ(pie["elements"].size(), 2u);
  EXPECT_EQ(pie["elements"][1]["label"], "y");
  EXPECT_NEAR(pie["elements"][0]["angle"].get<double>(), 90, 1e-3);
  EXPECT_NEAR(pie["elements"][1]["angle"].get<double>(), 270, 1e-3);
  EXPECT_EQ(pie["elements"][0]["radius"], 1.0);
}

TEST_F(ChartTest, BoxPlotsBothWays) {
  for (const char* options : {"", ", vert=False, patch_artist=True"}) {
    Json box =
        Chart(std::string("plt.boxplot([[1, 2, 3, 4, 5, 20], [2, 3, 4]], labels=['p', 'q']") + options + ")");
    EXPECT_EQ(box["type"], "box_and_whisker") << options;
    EXPECT_EQ(box["elements"], Json::parse(R"([
        {"label":"p","min":1.0,"first_quartile":2.25,"median":3.5,"third_quartile":4.75,"max":5.0,
         "outliers":[20.0]},
        {"label":"q","min":2.0,"first_quartile":2.5,"median":3.0,"third_quartile":3.5,"max":4.0,
         "outliers":[]}])"))
        << options;
  }
}

TEST_F(ChartTest, SuperchartDatesAndUnknown) {
  Json super = Chart(
      "fig, (a, b) = plt.subplots(1, 2); a.plot([0, 1]); a.set_title('left'); b.bar(['k'], [2])\n"
      "fig.suptitle('Both')");
  EXPECT_EQ(super["type"], "superchart");
  EXPECT_EQ(super["title"], "Both");
  ASSERT_EQ(super["elements"].size(), 2u);
  EXPECT_EQ(super["elements"][0]["type"], "line");
  EXPECT_EQ(super["elements"][0]["title"], "left");
  EXPECT_EQ(super["elements"][1]["type"], "bar");
  Json dates = Chart("import datetime\nplt.plot([datetime.datetime(2024, 5, d) for d in (1, 2)], [1, 2])");
  EXPECT_EQ(dates["x_scale"], "datetime");
  EXPECT_EQ(dates["elements"][0]["points"][0][0], "2024-05-01T00:00:00+00:00");
  EXPECT_TRUE(dates["x_ticks"][0].is_string());
  Json image = Chart("plt.imshow([[1, 2], [3, 4]]); plt.title('img')");
  EXPECT_EQ(image, Json::parse(R"({"type":"unknown","title":"img","elements":[]})"));
  Json nan = Chart("plt.plot([1, float('nan')])");
  EXPECT_TRUE(nan["elements"][0]["points"][1][1].is_null());
  Execution two = Run("import matplotlib.pyplot as plt\nx = 3\nplt.plot([1, 2]); plt.show(); x");
  ASSERT_EQ(two.results.size(), 2u);
  EXPECT_FALSE(two.results[0].Get("chart").empty());
  EXPECT_EQ(two.Text(), "3");
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
  EXPECT_EQ(huge.Stdout().size(), 10u << 20);  // what fits, then the notice
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

TEST_F(CodeInterpreterTest, JavascriptModulesAwaitAndErrors) {
  auto ctx = Client().CreateContext("javascript");
  ASSERT_TRUE(ctx.ok());
  ExecuteOptions js;
  js.context_id = ctx->id;
  Execution imported = Run("import fs from 'node:fs'\nimport { readFileSync as rfs } from 'fs'", js);
  EXPECT_FALSE(imported.error) << imported.error->value;
  EXPECT_TRUE(imported.results.empty());
  EXPECT_EQ(Run("typeof fs.existsSync + ' ' + typeof rfs", js).Text(), "function function");
  EXPECT_EQ(Run("import * as path from 'path'; path.join('a', 'b')", js).Text(), "a/b");
  EXPECT_EQ(Run("const m = await import('node:path'); m.basename('/x/y.txt')", js).Text(), "y.txt");
  EXPECT_EQ(Run("m.extname('/x/y.txt')", js).Text(), ".txt");
  // Not imports: strings, comments, template literals, properties.
  EXPECT_EQ(Run("const t = `${'import x from \"y\"'}`; /* import z from 'q' */ ({import: 1}).import + t", js)
                .Text(),
            "1import x from \"y\"");
  Run("let a = 1; const b = 2; var c = 3; function f() { return 4 } class K { v() { return 5 } }", js);
  EXPECT_EQ(Run("a + b + c + f() + new K().v()", js).Text(), "15");
  Run("const d = await Promise.resolve(10); class Q { w() { return d } }", js);
  EXPECT_EQ(Run("new Q().w() + d", js).Text(), "20");
  Run("const d = await Promise.resolve(11)", js);  // an awaiting cell can be run again
  EXPECT_EQ(Run("d", js).Text(), "11");
  EXPECT_EQ(Run("({ a: 1 })", js).Text(), "{ a: 1 }");
  EXPECT_EQ(Run("fs.readFileSync('/etc/hostname') instanceof Uint8Array", js).Text(), "true");
  Execution err = Run("function boom() { throw new TypeError('bad') }\nboom()", js);
  ASSERT_TRUE(err.error);
  EXPECT_EQ(err.error->name, "TypeError");
  EXPECT_EQ(err.error->value, "bad");
  EXPECT_NE(err.error->traceback.find("at boom"), std::string::npos) << err.error->traceback;
  EXPECT_EQ(err.error->traceback.find("[eval]"), std::string::npos) << err.error->traceback;
  Execution rejected = Run("await Promise.reject(new RangeError('no'))", js);
  ASSERT_TRUE(rejected.error);
  EXPECT_EQ(rejected.error->name, "RangeError");
  ExecuteOptions t = js;
  t.timeout_ms = 500;
  Execution spin = Run("while (true) {}", t);
  ASSERT_TRUE(spin.error);
  EXPECT_EQ(spin.error->name, "TimeoutError");
  Execution wait = Run("await new Promise(r => setTimeout(r, 60000))", t);
  ASSERT_TRUE(wait.error);
  EXPECT_EQ(wait.error->name, "TimeoutError");
  EXPECT_EQ(Run("a + d", js).Text(), "12");  // the context survived both
}

TEST_F(CodeInterpreterTest, BashInterruptStopsTheWholeCell) {
  auto ctx = Client().CreateContext("bash");
  ASSERT_TRUE(ctx.ok());
  ExecuteOptions bash;
  bash.context_id = ctx->id;
  Run("KEEP=kept; cd /tmp; f() { sleep 30; echo in-f; }", bash);
  ExecuteOptions t = bash;
  t.timeout_ms = 500;
  for (const char* cell :
       {"for i in $(seq 100); do sleep 1; done; echo after", "sleep 100; echo after",
        "while :; do :; done; echo after", "f; echo after", "cd /; X=$(sleep 30); echo after"}) {
    auto began = std::chrono::steady_clock::now();
    Execution e = Run(cell, t);
    EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(3)) << cell;
    ASSERT_TRUE(e.error) << cell;
    EXPECT_EQ(e.error->name, "TimeoutError") << cell;
    EXPECT_EQ(e.Stdout().find("after"), std::string::npos) << cell;
    EXPECT_EQ(e.Stdout().find("in-f"), std::string::npos) << cell;
  }
  EXPECT_EQ(Run("echo $KEEP; pwd", bash).Stdout(), "kept\n/\n");  // state survived the interrupts
  ExecuteOptions abort = bash;
  abort.request_timeout_ms = 300;  // the client goes away: the whole cell stops too
  EXPECT_EQ(Client().Execute("sleep 1; touch /tmp/not-stopped", abort).status().code(),
            Code::kDeadlineExceeded);
  Execution after = Run("sleep 1.2; ls /tmp/not-stopped 2>&1 | grep -c 'No such'", bash);
  EXPECT_EQ(after.Stdout(), "1\n");
}

}  // namespace
}  // namespace kiln::envd
