// The console exporter: buffers spans and prints them as an indented tree per trace at flush time.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "kiln/trace/exporter.h"

namespace kiln::trace {
namespace {

// Attributes worth a glance at the end of an agent run, in display order.
constexpr const char* kKeyAttributes[] = {
    "gen_ai.response.model",      "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens", "gen_ai.response.finish_reasons",
    "kiln.usage.cost_usd",        "kiln.sandbox.id",
    "kiln.execution.exit_code",   "kiln.execution.timed_out",
    "kiln.execution.oom",         "error.type",
};

std::string FormatDuration(int64_t nanos) {
  char buf[32];
  if (nanos < 0) nanos = 0;
  if (nanos < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "us", nanos / 1000);
  } else if (nanos < 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.1fms", static_cast<double>(nanos) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(nanos) / 1e9);
  }
  return buf;
}

std::string FormatValue(const AttributeValue& v) {
  struct Visitor {
    std::string operator()(const std::string& s) const { return s.size() > 60 ? s.substr(0, 57) + "..." : s; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", d);
      return buf;
    }
    std::string operator()(const std::vector<std::string>& a) const {
      std::string out;
      for (const auto& s : a) out += (out.empty() ? "" : ",") + s;
      return out;
    }
  };
  return std::visit(Visitor{}, v);
}

std::string SpanLine(const SpanData& s, int depth) {
  std::string line(static_cast<size_t>(depth) * 2, ' ');
  line += s.name + "  " + FormatDuration(s.end_unix_nano - s.start_unix_nano);
  if (s.status_code == StatusCode::kError) {
    line += "  ERROR";
    if (!s.status_message.empty()) line += ": " + s.status_message;
  }
  for (const char* key : kKeyAttributes) {
    if (const AttributeValue* v = s.Find(key)) line += std::string("  ") + key + "=" + FormatValue(*v);
  }
  return line + "\n";
}

struct Forest {
  const std::vector<SpanPtr>& spans;
  std::unordered_map<uint64_t, std::vector<size_t>> children;  // parent span id -> child indexes
  std::unordered_set<size_t> printed;
  std::string out;

  void Print(size_t i, int depth) {
    if (!printed.insert(i).second) return;  // defends against id collisions forming a cycle
    out += SpanLine(*spans[i], depth);
    auto it = children.find(spans[i]->context.span_id.value);
    if (it == children.end()) return;
    for (size_t c : it->second) Print(c, depth + 1);
  }
};

}  // namespace

std::string RenderTree(const std::vector<SpanPtr>& spans) {
  std::vector<size_t> order(spans.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return spans[a]->start_unix_nano < spans[b]->start_unix_nano; });
  std::unordered_set<uint64_t> present;
  for (const auto& s : spans) present.insert(s->context.span_id.value);

  Forest forest{spans, {}, {}, {}};
  std::vector<size_t> roots;
  for (size_t i : order) {
    const SpanData& s = *spans[i];
    if (s.parent_span_id.valid() && present.count(s.parent_span_id.value)) {
      forest.children[s.parent_span_id.value].push_back(i);
    } else {
      roots.push_back(i);
    }
  }
  // Traces in order of their earliest root; all roots of one trace under one header.
  std::vector<TraceId> traces;
  for (size_t r : roots) {
    const TraceId& t = spans[r]->context.trace_id;
    if (std::find(traces.begin(), traces.end(), t) == traces.end()) traces.push_back(t);
  }
  for (const TraceId& t : traces) {
    forest.out += "trace " + t.Hex() + "\n";
    for (size_t r : roots) {
      if (spans[r]->context.trace_id == t) forest.Print(r, 1);
    }
  }
  return forest.out;
}

namespace {

class ConsoleExporter : public Exporter {
 public:
  ConsoleExporter(FILE* out, size_t max_spans) : out_(out), max_spans_(max_spans) {}
  ~ConsoleExporter() override { (void)Shutdown(std::chrono::milliseconds(0)); }

  void Export(SpanPtr span) override {
    std::lock_guard lock(mu_);
    if (shut_down_) {
      ++stats_.spans_dropped;
      return;
    }
    if (buffer_.size() >= max_spans_) {
      buffer_.pop_front();
      ++stats_.spans_dropped;
    }
    buffer_.push_back(std::move(span));
  }

  Status ForceFlush(std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    return PrintLocked();
  }

  Status Shutdown(std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    if (shut_down_) return Status::Ok();
    shut_down_ = true;
    return PrintLocked();
  }

  ExporterStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }
  std::string_view name() const override { return "console"; }

 private:
  Status PrintLocked() {
    if (buffer_.empty() || !out_) return Status::Ok();
    std::vector<SpanPtr> spans(buffer_.begin(), buffer_.end());
    buffer_.clear();
    std::string text = RenderTree(spans);
    if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0) {
      ++stats_.export_failures;
      stats_.spans_dropped += spans.size();
      return ErrnoStatus("write trace tree", errno);
    }
    stats_.spans_exported += spans.size();
    return Status::Ok();
  }

  mutable std::mutex mu_;
  FILE* out_;
  size_t max_spans_;
  std::deque<SpanPtr> buffer_;
  bool shut_down_ = false;
  ExporterStats stats_;
};

}  // namespace

std::unique_ptr<Exporter> MakeConsoleExporter(FILE* out, size_t max_spans) {
  return std::make_unique<ConsoleExporter>(out, max_spans == 0 ? 1 : max_spans);
}

}  // namespace kiln::trace
