// The in-memory and JSONL exporters: synchronous, no background thread.
#include <cerrno>
#include <cstdio>
#include <mutex>

#include "kiln/base/log.h"
#include "kiln/trace/exporter.h"
#include "kiln/trace/otlp_json.h"

namespace kiln::trace {

// --- InMemoryExporter -----------------------------------------------------------------------------------

void InMemoryExporter::Export(SpanPtr span) {
  std::lock_guard lock(mu_);
  if (shut_down_ || spans_.size() >= max_spans_) {
    ++stats_.spans_dropped;
    return;
  }
  spans_.push_back(std::move(span));
  ++stats_.spans_exported;
}

Status InMemoryExporter::Shutdown(std::chrono::milliseconds) {
  std::lock_guard lock(mu_);
  shut_down_ = true;
  return Status::Ok();
}

ExporterStats InMemoryExporter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<SpanPtr> InMemoryExporter::spans() const {
  std::lock_guard lock(mu_);
  return spans_;
}

std::vector<SpanPtr> InMemoryExporter::SpansNamed(std::string_view name) const {
  std::lock_guard lock(mu_);
  std::vector<SpanPtr> out;
  for (const auto& s : spans_) {
    if (s->name == name) out.push_back(s);
  }
  return out;
}

void InMemoryExporter::Clear() {
  std::lock_guard lock(mu_);
  spans_.clear();
}

// --- JSONL ------------------------------------------------------------------------------------------------
namespace {

class JsonlExporter : public Exporter {
 public:
  JsonlExporter(FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  ~JsonlExporter() override { (void)Shutdown(std::chrono::milliseconds(0)); }

  void Export(SpanPtr span) override {
    // Serialize outside the lock; only the write is serialized.
    std::string line = EncodeExportRequest({span});
    line.push_back('\n');
    std::lock_guard lock(mu_);
    if (!file_) {
      ++stats_.spans_dropped;
      return;
    }
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
      (void)Fail(errno);
      return;
    }
    ++stats_.spans_exported;
  }

  Status ForceFlush(std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    if (file_ && std::fflush(file_) != 0) return Fail(errno);
    return Status::Ok();
  }

  Status Shutdown(std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    if (!file_) return Status::Ok();
    int rc = std::fclose(file_);
    file_ = nullptr;
    return rc == 0 ? Status::Ok() : Fail(errno);
  }

  ExporterStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }
  std::string_view name() const override { return "jsonl"; }

 private:
  // Caller holds mu_. Spans lost in a failed stdio buffer cannot be counted exactly; one is counted.
  Status Fail(int err) {
    ++stats_.export_failures;
    ++stats_.spans_dropped;
    Status s = ErrnoStatus("write " + path_, err);
    log::Warn("trace: " + s.ToString());
    return s;
  }

  mutable std::mutex mu_;
  FILE* file_;
  std::string path_;
  ExporterStats stats_;
};

}  // namespace

Result<std::unique_ptr<Exporter>> MakeJsonlExporter(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) return ErrnoStatus("open trace file " + path, errno);
  return std::unique_ptr<Exporter>(new JsonlExporter(f, path));
}

}  // namespace kiln::trace
