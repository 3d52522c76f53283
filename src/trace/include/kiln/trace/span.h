// Spans: the unit of tracing. A span is one timed operation (an agent run, an LLM call, a tool execution)
// with W3C trace/span ids, a parent, attributes, events, a status and a kind, recorded in the OpenTelemetry
// data model so that exporters can send it to any OTLP backend (LangSmith, Jaeger, ...).
//
// Threading:
//   * SpanContext, SpanData, AttributeValue are plain values (thread-compatible).
//   * Span is a move-only handle used by one thread at a time (like std::string): mutating the same Span from
//     two threads needs external locking. Different spans may be used on different threads freely. Ending a
//     span hands it to the provider's exporters; End() never performs network I/O (see exporter.h).
//   * ScopedSpan makes its span the *current* span of the calling thread (a thread-local) for its lifetime.
//     It must be destroyed on the thread that created it, in LIFO order with other ScopedSpans (which RAII
//     gives you for free). Work handed to another thread does not inherit the current span: pass
//     `span.context()` explicitly in SpanOptions::parent.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::trace {

// 16-byte W3C trace id. All-zero is invalid.
struct TraceId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool valid() const { return hi != 0 || lo != 0; }
  std::string Hex() const;  // 32 lower-case hex characters
  friend bool operator==(const TraceId&, const TraceId&) = default;
};

// 8-byte W3C span id. All-zero is invalid (and means "no parent" in SpanData::parent_span_id).
struct SpanId {
  uint64_t value = 0;
  bool valid() const { return value != 0; }
  std::string Hex() const;  // 16 lower-case hex characters
  friend bool operator==(const SpanId&, const SpanId&) = default;
};

// Fresh random ids from a per-thread generator seeded from the kernel CSPRNG (reseeded after fork).
// Never all zero. Thread-safe.
TraceId NewTraceId();
SpanId NewSpanId();

// The identity of a span as propagated between processes.
struct SpanContext {
  TraceId trace_id;
  SpanId span_id;
  bool sampled = true;  // W3C trace-flags bit 0
  bool remote = false;  // true when parsed from a traceparent header
  bool valid() const { return trace_id.valid() && span_id.valid(); }
};

// The W3C `traceparent` header value "00-<32 hex trace id>-<16 hex span id>-<flags>" ("01" when sampled).
// Returns "" for an invalid context.
std::string FormatTraceparent(const SpanContext& context);
// Parses a traceparent header (W3C Trace Context level 1). Fails with InvalidArgument on a malformed value,
// version "ff", upper-case hex or an all-zero id. Higher versions are accepted per the spec's forward rule.
// The result has remote=true.
Result<SpanContext> ParseTraceparent(std::string_view header);

// OTLP SpanKind; the numbers are the OTLP enum values and are never renumbered.
enum class SpanKind : int { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };
// OTLP Status.code; numbers are the OTLP enum values.
enum class StatusCode : int { kUnset = 0, kOk = 1, kError = 2 };

// An attribute value: string, bool, int64, double or string array (the OTLP AnyValue subset we emit).
using AttributeValue = std::variant<std::string, bool, int64_t, double, std::vector<std::string>>;
struct Attribute {
  std::string key;
  AttributeValue value;
};
using Attributes = std::vector<Attribute>;

struct SpanEvent {
  std::string name;
  int64_t time_unix_nano = 0;
  Attributes attributes;
};

// Who produced a span: the resource (service.name, ...) and the instrumentation scope. Shared by every span
// of one Tracer; exporters group spans by it. Immutable once created.
struct Resource {
  Attributes attributes;
};
struct Origin {
  std::shared_ptr<const Resource> resource;
  std::string scope_name;
  std::string scope_version;
};

// A finished (or in-progress) span record. What exporters receive, immutable once ended.
struct SpanData {
  std::string name;
  SpanContext context;
  SpanId parent_span_id;  // invalid (0) for a root span
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nano = 0;
  int64_t end_unix_nano = 0;
  Attributes attributes;
  std::vector<SpanEvent> events;
  StatusCode status_code = StatusCode::kUnset;
  std::string status_message;  // only meaningful with kError
  std::shared_ptr<const Origin> origin;

  // The attribute with this key, or nullptr.
  const AttributeValue* Find(std::string_view key) const;
};

class Provider;

// How to start a span. Parent resolution: `parent` if set (a valid context, possibly remote), else the
// current span of this thread unless `root` is true, else a new trace.
struct SpanOptions {
  SpanKind kind = SpanKind::kInternal;
  std::optional<SpanContext> parent;
  bool root = false;
  int64_t start_unix_nano = 0;  // 0 = now
  Attributes attributes;        // set at start (visible to samplers/backends as start attributes)
};

// A live span. A default-constructed or non-recording Span (tracing disabled) accepts every call and does
// nothing, so instrumented code never needs to check. Ends itself on destruction if End() was not called.
class Span {
 public:
  Span() = default;
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span();

  // True while the span records data (tracing enabled and not yet ended).
  bool recording() const { return data_ != nullptr; }
  // True once End() has run on a recording span.
  bool ended() const { return ended_; }
  // This span's context; for a non-recording span, the parent context it was started with (possibly
  // invalid), so propagation still works when tracing is off locally.
  const SpanContext& context() const { return context_; }
  // FormatTraceparent(context()): the value to send as the `traceparent` header of outgoing HTTP calls.
  std::string traceparent() const { return FormatTraceparent(context_); }
  // Whether GenAI message/code contents may be recorded on this span
  // (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true in the provider's config).
  bool captures_content() const;

  // Setting an existing key replaces its value. Integers of any width are stored as int64.
  Span& SetAttribute(std::string_view key, AttributeValue value);
  Span& SetAttribute(std::string_view key, std::string_view value) {
    return SetAttribute(key, AttributeValue(std::string(value)));
  }
  Span& SetAttribute(std::string_view key, std::string value) {
    return SetAttribute(key, AttributeValue(std::move(value)));
  }
  Span& SetAttribute(std::string_view key, std::vector<std::string> value) {
    return SetAttribute(key, AttributeValue(std::move(value)));
  }
  Span& SetAttribute(std::string_view key, const char* value) {
    return SetAttribute(key, AttributeValue(std::string(value)));
  }
  Span& SetAttribute(std::string_view key, bool value) { return SetAttribute(key, AttributeValue(value)); }
  Span& SetAttribute(std::string_view key, double value) { return SetAttribute(key, AttributeValue(value)); }
  template <std::integral T>
  requires(!std::same_as<T, bool>) Span& SetAttribute(std::string_view key, T value) {
    return SetAttribute(key, AttributeValue(static_cast<int64_t>(value)));
  }
  Span& SetAttributes(Attributes attributes);

  // Adds a timestamped event (time 0 = now).
  Span& AddEvent(std::string name, Attributes attributes = {}, int64_t time_unix_nano = 0);
  // Sets the status. kOk is final (later kError is ignored, per OpenTelemetry); message kept only for kError.
  Span& SetStatus(StatusCode code, std::string_view message = {});
  // Marks the span failed from a kiln::Status: status ERROR with the message, `error.type` = CodeName
  // unless already set. OK statuses are ignored.
  Span& RecordError(const kiln::Status& status);
  Span& SetName(std::string name);

  // Ends the span (idempotent): stamps the end time (0 = now, measured on the monotonic clock from the
  // start so wall-clock jumps do not yield negative durations) and hands it to the exporters. O(1)-ish: it
  // never waits on the network.
  void End(int64_t end_unix_nano = 0);

 private:
  friend class Provider;
  friend class Tracer;
  Span(std::unique_ptr<SpanData> data, std::shared_ptr<Provider> provider, int64_t start_mono);
  explicit Span(const SpanContext& passthrough) : context_(passthrough) {}

  std::unique_ptr<SpanData> data_;
  std::shared_ptr<Provider> provider_;
  SpanContext context_;
  int64_t start_mono_ = 0;
  bool ended_ = false;
};

// The context of the innermost ScopedSpan on this thread whose span has not ended yet (ending a scoped span
// early, e.g. with genai::EndChat, makes its parent current again), or of the innermost ScopedContext,
// whichever is nearer; invalid if none.
SpanContext CurrentContext();

namespace detail {
// One entry of the thread-local current-span stack; lives inside ScopedSpan/ScopedContext.
struct ScopeFrame {
  const Span* span = nullptr;  // null for ScopedContext
  SpanContext context;
  ScopeFrame* previous = nullptr;
};
}  // namespace detail

// A span that is current on this thread for its lifetime and ends when it goes out of scope.
//   trace::ScopedSpan span("load files");         // child of the current span, global tracer
//   span->SetAttribute("file.count", n);
// Not movable (it is tied to the thread-local current-span stack).
class ScopedSpan {
 public:
  // Starts `name` on the global tracer (see provider.h).
  explicit ScopedSpan(std::string_view name, SpanOptions options = {});
  // Adopts an already started span (e.g. from the GenAI helpers) and makes it current.
  explicit ScopedSpan(Span span);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

  Span& span() { return span_; }
  Span* operator->() { return &span_; }

 private:
  Span span_;
  detail::ScopeFrame frame_;
};

// Makes a context current without creating a span, e.g. to continue a trace from an incoming `traceparent`
// so that every span started below it joins that trace. Same threading rules as ScopedSpan.
class ScopedContext {
 public:
  explicit ScopedContext(const SpanContext& context);
  ~ScopedContext();
  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  detail::ScopeFrame frame_;
};

}  // namespace kiln::trace
