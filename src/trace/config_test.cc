#include <gtest/gtest.h>

#include <map>

#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string AttrString(const Resource& r, const std::string& key) {
  for (const auto& a : r.attributes) {
    if (a.key == key) return std::get<std::string>(a.value);
  }
  return "<absent>";
}

TEST(ConfigTest, NothingSetMeansDisabled) {
  auto c = ConfigFromEnvironment(FakeEnv({}));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->any());
  EXPECT_FALSE(c->capture_content);
  EXPECT_EQ(AttrString(c->resource, "service.name"), "kiln");
  auto p = MakeProvider(*c);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE((*p)->enabled());
}

TEST(ConfigTest, EndpointGetsSignalPathAndEnablesOtlp) {
  auto c = ConfigFromEnvironment(
      FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.smith.langchain.com/otel/"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->otlp);
  EXPECT_EQ(c->otlp_options.endpoint, "https://api.smith.langchain.com/otel/v1/traces");
}

TEST(ConfigTest, TracesEndpointIsUsedAsIs) {
  auto c = ConfigFromEnvironment(FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"},
                                          {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->otlp_options.endpoint, "http://b:9999/custom");
}

TEST(ConfigTest, HeadersArePercentDecodedAndSignalSpecificOverrides) {
  auto c = ConfigFromEnvironment(FakeEnv({
      {"OTEL_EXPORTER_OTLP_HEADERS", " x-api-key = ls%3Dsecret%2C1 ,Langsmith-Project=my%20proj,,"},
      {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "langsmith-project=override"},
  }));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  using H = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(c->otlp_options.headers, (H{{"x-api-key", "ls=secret,1"}, {"langsmith-project", "override"}}));
}

TEST(ConfigTest, MalformedValuesNameTheVariable) {
  for (auto [var, value] : std::vector<std::pair<std::string, std::string>>{
           {"OTEL_EXPORTER_OTLP_HEADERS", "novalue"},
           {"OTEL_EXPORTER_OTLP_HEADERS", "=v"},
           {"OTEL_RESOURCE_ATTRIBUTES", "a=%zz"},
           {"OTEL_TRACES_EXPORTER", "otlp,zipkin"},
           {"OTEL_BSP_MAX_QUEUE_SIZE", "lots"},
           {"OTEL_EXPORTER_OTLP_TIMEOUT", "-5"},
       }) {
    auto c = ConfigFromEnvironment(FakeEnv({{var, value}}));
    ASSERT_FALSE(c.ok()) << var << "=" << value;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    EXPECT_NE(c.status().message().find(var), std::string::npos) << c.status().message();
  }
}

TEST(ConfigTest, ExporterListAndJsonlPath) {
  auto c = ConfigFromEnvironment(
      FakeEnv({{"OTEL_TRACES_EXPORTER", "console, OTLP"}, {"KILN_TRACE_FILE", "/tmp/x.jsonl"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->console);
  EXPECT_TRUE(c->otlp);
  EXPECT_EQ(c->jsonl_path, "/tmp/x.jsonl");
  EXPECT_EQ(c->otlp_options.endpoint, "http://localhost:4318/v1/traces");

  auto none = ConfigFromEnvironment(
      FakeEnv({{"OTEL_TRACES_EXPORTER", "none"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"}}));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->any());

  auto jsonl_without_path = ConfigFromEnvironment(FakeEnv({{"OTEL_TRACES_EXPORTER", "jsonl"}}));
  EXPECT_FALSE(jsonl_without_path.ok());

  auto disabled = ConfigFromEnvironment(FakeEnv({{"OTEL_SDK_DISABLED", "TRUE"},
                                                 {"OTEL_TRACES_EXPORTER", "console"},
                                                 {"KILN_TRACE_FILE", "/tmp/x.jsonl"}}));
  ASSERT_TRUE(disabled.ok());
  EXPECT_FALSE(disabled->any());
}

TEST(ConfigTest, ServiceNameAndResourceAttributes) {
  auto c =
      ConfigFromEnvironment(FakeEnv({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=fromattrs,team=a%2Cb"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(AttrString(c->resource, "service.name"), "fromattrs");
  EXPECT_EQ(AttrString(c->resource, "team"), "a,b");
  auto d = ConfigFromEnvironment(
      FakeEnv({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=fromattrs"}, {"OTEL_SERVICE_NAME", "agent"}}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(AttrString(d->resource, "service.name"), "agent");
  EXPECT_EQ(d->resource.attributes.size(), 1u);
}

TEST(ConfigTest, BatchTuningAndContentCapture) {
  auto c = ConfigFromEnvironment(FakeEnv({{"OTEL_BSP_MAX_QUEUE_SIZE", "100"},
                                          {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"},
                                          {"OTEL_BSP_SCHEDULE_DELAY", "250"},
                                          {"OTEL_EXPORTER_OTLP_TIMEOUT", "3000"},
                                          {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->otlp_options.max_queue_size, 100u);
  EXPECT_EQ(c->otlp_options.max_batch_size, 100u);  // clamped to the queue
  EXPECT_EQ(c->otlp_options.schedule_delay.count(), 250);
  EXPECT_EQ(c->otlp_options.request_timeout.count(), 3000);
  EXPECT_TRUE(c->capture_content);
  auto off = ConfigFromEnvironment(FakeEnv({{"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "1"}}));
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->capture_content);  // only "true" enables, as in the OpenTelemetry spec
}

TEST(ConfigTest, InstallFromEnvironmentWithForcedConsole) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  ASSERT_TRUE(InstallFromEnvironment(FakeEnv({}), /*force_console=*/true, out).ok());
  EXPECT_TRUE(GlobalProvider()->enabled());
  { ScopedSpan s("hello"); }
  ASSERT_TRUE(ShutdownGlobal(std::chrono::milliseconds(100)).ok());
  EXPECT_FALSE(GlobalProvider()->enabled());
  std::fclose(out);
  std::string text(buf, len);
  free(buf);
  EXPECT_NE(text.find("hello"), std::string::npos) << text;

  EXPECT_FALSE(InstallFromEnvironment(FakeEnv({{"OTEL_TRACES_EXPORTER", "bogus"}})).ok());
  EXPECT_FALSE(GlobalProvider()->enabled());
}

}  // namespace
}  // namespace kiln::trace
