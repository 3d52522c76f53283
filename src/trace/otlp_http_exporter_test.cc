// The OTLP/HTTP exporter against a real local receiver (cpp-httplib on 127.0.0.1, ephemeral port).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "kiln/base/clock.h"
#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

using std::chrono::milliseconds;

// A scripted OTLP collector: answers requests with the scripted statuses in order, then 200.
class Receiver {
 public:
  struct Reply {
    int status = 200;
    std::string retry_after;
  };
  struct Request {
    std::string path, content_type, body;
    std::multimap<std::string, std::string, httplib::detail::ci> headers;
    int64_t mono = 0;
    int status = 0;
  };

  explicit Receiver(std::vector<Reply> script = {}) : script_(std::move(script)) {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
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
  // Spans in requests answered 2xx.
  size_t accepted_spans() {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& r : requests_) {
      if (r.status != 200) continue;
      nlohmann::json body = nlohmann::json::parse(r.body);  // named: the loop must not outlive it
      for (const auto& rs : body["resourceSpans"]) {
        for (const auto& ss : rs["scopeSpans"]) n += ss["spans"].size();
      }
    }
    return n;
  }
  bool WaitForSpans(size_t n, milliseconds timeout) {
    int64_t until = MonotonicNanos() + timeout.count() * 1'000'000;
    while (accepted_spans() < n) {
      if (MonotonicNanos() > until) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return true;
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    Reply reply = next_ < script_.size() ? script_[next_++] : Reply{};
    requests_.push_back(Request{req.path,
                                req.get_header_value("Content-Type"),
                                req.body,
                                {req.headers.begin(), req.headers.end()},
                                MonotonicNanos(),
                                reply.status});
    res.status = reply.status;
    if (!reply.retry_after.empty()) res.set_header("Retry-After", reply.retry_after);
    res.set_content(reply.status == 200 ? "{}" : "{\"message\":\"unavailable\"}", "application/json");
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Reply> script_;
  size_t next_ = 0;
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

OtlpHttpOptions FastOptions(std::string endpoint) {
  OtlpHttpOptions o;
  o.endpoint = std::move(endpoint);
  o.initial_backoff = milliseconds(10);
  o.max_backoff = milliseconds(40);
  o.request_timeout = milliseconds(2000);
  return o;
}

std::shared_ptr<Provider> ProviderWith(OtlpHttpOptions o) {
  auto e = MakeOtlpHttpExporter(std::move(o));
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return Provider::Create({.exporters = {std::shared_ptr<Exporter>(std::move(*e))}});
}

// Ends `n` spans and returns how long that took (the traced work's overhead), in ms.
int64_t EndSpans(Provider& p, int n) {
  Tracer t = p.GetTracer();
  int64_t start = MonotonicNanos();
  for (int i = 0; i < n; ++i) t.StartSpan("work").SetAttribute("i", i);
  return (MonotonicNanos() - start) / 1'000'000;
}

TEST(OtlpHttpTest, DeliversToV1TracesWithJsonAndHeadersFromEnvironment) {
  Receiver rx;
  std::map<std::string, std::string> vars = {
      {"OTEL_EXPORTER_OTLP_ENDPOINT", rx.base_url()},
      {"OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=ls__s%3Dcret,Langsmith-Project=kiln%20test"},
      {"OTEL_SERVICE_NAME", "kiln-test"}};
  auto config = ConfigFromEnvironment([&](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  });
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto provider = MakeProvider(*config);
  ASSERT_TRUE(provider.ok());
  EndSpans(**provider, 10);
  ASSERT_TRUE((*provider)->ForceFlush(milliseconds(5000)).ok());

  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/traces");
  EXPECT_EQ(reqs[0].content_type, "application/json");
  EXPECT_EQ(reqs[0].headers.find("x-api-key")->second, "ls__s=cret");
  EXPECT_EQ(reqs[0].headers.find("langsmith-project")->second, "kiln test");
  auto body = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "kiln-test");
  EXPECT_EQ(body["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 10u);
  EXPECT_EQ((*provider)->stats().spans_exported, 10u);
  EXPECT_EQ((*provider)->stats().spans_dropped, 0u);
}

TEST(OtlpHttpTest, BatchesInTheBackgroundWithoutFlush) {
  Receiver rx;
  OtlpHttpOptions o = FastOptions(rx.base_url() + "/v1/traces");
  o.max_batch_size = 4;
  o.schedule_delay = milliseconds(50);
  auto provider = ProviderWith(o);
  EndSpans(*provider, 10);
  ASSERT_TRUE(rx.WaitForSpans(10, milliseconds(5000)));
  auto reqs = rx.requests();
  EXPECT_GE(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_LE(nlohmann::json::parse(r.body)["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 4u);
  }
  EXPECT_TRUE(provider->Shutdown(milliseconds(1000)).ok());
}

TEST(OtlpHttpTest, CollectorDownNeverSlowsTheWorkAndCountsDrops) {
  RefusingPort down;
  OtlpHttpOptions o = FastOptions(down.url());
  o.max_queue_size = 100;
  auto provider = ProviderWith(o);
  int64_t work_ms = EndSpans(*provider, 250);
  EXPECT_LT(work_ms, 200);  // in-memory only; typically well under 5 ms
  int64_t start = MonotonicNanos();
  Status s = provider->Shutdown(milliseconds(300));
  int64_t shutdown_ms = (MonotonicNanos() - start) / 1'000'000;
  EXPECT_FALSE(s.ok());
  EXPECT_LT(shutdown_ms, 1500);
  ExporterStats st = provider->stats();
  EXPECT_EQ(st.spans_exported, 0u);
  EXPECT_EQ(st.spans_dropped, 250u);  // 150 overflowed the queue, 100 failed to send
  EXPECT_GE(st.export_failures, 1u);
}

TEST(OtlpHttpTest, PersistentServiceUnavailableDropsAfterBoundedRetries) {
  Receiver rx({{503}, {503}, {503}, {503}, {503}});
  OtlpHttpOptions o = FastOptions(rx.base_url() + "/v1/traces");
  o.max_attempts = 3;
  auto provider = ProviderWith(o);
  int64_t work_ms = EndSpans(*provider, 5);
  EXPECT_LT(work_ms, 100);
  Status s = provider->ForceFlush(milliseconds(5000));
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_EQ(rx.requests().size(), 3u);
  ExporterStats st = provider->stats();
  EXPECT_EQ(st.spans_dropped, 5u);
  EXPECT_EQ(st.export_failures, 1u);
  EXPECT_EQ(st.spans_exported, 0u);
}

TEST(OtlpHttpTest, RetriesTransientErrorsThenDelivers) {
  Receiver rx({{503}, {429}, {502}});
  auto provider = ProviderWith(FastOptions(rx.base_url() + "/v1/traces"));
  EndSpans(*provider, 5);
  ASSERT_TRUE(provider->ForceFlush(milliseconds(5000)).ok());
  EXPECT_EQ(rx.requests().size(), 4u);
  EXPECT_EQ(rx.accepted_spans(), 5u);
  ExporterStats st = provider->stats();
  EXPECT_EQ(st.spans_exported, 5u);
  EXPECT_EQ(st.spans_dropped, 0u);
  EXPECT_EQ(st.export_failures, 0u);
}

TEST(OtlpHttpTest, HonoursRetryAfter) {
  Receiver rx({Receiver::Reply{503, "1"}});
  auto provider = ProviderWith(FastOptions(rx.base_url() + "/v1/traces"));  // backoff alone would be ~10 ms
  EndSpans(*provider, 2);
  ASSERT_TRUE(provider->ForceFlush(milliseconds(5000)).ok());
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 2u);
  int64_t gap_ms = (reqs[1].mono - reqs[0].mono) / 1'000'000;
  EXPECT_GE(gap_ms, 900);
  EXPECT_LT(gap_ms, 3000);
}

TEST(OtlpHttpTest, BadRequestIsNotRetried) {
  Receiver rx({Receiver::Reply{400}});
  auto provider = ProviderWith(FastOptions(rx.base_url() + "/v1/traces"));
  EndSpans(*provider, 3);
  EXPECT_FALSE(provider->ForceFlush(milliseconds(5000)).ok());
  EXPECT_EQ(rx.requests().size(), 1u);
  EXPECT_EQ(provider->stats().spans_dropped, 3u);
}

TEST(OtlpHttpTest, ShutdownIsBoundedEvenDuringALongRetryAfter) {
  Receiver rx({Receiver::Reply{429, "30"}});
  auto provider = ProviderWith(FastOptions(rx.base_url() + "/v1/traces"));
  EndSpans(*provider, 7);
  (void)provider->ForceFlush(milliseconds(200));  // starts the export; the retry would wait 30 s
  int64_t start = MonotonicNanos();
  EXPECT_FALSE(provider->Shutdown(milliseconds(300)).ok());
  EXPECT_LT((MonotonicNanos() - start) / 1'000'000, 1500);
  EXPECT_EQ(rx.requests().size(), 1u);
  EXPECT_EQ(provider->stats().spans_dropped, 7u);
}

TEST(OtlpHttpTest, RejectsUnusableOptions) {
  OtlpHttpOptions o;
  o.endpoint = "";
  EXPECT_FALSE(MakeOtlpHttpExporter(o).ok());
  o.endpoint = "http://127.0.0.1:1/v1/traces";
  o.max_batch_size = 0;
  EXPECT_FALSE(MakeOtlpHttpExporter(o).ok());
}

}  // namespace
}  // namespace kiln::trace
