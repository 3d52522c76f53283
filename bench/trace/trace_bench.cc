// Spans per second: disabled tracing (the cost instrumented code pays when tracing is off), span creation
// with a no-op exporter, the JSONL file exporter, and the OTLP/HTTP JSON exporter against a local receiver.
// Each span is shaped like a chat span: 8 attributes, one of them a string array.
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "kiln/trace/genai.h"
#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

class NullExporter : public Exporter {
 public:
  void Export(SpanPtr) override { ++n_; }
  Status ForceFlush(std::chrono::milliseconds) override { return Status::Ok(); }
  Status Shutdown(std::chrono::milliseconds) override { return Status::Ok(); }
  ExporterStats stats() const override { return {n_.load(), 0, 0}; }
  std::string_view name() const override { return "null"; }

 private:
  std::atomic<uint64_t> n_{0};
};

void ChatSpan(const Tracer& tracer) {
  Span s = genai::StartChat(
      {.provider = "openai", .model = "gpt-4o", .server_address = "api.openai.com", .server_port = 443}, {},
      tracer);
  genai::EndChat(s, {.response_model = "gpt-4o-2024-08-06",
                     .input_tokens = 812,
                     .output_tokens = 230,
                     .finish_reasons = {"stop"},
                     .cost_usd = 0.0043});
}

void Report(benchmark::State& state, const Provider& provider) {
  state.SetItemsProcessed(state.iterations());
  ExporterStats st = provider.stats();
  state.counters["exported"] = static_cast<double>(st.spans_exported);
  state.counters["dropped"] = static_cast<double>(st.spans_dropped);
}

void BM_Disabled(benchmark::State& state) {
  Tracer tracer = Provider::Disabled()->GetTracer();
  for (auto _ : state) ChatSpan(tracer);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Disabled);

void BM_DisabledScopedGlobal(benchmark::State& state) {
  SetGlobalProvider(nullptr);
  for (auto _ : state) {
    ScopedSpan s("step");
    s->SetAttribute("n", 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DisabledScopedGlobal);

void BM_NullExporter(benchmark::State& state) {
  auto provider = Provider::Create({.exporters = {std::make_shared<NullExporter>()}});
  Tracer tracer = provider->GetTracer();
  for (auto _ : state) ChatSpan(tracer);
  Report(state, *provider);
}
BENCHMARK(BM_NullExporter);

void BM_Jsonl(benchmark::State& state) {
  std::string path = "/tmp/kiln_trace_bench_" + std::to_string(getpid()) + ".jsonl";
  auto e = MakeJsonlExporter(path);
  if (!e.ok()) return state.SkipWithError(e.status().ToString().c_str());
  auto provider = Provider::Create({.exporters = {std::shared_ptr<Exporter>(std::move(*e))}});
  Tracer tracer = provider->GetTracer();
  for (auto _ : state) ChatSpan(tracer);
  (void)provider->Shutdown(std::chrono::milliseconds(5000));
  Report(state, *provider);
  std::remove(path.c_str());
}
BENCHMARK(BM_Jsonl)->UseRealTime();

// End-to-end OTLP throughput: spans are ended in the loop and delivered to a local receiver; the queue is
// flushed every 4096 spans so none are dropped and the figure includes serialization and HTTP.
void BM_OtlpLocalReceiver(benchmark::State& state) {
  httplib::Server server;
  std::atomic<uint64_t> bytes{0};
  server.Post("/v1/traces", [&](const httplib::Request& req, httplib::Response& res) {
    bytes += req.body.size();
    res.set_content("{}", "application/json");
  });
  server.set_tcp_nodelay(true);  // without it Nagle + delayed ACK on the receiver add ~40 ms per request
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  OtlpHttpOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  o.max_queue_size = 8192;
  auto e = MakeOtlpHttpExporter(o);
  auto provider = Provider::Create({.exporters = {std::shared_ptr<Exporter>(std::move(*e))}});
  Tracer tracer = provider->GetTracer();
  uint64_t n = 0;
  for (auto _ : state) {
    ChatSpan(tracer);
    if (++n % 4096 == 0) (void)provider->ForceFlush(std::chrono::milliseconds(10000));
  }
  (void)provider->Shutdown(std::chrono::milliseconds(10000));
  Report(state, *provider);
  state.counters["bytes_per_span"] = n ? static_cast<double>(bytes.load()) / static_cast<double>(n) : 0;
  server.stop();
  t.join();
}
BENCHMARK(BM_OtlpLocalReceiver)->UseRealTime();  // wall time: the work is on the exporter thread

}  // namespace
}  // namespace kiln::trace

BENCHMARK_MAIN();
