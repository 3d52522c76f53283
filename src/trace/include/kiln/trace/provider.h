// Provider and Tracer: where spans are started and where ended spans are dispatched to exporters.
//
// A Provider owns a resource (service.name, ...), a list of exporters and the content-capture switch. A
// Provider without exporters is *disabled*: StartSpan returns non-recording spans without allocating, so
// tracing that is switched off costs a few nanoseconds per span. A process normally installs one global
// provider at start-up from the standard OpenTelemetry environment variables (InstallFromEnvironment) and
// shuts it down with a bounded timeout at exit (ShutdownGlobal).
//
// Threading: Provider, Tracer and the global-provider functions are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/trace/exporter.h"
#include "kiln/trace/span.h"

namespace kiln::trace {

class Tracer;

struct ProviderOptions {
  Resource resource;  // service.name etc.; telemetry.sdk.* are added if absent
  std::vector<std::shared_ptr<Exporter>> exporters;
  bool capture_content = false;  // record gen_ai.*.messages and tool arguments (see genai.h)
};

class Provider : public std::enable_shared_from_this<Provider> {
 public:
  static std::shared_ptr<Provider> Create(ProviderOptions options);
  // A provider with no exporters: every span is non-recording.
  static std::shared_ptr<Provider> Disabled();
  ~Provider();

  bool enabled() const { return !exporters_.empty(); }
  bool capture_content() const { return capture_content_; }
  const Resource& resource() const { return *resource_; }

  // A tracer stamping spans with instrumentation scope {name, version}. Cheap; may be kept or recreated.
  Tracer GetTracer(std::string_view scope_name = "kiln", std::string_view scope_version = "");

  // Flushes every exporter, all bounded together by `timeout`; returns the first failure.
  Status ForceFlush(std::chrono::milliseconds timeout);
  // Flushes and stops every exporter within `timeout` in all. Spans ended afterwards are discarded (counted
  // as dropped). Idempotent.
  Status Shutdown(std::chrono::milliseconds timeout);
  // Sum of the exporters' counters.
  ExporterStats stats() const;

 private:
  friend class Tracer;
  friend class Span;
  explicit Provider(ProviderOptions options);
  Span Start(std::shared_ptr<const Origin> origin, std::string_view name, SpanOptions options);
  void OnEnd(std::unique_ptr<SpanData> data);

  std::shared_ptr<const Resource> resource_;
  std::vector<std::shared_ptr<Exporter>> exporters_;
  bool capture_content_ = false;
  std::shared_ptr<const Origin> default_origin_;
  std::atomic<bool> shut_down_{false};
  std::atomic<uint64_t> dropped_after_shutdown_{0};
};

// Starts spans for one instrumentation scope. Copyable handle; keeps its provider alive.
class Tracer {
 public:
  Tracer() = default;  // disabled
  Span StartSpan(std::string_view name, SpanOptions options = {}) const;
  bool enabled() const { return provider_ && provider_->enabled(); }
  bool capture_content() const { return provider_ && provider_->capture_content(); }
  const std::shared_ptr<Provider>& provider() const { return provider_; }

 private:
  friend class Provider;
  Tracer(std::shared_ptr<Provider> p, std::shared_ptr<const Origin> o)
      : provider_(std::move(p)), origin_(std::move(o)) {}
  std::shared_ptr<Provider> provider_;
  std::shared_ptr<const Origin> origin_;
};

// --- Global provider -------------------------------------------------------------------------------------
// The process-wide provider (initially Provider::Disabled()). Setting it does not shut down the previous one.
std::shared_ptr<Provider> GlobalProvider();
void SetGlobalProvider(std::shared_ptr<Provider> provider);
// GlobalProvider()->GetTracer("kiln", <kiln version>).
Tracer GlobalTracer();
// Starts a span on the global tracer.
inline Span StartSpan(std::string_view name, SpanOptions options = {}) {
  return GlobalTracer().StartSpan(name, std::move(options));
}

// --- Configuration from the environment ----------------------------------------------------------------
// Parsed tracing configuration. Fields mirror the environment variables documented in src/trace/README.md.
struct TraceConfig {
  bool otlp = false;       // export with OTLP/HTTP JSON
  bool console = false;    // print a tree at flush/shutdown (to the FILE* given to MakeProvider)
  std::string jsonl_path;  // non-empty: JSONL file exporter
  OtlpHttpOptions otlp_options;
  Resource resource;  // service.name first, then OTEL_RESOURCE_ATTRIBUTES
  bool capture_content = false;
  bool any() const { return otlp || console || !jsonl_path.empty(); }
};

// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup ProcessEnv();  // reads getenv

// Reads OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_{,TRACES_}{ENDPOINT,HEADERS,TIMEOUT},
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_BSP_{SCHEDULE_DELAY,MAX_QUEUE_SIZE,MAX_EXPORT_BATCH_SIZE},
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT and KILN_TRACE_FILE. InvalidArgument naming the variable
// on a malformed value (unknown exporter name, bad header list, non-numeric size).
Result<TraceConfig> ConfigFromEnvironment(const EnvLookup& env = ProcessEnv());
// Builds a provider from a config (console output goes to `console_out`). Fails if the JSONL file cannot be
// opened. A config with no exporter yields a disabled provider.
Result<std::shared_ptr<Provider>> MakeProvider(const TraceConfig& config, FILE* console_out = stderr);
// ConfigFromEnvironment + MakeProvider + SetGlobalProvider. On error nothing is installed (tracing stays
// disabled) and the reason is returned for the caller to report. `force_console` adds the console exporter
// (what `kiln agent --trace` uses).
Status InstallFromEnvironment(const EnvLookup& env = ProcessEnv(), bool force_console = false,
                              FILE* console_out = stderr);
// Shuts the global provider down within `timeout` and replaces it with a disabled one. Call at process end.
Status ShutdownGlobal(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace kiln::trace
