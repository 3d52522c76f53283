// End to end: what a real agent run (the scripted demo model in real sandboxes) sends to a local OTLP
// receiver (cpp-httplib on 127.0.0.1, ephemeral port), and a collector that is down.
// ctest label "sandbox" (needs root and kiln-envd next to the test binary).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "kiln/agent/commands.h"
#include "kiln/agent/tracing.h"
#include "kiln/base/clock.h"
#include "testing/host_python_executor.h"

namespace kiln::agent {
namespace {

using std::chrono::milliseconds;

constexpr char kTask[] = "Print the first 10 prime numbers";

// An OTLP collector that accepts everything and keeps the requests.
class Receiver {
 public:
  struct Request {
    std::string path, body;
    std::multimap<std::string, std::string, httplib::detail::ci> headers;
  };

  Receiver() {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      requests_.push_back(Request{req.path, req.body, {req.headers.begin(), req.headers.end()}});
      res.set_content("{}", "application/json");
    });
    server_.set_tcp_nodelay(true);  // else Nagle + delayed ACK add 40 ms per request
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
};

// A port on which connections are refused: bound, never listening, held for the test.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces"; }

 private:
  int fd_;
  int port_ = 0;
};

llm::EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

// A received span, flattened: OTLP/JSON attributes as JSON values ({"stringValue": ...} etc.).
struct ReceivedSpan {
  std::string name, trace_id, span_id, parent_id, service;
  std::map<std::string, nlohmann::json> attributes;
};

std::vector<ReceivedSpan> Flatten(const std::vector<Receiver::Request>& requests) {
  std::vector<ReceivedSpan> out;
  for (const auto& r : requests) {
    nlohmann::json body = nlohmann::json::parse(r.body);
    for (const auto& rs : body["resourceSpans"]) {
      std::string service;
      for (const auto& a : rs["resource"]["attributes"])
        if (a["key"] == "service.name") service = a["value"]["stringValue"];
      for (const auto& ss : rs["scopeSpans"]) {
        for (const auto& s : ss["spans"]) {
          ReceivedSpan span{s["name"], s["traceId"], s["spanId"], s.value("parentSpanId", ""), service, {}};
          for (const auto& a : s["attributes"]) span.attributes[a["key"]] = a["value"];
          out.push_back(std::move(span));
        }
      }
    }
  }
  return out;
}

std::string DemoModel() {
  return "script:" + testing::RepoPath("examples/agent/demo.script");
}

TEST(AgentTracingE2E, RealRunReachesTheOtlpReceiver) {
  Receiver rx;
  AgentCommandOptions o;
  o.task = kTask;
  o.model = DemoModel();
  o.env = MapEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", rx.base_url()},
                  {"OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret-123,Langsmith-Project=kiln%2Ce2e"},
                  {"OTEL_SERVICE_NAME", "kiln-e2e"}});
  std::ostringstream out, err;
  o.out = &out;
  o.err = &err;
  ASSERT_EQ(RunAgentCommand(o), 0) << err.str();  // real sandboxes; spans flushed before it returns

  std::vector<Receiver::Request> requests = rx.requests();
  ASSERT_FALSE(requests.empty());
  for (const auto& r : requests) {
    EXPECT_EQ(r.path, "/v1/traces");
    auto key = r.headers.find("x-api-key");
    ASSERT_NE(key, r.headers.end());
    EXPECT_EQ(key->second, "secret-123");
    auto project = r.headers.find("Langsmith-Project");
    ASSERT_NE(project, r.headers.end());
    EXPECT_EQ(project->second, "kiln,e2e");
  }
  std::vector<ReceivedSpan> spans = Flatten(requests);
  ASSERT_EQ(spans.size(), 7u);
  const ReceivedSpan* root = nullptr;
  for (const auto& s : spans)
    if (s.name == "invoke_agent kiln-coder") root = &s;
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->parent_id, "");
  EXPECT_EQ(root->attributes.at("kiln.agent.success")["boolValue"], true);
  int chats = 0, tools = 0;
  std::vector<int64_t> exit_codes;
  for (const auto& s : spans) {
    EXPECT_EQ(s.trace_id, root->trace_id) << s.name;
    EXPECT_EQ(s.service, "kiln-e2e");
    if (&s == root) continue;
    EXPECT_EQ(s.parent_id, root->span_id) << s.name;
    if (s.name.rfind("chat script:", 0) == 0) {
      ++chats;
      EXPECT_EQ(s.attributes.at("gen_ai.provider.name")["stringValue"], "script");
    } else if (s.name == "execute_tool run_code") {
      ++tools;
      EXPECT_FALSE(s.attributes.at("kiln.sandbox.id")["stringValue"].get<std::string>().empty());
      exit_codes.push_back(
          std::stoll(s.attributes.at("kiln.execution.exit_code")["intValue"].get<std::string>()));
    } else {
      ADD_FAILURE() << "unexpected span " << s.name;
    }
  }
  EXPECT_EQ(chats, 3);
  EXPECT_EQ(tools, 3);
  std::sort(exit_codes.begin(), exit_codes.end());
  EXPECT_EQ(exit_codes, (std::vector<int64_t>{0, 1, 1}));
}

TEST(AgentTracingE2E, CollectorDownTheRunStillSucceedsAndDropsAreCounted) {
  RefusingPort down;
  auto env = [url = down.url()](std::string_view name) -> std::optional<std::string> {
    if (name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") return url;
    if (name == "OTEL_BSP_SCHEDULE_DELAY") return "100";
    return std::nullopt;
  };
  ASSERT_TRUE(trace::InstallFromEnvironment(env).ok());
  std::shared_ptr<trace::Provider> provider = trace::GlobalProvider();
  ASSERT_TRUE(provider->enabled());
  auto model = llm::MakeProvider(DemoModel());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto executor = MakeSandboxExecutor();

  const int64_t start = MonotonicMillis();
  TracingObserver observer(trace::GlobalTracer(), TracingInfoFor(**model));
  auto r = RunAgent(**model, *executor, Task{kTask}, {}, &observer);
  const int64_t run_ms = MonotonicMillis() - start;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->success);
  EXPECT_EQ(r->attempts, 3);
  EXPECT_LT(run_ms, 15'000);  // three sandboxes; export never waits on the dead collector

  const int64_t shutdown_start = MonotonicMillis();
  EXPECT_FALSE(trace::ShutdownGlobal(milliseconds(1000)).ok());  // spans were not delivered
  EXPECT_LT(MonotonicMillis() - shutdown_start, 2'500);          // bounded by the timeout
  trace::ExporterStats stats = provider->stats();
  EXPECT_EQ(stats.spans_exported, 0u);
  EXPECT_EQ(stats.spans_dropped, 7u);  // invoke_agent + 3 chat + 3 execute_tool, all lost
  EXPECT_GE(stats.export_failures, 1u);
}

}  // namespace
}  // namespace kiln::agent
