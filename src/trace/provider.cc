#include "kiln/trace/provider.h"

#include <algorithm>
#include <mutex>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"

#ifndef KILN_TRACE_VERSION
#define KILN_TRACE_VERSION "0.0.0"
#endif

namespace kiln::trace {
namespace {

bool HasKey(const Attributes& attrs, std::string_view key) {
  return std::any_of(attrs.begin(), attrs.end(), [&](const Attribute& a) { return a.key == key; });
}

void AddDefault(Attributes& attrs, std::string_view key, std::string_view value) {
  if (!HasKey(attrs, key)) attrs.push_back(Attribute{std::string(key), std::string(value)});
}

std::chrono::milliseconds Remaining(int64_t deadline_mono) {
  return std::chrono::milliseconds(std::max<int64_t>(0, (deadline_mono - MonotonicNanos()) / 1'000'000));
}

}  // namespace

Provider::Provider(ProviderOptions options)
    : exporters_(std::move(options.exporters)), capture_content_(options.capture_content) {
  exporters_.erase(std::remove(exporters_.begin(), exporters_.end(), nullptr), exporters_.end());
  Attributes& attrs = options.resource.attributes;
  AddDefault(attrs, "service.name", "kiln");
  AddDefault(attrs, "telemetry.sdk.name", "kiln");
  AddDefault(attrs, "telemetry.sdk.language", "cpp");
  AddDefault(attrs, "telemetry.sdk.version", KILN_TRACE_VERSION);
  resource_ = std::make_shared<const Resource>(std::move(options.resource));
  default_origin_ = std::make_shared<const Origin>(Origin{resource_, "kiln", KILN_TRACE_VERSION});
}

Provider::~Provider() = default;

std::shared_ptr<Provider> Provider::Create(ProviderOptions options) {
  return std::shared_ptr<Provider>(new Provider(std::move(options)));
}

std::shared_ptr<Provider> Provider::Disabled() {
  return Create({});
}

Tracer Provider::GetTracer(std::string_view scope_name, std::string_view scope_version) {
  if (scope_name == default_origin_->scope_name &&
      (scope_version.empty() || scope_version == default_origin_->scope_version)) {
    return Tracer(shared_from_this(), default_origin_);
  }
  return Tracer(shared_from_this(), std::make_shared<const Origin>(Origin{resource_, std::string(scope_name),
                                                                          std::string(scope_version)}));
}

Span Provider::Start(std::shared_ptr<const Origin> origin, std::string_view name, SpanOptions options) {
  SpanContext parent;
  if (options.parent) {
    parent = *options.parent;
  } else if (!options.root) {
    parent = CurrentContext();
  }
  if (!enabled() || shut_down_.load(std::memory_order_relaxed)) return Span(parent);

  auto data = std::make_unique<SpanData>();
  data->name = std::string(name);
  data->kind = options.kind;
  data->origin = std::move(origin);
  data->context.trace_id = parent.valid() ? parent.trace_id : NewTraceId();
  data->context.span_id = NewSpanId();
  if (parent.valid()) data->parent_span_id = parent.span_id;
  data->attributes = std::move(options.attributes);
  int64_t mono = MonotonicNanos();
  int64_t wall = WallNanos();
  data->start_unix_nano = options.start_unix_nano ? options.start_unix_nano : wall;
  // With an explicit start time, shift the monotonic origin so End() still measures from that start.
  mono -= wall - data->start_unix_nano;
  return Span(std::move(data), shared_from_this(), mono);
}

void Provider::OnEnd(std::unique_ptr<SpanData> data) {
  if (shut_down_.load(std::memory_order_relaxed)) {
    dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  SpanPtr span(std::move(data));
  for (const auto& e : exporters_) e->Export(span);
}

Status Provider::ForceFlush(std::chrono::milliseconds timeout) {
  int64_t deadline = MonotonicNanos() + timeout.count() * 1'000'000;
  Status first;
  for (const auto& e : exporters_) {
    Status s = e->ForceFlush(Remaining(deadline));
    if (!s.ok() && first.ok()) first = s.WithContext(std::string(e->name()));
  }
  return first;
}

Status Provider::Shutdown(std::chrono::milliseconds timeout) {
  if (shut_down_.exchange(true)) return Status::Ok();
  int64_t deadline = MonotonicNanos() + timeout.count() * 1'000'000;
  Status first;
  for (const auto& e : exporters_) {
    Status s = e->Shutdown(Remaining(deadline));
    if (!s.ok() && first.ok()) first = s.WithContext(std::string(e->name()));
  }
  return first;
}

ExporterStats Provider::stats() const {
  ExporterStats total;
  for (const auto& e : exporters_) total += e->stats();
  total.spans_dropped += dropped_after_shutdown_.load(std::memory_order_relaxed);
  return total;
}

Span Tracer::StartSpan(std::string_view name, SpanOptions options) const {
  if (!provider_) {
    SpanContext parent = options.parent ? *options.parent : options.root ? SpanContext{} : CurrentContext();
    (void)name;
    return Span(parent);
  }
  return provider_->Start(origin_, name, std::move(options));
}

// --- Global provider -------------------------------------------------------------------------------------
namespace {

struct Global {
  std::mutex mu;
  std::shared_ptr<Provider> provider;
  Tracer tracer;
};

// Leaked on purpose: spans may end in static destructors after main returns.
Global& TheGlobal() {
  static Global* g = [] {
    auto* g = new Global;
    g->provider = Provider::Disabled();
    g->tracer = g->provider->GetTracer();
    return g;
  }();
  return *g;
}

}  // namespace

std::shared_ptr<Provider> GlobalProvider() {
  Global& g = TheGlobal();
  std::lock_guard lock(g.mu);
  return g.provider;
}

void SetGlobalProvider(std::shared_ptr<Provider> provider) {
  if (!provider) provider = Provider::Disabled();
  Tracer tracer = provider->GetTracer();
  Global& g = TheGlobal();
  std::lock_guard lock(g.mu);
  g.provider = std::move(provider);
  g.tracer = std::move(tracer);
}

Tracer GlobalTracer() {
  Global& g = TheGlobal();
  std::lock_guard lock(g.mu);
  return g.tracer;
}

Status ShutdownGlobal(std::chrono::milliseconds timeout) {
  std::shared_ptr<Provider> p = GlobalProvider();
  SetGlobalProvider(nullptr);
  Status s = p->Shutdown(timeout);
  ExporterStats st = p->stats();
  if (st.spans_dropped || st.export_failures) {
    log::Warn("trace: " + std::to_string(st.spans_dropped) + " span(s) dropped, " +
              std::to_string(st.export_failures) + " export failure(s)");
  }
  return s;
}

}  // namespace kiln::trace
