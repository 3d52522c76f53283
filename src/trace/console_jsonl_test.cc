#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "kiln/trace/genai.h"
#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

// Captures what a FILE* receives.
class MemFile {
 public:
  MemFile() : f_(open_memstream(&buf_, &len_)) {}
  ~MemFile() {
    if (f_) std::fclose(f_);
    free(buf_);
  }
  FILE* get() { return f_; }
  std::string text() {
    std::fflush(f_);
    return std::string(buf_, len_);
  }

 private:
  char* buf_ = nullptr;
  size_t len_ = 0;
  FILE* f_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

TEST(ConsoleExporterTest, PrintsIndentedTreeWithDurationsAndKeyAttributes) {
  MemFile out;
  std::shared_ptr<Exporter> console = MakeConsoleExporter(out.get());
  auto provider = Provider::Create({.exporters = {console}});
  Tracer tracer = provider->GetTracer();
  const int64_t t0 = 1'700'000'000'000'000'000;
  {
    Span agent = genai::StartInvokeAgent({.agent_name = "coder"}, {.start_unix_nano = t0}, tracer);
    Span chat = genai::StartChat({.provider = "openai", .model = "gpt-4o"},
                                 {.parent = agent.context(), .start_unix_nano = t0 + 1'000'000}, tracer);
    chat.SetAttribute("gen_ai.usage.input_tokens", 120).SetAttribute("gen_ai.usage.output_tokens", 30);
    chat.End(t0 + 1'000'000 + 812'300'000);
    Span tool =
        genai::StartExecuteTool({.tool_name = "run_python", .sandbox_id = "sbx1"},
                                {.parent = agent.context(), .start_unix_nano = t0 + 900'000'000}, tracer);
    genai::EndExecuteTool(tool, {.exit_code = 1, .timed_out = true});
    agent.End(t0 + 2'500'000'000);
  }
  EXPECT_EQ(out.text(), "");  // nothing printed before the flush
  ASSERT_TRUE(provider->ForceFlush(std::chrono::milliseconds(100)).ok());
  std::vector<std::string> lines = Lines(out.text());
  ASSERT_EQ(lines.size(), 4u) << out.text();
  EXPECT_EQ(lines[0].rfind("trace ", 0), 0u);
  EXPECT_EQ(lines[0].size(), 6u + 32u);
  EXPECT_EQ(lines[1], "  invoke_agent coder  2.500s");
  EXPECT_EQ(lines[2],
            "    chat gpt-4o  812.3ms  gen_ai.usage.input_tokens=120  gen_ai.usage.output_tokens=30");
  EXPECT_EQ(lines[3].rfind("    execute_tool run_python  ", 0), 0u) << lines[3];
  EXPECT_NE(lines[3].find("ERROR: execution timed out"), std::string::npos) << lines[3];
  EXPECT_NE(lines[3].find("kiln.sandbox.id=sbx1  kiln.execution.exit_code=1  kiln.execution.timed_out=true"),
            std::string::npos)
      << lines[3];
  EXPECT_EQ(console->stats().spans_exported, 3u);
}

TEST(ConsoleExporterTest, OrphansBecomeRootsAndBufferIsBounded) {
  MemFile out;
  std::shared_ptr<Exporter> console = MakeConsoleExporter(out.get(), /*max_spans=*/2);
  auto provider = Provider::Create({.exporters = {console}});
  Tracer tracer = provider->GetTracer();
  for (const char* name : {"a", "b", "c"}) tracer.StartSpan(name, {.root = true});
  ASSERT_TRUE(provider->Shutdown(std::chrono::milliseconds(100)).ok());
  std::string text = out.text();
  EXPECT_EQ(text.find("  a  "), std::string::npos) << text;  // oldest dropped
  EXPECT_NE(text.find("  b  "), std::string::npos) << text;
  EXPECT_NE(text.find("  c  "), std::string::npos) << text;
  EXPECT_EQ(provider->stats().spans_dropped, 1u);
}

TEST(JsonlExporterTest, OneExportRequestPerLine) {
  std::string path = ::testing::TempDir() + "/kiln_trace_" + std::to_string(getpid()) + ".jsonl";
  std::remove(path.c_str());
  auto jsonl = MakeJsonlExporter(path);
  ASSERT_TRUE(jsonl.ok()) << jsonl.status().ToString();
  auto provider = Provider::Create({.resource = {{{"service.name", std::string("jsonl-test")}}},
                                    .exporters = {std::shared_ptr<Exporter>(std::move(*jsonl))}});
  Tracer tracer = provider->GetTracer();
  {
    Span parent = tracer.StartSpan("parent");
    tracer.StartSpan("child", {.parent = parent.context()}).SetAttribute("n", 3);
  }
  ASSERT_TRUE(provider->Shutdown(std::chrono::milliseconds(100)).ok());

  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  const auto& rs = lines[0]["resourceSpans"][0];
  EXPECT_EQ(rs["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(rs["resource"]["attributes"][0]["value"]["stringValue"], "jsonl-test");
  EXPECT_EQ(rs["scopeSpans"][0]["scope"]["name"], "kiln");
  const auto& child = rs["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(child["name"], "child");
  EXPECT_EQ(child["attributes"][0]["value"]["intValue"], "3");
  const auto& parent = lines[1]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(parent["name"], "parent");
  EXPECT_EQ(child["parentSpanId"], parent["spanId"]);
  EXPECT_EQ(provider->stats().spans_exported, 2u);
  std::remove(path.c_str());
}

TEST(JsonlExporterTest, UnopenablePathIsAClearError) {
  auto e = MakeJsonlExporter("/nonexistent-dir/x/trace.jsonl");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kNotFound);
  EXPECT_NE(e.status().message().find("/nonexistent-dir/x/trace.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace kiln::trace
