#include "kiln/trace/otlp_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

using nlohmann::json;

// The value of the attribute `key` in an OTLP attribute list, or null.
json AttrValue(const json& attrs, const std::string& key) {
  for (const auto& a : attrs) {
    if (a.at("key") == key) return a.at("value");
  }
  return nullptr;
}

TEST(OtlpJsonTest, AnyValueEncodings) {
  EXPECT_EQ(AnyValueJson(std::string("hi")), json::parse(R"({"stringValue":"hi"})"));
  EXPECT_EQ(AnyValueJson(true), json::parse(R"({"boolValue":true})"));
  EXPECT_EQ(AnyValueJson(int64_t{9007199254740993}), json::parse(R"({"intValue":"9007199254740993"})"));
  EXPECT_EQ(AnyValueJson(-3.25), json::parse(R"({"doubleValue":-3.25})"));
  EXPECT_EQ(AnyValueJson(std::vector<std::string>{"stop", "length"}),
            json::parse(R"({"arrayValue":{"values":[{"stringValue":"stop"},{"stringValue":"length"}]}})"));
  EXPECT_EQ(AnyValueJson(std::nan("")), json::parse(R"({"doubleValue":"NaN"})"));
  EXPECT_EQ(AnyValueJson(-std::numeric_limits<double>::infinity()),
            json::parse(R"({"doubleValue":"-Infinity"})"));
}

TEST(OtlpJsonTest, ExportRequestFieldByField) {
  auto memory = std::make_shared<InMemoryExporter>();
  auto provider = Provider::Create(
      {.resource = {{{"service.name", std::string("svc")}, {"deployment.environment", std::string("test")}}},
       .exporters = {memory}});
  Tracer tracer = provider->GetTracer("kiln.agent", "9.9.9");
  Span parent = tracer.StartSpan("parent", {.start_unix_nano = 1'700'000'000'123'456'789});
  Span child = tracer.StartSpan("child", {.kind = SpanKind::kClient, .parent = parent.context()});
  child.SetAttribute("s", "v").SetAttribute("b", false).SetAttribute("i", 12).SetAttribute("d", 0.5);
  child.SetAttribute("a", std::vector<std::string>{"x"});
  child.AddEvent("retry", {{"attempt", int64_t{2}}}, 1'700'000'000'500'000'000);
  child.SetStatus(StatusCode::kError, "boom");
  child.End(1'700'000'001'000'000'000);
  parent.End(1'700'000'002'000'000'000);

  json req = json::parse(DumpJson(ExportRequestJson(memory->spans())));
  ASSERT_EQ(req["resourceSpans"].size(), 1u);
  const json& rs = req["resourceSpans"][0];
  EXPECT_EQ(AttrValue(rs["resource"]["attributes"], "service.name"), json::parse(R"({"stringValue":"svc"})"));
  EXPECT_EQ(AttrValue(rs["resource"]["attributes"], "deployment.environment")["stringValue"], "test");
  EXPECT_EQ(AttrValue(rs["resource"]["attributes"], "telemetry.sdk.language")["stringValue"], "cpp");
  ASSERT_EQ(rs["scopeSpans"].size(), 1u);
  EXPECT_EQ(rs["scopeSpans"][0]["scope"], json::parse(R"({"name":"kiln.agent","version":"9.9.9"})"));
  const json& spans = rs["scopeSpans"][0]["spans"];
  ASSERT_EQ(spans.size(), 2u);

  const json& c = spans[0];
  EXPECT_EQ(c["name"], "child");
  EXPECT_EQ(c["traceId"], parent.context().trace_id.Hex());
  EXPECT_EQ(c["traceId"].get<std::string>().size(), 32u);
  EXPECT_EQ(c["spanId"].get<std::string>().size(), 16u);
  EXPECT_EQ(c["parentSpanId"], parent.context().span_id.Hex());
  EXPECT_EQ(c["kind"], 3);
  EXPECT_TRUE(c["startTimeUnixNano"].is_string());
  EXPECT_EQ(c["endTimeUnixNano"], "1700000001000000000");
  EXPECT_EQ(AttrValue(c["attributes"], "s"), json::parse(R"({"stringValue":"v"})"));
  EXPECT_EQ(AttrValue(c["attributes"], "b"), json::parse(R"({"boolValue":false})"));
  EXPECT_EQ(AttrValue(c["attributes"], "i"), json::parse(R"({"intValue":"12"})"));
  EXPECT_EQ(AttrValue(c["attributes"], "d"), json::parse(R"({"doubleValue":0.5})"));
  EXPECT_EQ(AttrValue(c["attributes"], "a"),
            json::parse(R"({"arrayValue":{"values":[{"stringValue":"x"}]}})"));
  ASSERT_EQ(c["events"].size(), 1u);
  EXPECT_EQ(c["events"][0]["name"], "retry");
  EXPECT_EQ(c["events"][0]["timeUnixNano"], "1700000000500000000");
  EXPECT_EQ(AttrValue(c["events"][0]["attributes"], "attempt")["intValue"], "2");
  EXPECT_EQ(c["status"], json::parse(R"({"code":2,"message":"boom"})"));

  const json& p = spans[1];
  EXPECT_FALSE(p.contains("parentSpanId"));
  EXPECT_EQ(p["kind"], 1);
  EXPECT_EQ(p["startTimeUnixNano"], "1700000000123456789");
  EXPECT_EQ(p["status"], json::parse(R"({"code":0})"));
  // No snake_case leaks into the encoding.
  std::string text = DumpJson(req);
  for (const char* bad : {"trace_id", "span_id", "start_time", "resource_spans", "scope_spans"}) {
    EXPECT_EQ(text.find(bad), std::string::npos) << bad;
  }
}

TEST(OtlpJsonTest, GroupsByScopeAndEscapesStrings) {
  auto memory = std::make_shared<InMemoryExporter>();
  auto provider = Provider::Create({.exporters = {memory}});
  const std::string tricky =
      std::string("q\"b\\n\nt\t\x01 \xff\xfe ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xed\xa0\x80");
  provider->GetTracer("a").StartSpan("one").SetAttribute("text", tricky);
  provider->GetTracer("b").StartSpan("two");
  provider->GetTracer("a").StartSpan("three");
  std::string encoded = EncodeExportRequest(memory->spans());
  json req = json::parse(encoded);  // throws (fails the test) on invalid JSON or UTF-8
  const json& scopes = req["resourceSpans"][0]["scopeSpans"];
  ASSERT_EQ(scopes.size(), 2u);
  EXPECT_EQ(scopes[0]["scope"]["name"], "a");
  ASSERT_EQ(scopes[0]["spans"].size(), 2u);
  EXPECT_EQ(scopes[0]["spans"][0]["name"], "one");
  EXPECT_EQ(scopes[0]["spans"][1]["name"], "three");
  EXPECT_EQ(scopes[1]["scope"]["name"], "b");
  EXPECT_EQ(scopes[1]["spans"].size(), 1u);
  // Valid multi-byte sequences survive; each invalid byte (incl. a UTF-16 surrogate) becomes U+FFFD.
  EXPECT_EQ(AttrValue(scopes[0]["spans"][0]["attributes"], "text")["stringValue"],
            "q\"b\\n\nt\t\x01 \xef\xbf\xbd\xef\xbf\xbd ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace kiln::trace
