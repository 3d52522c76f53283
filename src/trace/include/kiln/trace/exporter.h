// Exporters: where ended spans go. `trace::Exporter` is the seam; this header also declares the factories
// for the built-in exporters (OTLP/HTTP JSON, console tree, JSONL file) and the in-memory exporter used by
// tests to read spans back.
//
// Threading: every Exporter method must be safe to call concurrently from any thread. Export() is called on
// the thread that ended the span and must return quickly without waiting on the network; exporters that talk
// to a network do so on their own background thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/trace/span.h"

namespace kiln::trace {

using SpanPtr = std::shared_ptr<const SpanData>;

// Counters since the exporter was created. "dropped" counts spans that will never be delivered (queue
// overflow, export failure after retries, shutdown deadline); "export_failures" counts failed export
// requests/writes (a failed batch counts once, however many spans it held).
struct ExporterStats {
  uint64_t spans_exported = 0;
  uint64_t spans_dropped = 0;
  uint64_t export_failures = 0;
  ExporterStats& operator+=(const ExporterStats& o) {
    spans_exported += o.spans_exported;
    spans_dropped += o.spans_dropped;
    export_failures += o.export_failures;
    return *this;
  }
};

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Accepts one ended span. Never blocks on I/O to a remote peer and never fails the caller: problems are
  // counted in stats() and logged.
  virtual void Export(SpanPtr span) = 0;
  // Delivers everything accepted so far, waiting at most `timeout`. DeadlineExceeded if time ran out,
  // Unavailable/Internal if delivery failed (the spans are then counted as dropped).
  virtual Status ForceFlush(std::chrono::milliseconds timeout) = 0;
  // Flushes (bounded by `timeout`) and stops; later Export() calls drop their span. Idempotent.
  virtual Status Shutdown(std::chrono::milliseconds timeout) = 0;
  virtual ExporterStats stats() const = 0;
  // Short name for logs: "otlp", "console", "jsonl", "memory".
  virtual std::string_view name() const = 0;
};

// --- OTLP over HTTP with JSON encoding ---------------------------------------------------------------------
struct OtlpHttpOptions {
  // Full URL the batches are POSTed to, e.g. "http://localhost:4318/v1/traces" (used as is).
  std::string endpoint = "http://localhost:4318/v1/traces";
  // Extra request headers (e.g. {"x-api-key", "..."}); Content-Type: application/json is always sent.
  std::vector<std::pair<std::string, std::string>> headers;
  size_t max_queue_size = 2048;                      // spans; when full the oldest is dropped
  size_t max_batch_size = 512;                       // spans per request
  std::chrono::milliseconds schedule_delay{1000};    // a partial batch waits at most this long
  std::chrono::milliseconds request_timeout{10000};  // per HTTP attempt
  int max_attempts = 5;                              // per batch, first attempt included
  std::chrono::milliseconds initial_backoff{200};    // doubled per retry, with jitter
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds max_retry_after{30000};  // cap on a server's Retry-After
};
// Batches spans on a background thread and POSTs ExportTraceServiceRequest JSON to `endpoint`. Retries on
// 429/502/503/504 and connection errors with exponential backoff, honouring Retry-After (seconds or
// HTTP-date); other statuses fail the batch at once. Export() is O(1): it appends to a bounded queue.
// Fails with InvalidArgument on an unusable option (empty endpoint, zero sizes), or FailedPrecondition when
// libcurl.so.4 cannot be loaded (it is loaded here, at first use; the message names the package libcurl4).
Result<std::unique_ptr<Exporter>> MakeOtlpHttpExporter(OtlpHttpOptions options);

// --- Console tree
// -------------------------------------------------------------------------------------------- Buffers spans
// (at most `max_spans`, dropping the oldest) and on ForceFlush/Shutdown prints them to `out` as an indented
// tree per trace with durations and key attributes (see RenderTree), then forgets them. `out` is not owned
// and must outlive the exporter. Used by `kiln agent --trace`.
std::unique_ptr<Exporter> MakeConsoleExporter(FILE* out, size_t max_spans = 100000);

// Renders spans as trees (children under parents, siblings by start time; spans whose parent is absent are
// roots), one line per span:  "<indent><name>  <duration>  [ERROR ...]  key=value ...".
std::string RenderTree(const std::vector<SpanPtr>& spans);

// --- JSONL file
// ---------------------------------------------------------------------------------------------- Appends one
// line per span to `path` (created 0644 if missing). Each line is a complete OTLP/JSON
// ExportTraceServiceRequest holding exactly that span with its resource and scope, so every line can be
// POSTed as is to any collector's /v1/traces. Writes are synchronous to a stdio buffer (no network; flushed
// on ForceFlush/Shutdown). Fails with the errno reason if the file cannot be opened.
Result<std::unique_ptr<Exporter>> MakeJsonlExporter(const std::string& path);

// --- In memory (tests) ------------------------------------------------------------------------------------
// Keeps every span it receives (up to `max_spans`, then counts drops). Thread-safe.
class InMemoryExporter : public Exporter {
 public:
  explicit InMemoryExporter(size_t max_spans = 1'000'000) : max_spans_(max_spans) {}
  void Export(SpanPtr span) override;
  Status ForceFlush(std::chrono::milliseconds) override { return Status::Ok(); }
  Status Shutdown(std::chrono::milliseconds) override;
  ExporterStats stats() const override;
  std::string_view name() const override { return "memory"; }

  // Snapshot of the spans received so far, in end order.
  std::vector<SpanPtr> spans() const;
  // Spans with this exact name, in end order.
  std::vector<SpanPtr> SpansNamed(std::string_view name) const;
  void Clear();

 private:
  mutable std::mutex mu_;
  std::vector<SpanPtr> spans_;
  size_t max_spans_;
  bool shut_down_ = false;
  ExporterStats stats_;
};

}  // namespace kiln::trace
