#include "kiln/trace/span.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

// Ids come from a per-thread xoshiro256** seeded from getrandom: a syscall per span would cost more than the
// rest of span creation. The fork generation forces a reseed in a forked child so parent and child never
// produce the same ids.
std::atomic<uint64_t> g_fork_generation{0};
[[maybe_unused]] const int g_atfork = pthread_atfork(nullptr, nullptr, [] { ++g_fork_generation; });

uint64_t ParseHex64(std::string_view hex) {
  uint64_t v = 0;
  for (char c : hex) v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return v;
}

struct IdGenerator {
  uint64_t s[4] = {0, 0, 0, 0};
  uint64_t generation = ~0ull;

  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t Next() {
    uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
    if (gen != generation) Seed(gen);
    const uint64_t result = Rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return result;
  }
  void Seed(uint64_t gen) {
    std::string hex = RandomHex(32);
    for (int i = 0; i < 4; ++i) s[i] = ParseHex64(std::string_view(hex).substr(i * 16, 16));
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;  // xoshiro's one forbidden state
    generation = gen;
  }
};

IdGenerator& Generator() {
  thread_local IdGenerator gen;
  return gen;
}

uint64_t NonZero() {
  uint64_t v = 0;
  while (v == 0) v = Generator().Next();
  return v;
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return std::string(buf, 16);
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

thread_local detail::ScopeFrame* t_top = nullptr;

}  // namespace

std::string TraceId::Hex() const {
  return Hex64(hi) + Hex64(lo);
}
std::string SpanId::Hex() const {
  return Hex64(value);
}

TraceId NewTraceId() {
  TraceId id;
  while (!id.valid()) id = TraceId{Generator().Next(), Generator().Next()};
  return id;
}
SpanId NewSpanId() {
  return SpanId{NonZero()};
}

std::string FormatTraceparent(const SpanContext& c) {
  if (!c.valid()) return "";
  return "00-" + c.trace_id.Hex() + "-" + c.span_id.Hex() + (c.sampled ? "-01" : "-00");
}

Result<SpanContext> ParseTraceparent(std::string_view h) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("traceparent \"" + std::string(h.substr(0, 64)) + "\": " + std::string(why));
  };
  h = h.substr(0, h.find_last_not_of(" \t") + 1);
  h.remove_prefix(std::min(h.find_first_not_of(" \t"), h.size()));
  if (h.size() < 55) return bad("too short");
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return bad("expected version-traceid-spanid-flags");
  std::string_view version = h.substr(0, 2), trace = h.substr(3, 32), span = h.substr(36, 16),
                   flags = h.substr(53, 2);
  if (!IsLowerHex(version) || !IsLowerHex(trace) || !IsLowerHex(span) || !IsLowerHex(flags)) {
    return bad("fields must be lower-case hex");
  }
  if (version == "ff") return bad("version ff is invalid");
  if (version == "00" && h.size() != 55) return bad("version 00 must be 55 characters");
  if (h.size() > 55 && h[55] != '-') return bad("unexpected data after flags");
  SpanContext c;
  c.trace_id = TraceId{ParseHex64(trace.substr(0, 16)), ParseHex64(trace.substr(16))};
  c.span_id = SpanId{ParseHex64(span)};
  if (!c.trace_id.valid()) return bad("all-zero trace id");
  if (!c.span_id.valid()) return bad("all-zero span id");
  c.sampled = (ParseHex64(flags) & 1) != 0;
  c.remote = true;
  return c;
}

const AttributeValue* SpanData::Find(std::string_view key) const {
  for (const auto& a : attributes) {
    if (a.key == key) return &a.value;
  }
  return nullptr;
}

// --- Span -------------------------------------------------------------------------------------------------

Span::Span(std::unique_ptr<SpanData> data, std::shared_ptr<Provider> provider, int64_t start_mono)
    : data_(std::move(data)),
      provider_(std::move(provider)),
      context_(data_->context),
      start_mono_(start_mono) {}

Span::Span(Span&& o) noexcept
    : data_(std::move(o.data_)),
      provider_(std::move(o.provider_)),
      context_(o.context_),
      start_mono_(o.start_mono_),
      ended_(o.ended_) {}

Span& Span::operator=(Span&& o) noexcept {
  if (this != &o) {
    End();
    data_ = std::move(o.data_);
    provider_ = std::move(o.provider_);
    context_ = o.context_;
    start_mono_ = o.start_mono_;
    ended_ = o.ended_;
  }
  return *this;
}

Span::~Span() {
  End();
}

bool Span::captures_content() const {
  return data_ && provider_ && provider_->capture_content();
}

Span& Span::SetAttribute(std::string_view key, AttributeValue value) {
  if (!data_) return *this;
  for (auto& a : data_->attributes) {
    if (a.key == key) {
      a.value = std::move(value);
      return *this;
    }
  }
  data_->attributes.push_back(Attribute{std::string(key), std::move(value)});
  return *this;
}

Span& Span::SetAttributes(Attributes attributes) {
  for (auto& a : attributes) SetAttribute(a.key, std::move(a.value));
  return *this;
}

Span& Span::AddEvent(std::string name, Attributes attributes, int64_t time_unix_nano) {
  if (!data_) return *this;
  if (time_unix_nano == 0) time_unix_nano = WallNanos();
  data_->events.push_back(SpanEvent{std::move(name), time_unix_nano, std::move(attributes)});
  return *this;
}

Span& Span::SetStatus(StatusCode code, std::string_view message) {
  if (!data_ || data_->status_code == StatusCode::kOk) return *this;
  data_->status_code = code;
  data_->status_message = code == StatusCode::kError ? std::string(message) : std::string();
  return *this;
}

Span& Span::RecordError(const kiln::Status& status) {
  if (!data_ || status.ok()) return *this;
  SetStatus(StatusCode::kError, status.message());
  if (!data_->Find("error.type")) SetAttribute("error.type", std::string(CodeName(status.code())));
  return *this;
}

Span& Span::SetName(std::string name) {
  if (data_) data_->name = std::move(name);
  return *this;
}

void Span::End(int64_t end_unix_nano) {
  if (!data_) return;
  if (end_unix_nano == 0) end_unix_nano = data_->start_unix_nano + (MonotonicNanos() - start_mono_);
  data_->end_unix_nano = end_unix_nano;
  ended_ = true;
  std::shared_ptr<Provider> provider = std::move(provider_);
  provider->OnEnd(std::move(data_));
}

// --- Current context --------------------------------------------------------------------------------------

SpanContext CurrentContext() {
  for (const detail::ScopeFrame* f = t_top; f; f = f->previous) {
    if (!f->span || !f->span->ended()) return f->context;
  }
  return SpanContext{};
}

ScopedSpan::ScopedSpan(std::string_view name, SpanOptions options)
    : ScopedSpan(StartSpan(name, std::move(options))) {}

// A non-recording span carries its parent's context; keeping that current preserves propagation.
ScopedSpan::ScopedSpan(Span span) : span_(std::move(span)), frame_{&span_, span_.context(), t_top} {
  t_top = &frame_;
}

ScopedSpan::~ScopedSpan() {
  span_.End();
  t_top = frame_.previous;
}

ScopedContext::ScopedContext(const SpanContext& context) : frame_{nullptr, context, t_top} {
  t_top = &frame_;
}
ScopedContext::~ScopedContext() {
  t_top = frame_.previous;
}

}  // namespace kiln::trace
