#include "metrics.h"

#include <cstdio>

namespace kiln::server {
namespace {

void Line(std::string& out, const char* text) {
  out += text;
  out += '\n';
}

void Sample(std::string& out, const std::string& name, double value) {
  char number[64];
  std::snprintf(number, sizeof number, "%.17g", value);
  out += name + " " + number + "\n";
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string LabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

}  // namespace

void Metrics::ObserveCreate(double seconds, bool ok) {
  (ok ? creates_ok_ : creates_failed_).fetch_add(1, kRelaxed);
  if (!ok) return;
  create_micros_total_.fetch_add(static_cast<uint64_t>(seconds * 1e6), kRelaxed);
  // Buckets are stored non-cumulative and summed when rendered.
  for (size_t i = 0; i < kCreateBuckets.size(); ++i) {
    if (seconds <= kCreateBuckets[i]) {
      create_buckets_[i].fetch_add(1, kRelaxed);
      return;
    }
  }
}

std::string Metrics::Render(int64_t running, int64_t paused,
                            const std::map<std::string, int64_t>& pool_sizes) const {
  std::string out;
  Line(out, "# HELP kiln_sandboxes Sandboxes by state.\n# TYPE kiln_sandboxes gauge");
  Sample(out, "kiln_sandboxes{state=\"running\"}", static_cast<double>(running));
  Sample(out, "kiln_sandboxes{state=\"paused\"}", static_cast<double>(paused));
  Line(out, "# HELP kiln_requests_total HTTP requests by plane.\n# TYPE kiln_requests_total counter");
  Sample(out, "kiln_requests_total{plane=\"control\"}", static_cast<double>(api_requests_.load(kRelaxed)));
  Sample(out, "kiln_requests_total{plane=\"data\"}", static_cast<double>(data_requests_.load(kRelaxed)));
  Line(out,
       "# HELP kiln_sandbox_creates_total Sandbox creations by result.\n# TYPE kiln_sandbox_creates_total "
       "counter");
  Sample(out, "kiln_sandbox_creates_total{result=\"ok\"}", static_cast<double>(creates_ok_.load(kRelaxed)));
  Sample(out, "kiln_sandbox_creates_total{result=\"error\"}",
         static_cast<double>(creates_failed_.load(kRelaxed)));
  Line(out,
       "# HELP kiln_sandbox_create_seconds Time to create a sandbox (successful creates).\n"
       "# TYPE kiln_sandbox_create_seconds histogram");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kCreateBuckets.size(); ++i) {
    cumulative += create_buckets_[i].load(kRelaxed);
    char le[32];
    std::snprintf(le, sizeof le, "%g", kCreateBuckets[i]);
    Sample(out, std::string("kiln_sandbox_create_seconds_bucket{le=\"") + le + "\"}",
           static_cast<double>(cumulative));
  }
  double count = static_cast<double>(creates_ok_.load(kRelaxed));
  Sample(out, "kiln_sandbox_create_seconds_bucket{le=\"+Inf\"}", count);
  Sample(out, "kiln_sandbox_create_seconds_sum",
         static_cast<double>(create_micros_total_.load(kRelaxed)) / 1e6);
  Sample(out, "kiln_sandbox_create_seconds_count", count);
  Line(out,
       "# HELP kiln_proxy_open_streams Data-plane exchanges in progress.\n# TYPE kiln_proxy_open_streams "
       "gauge");
  Sample(out, "kiln_proxy_open_streams", static_cast<double>(open_streams_.load(kRelaxed)));
  Line(out,
       "# HELP kiln_proxy_bytes_total Body bytes relayed by the data plane.\n# TYPE kiln_proxy_bytes_total "
       "counter");
  Sample(out, "kiln_proxy_bytes_total{direction=\"to_sandbox\"}",
         static_cast<double>(bytes_in_.load(kRelaxed)));
  Sample(out, "kiln_proxy_bytes_total{direction=\"from_sandbox\"}",
         static_cast<double>(bytes_out_.load(kRelaxed)));
  if (!pool_sizes.empty())
    Line(out, "# HELP kiln_pool_size Ready sandboxes in the warm pool.\n# TYPE kiln_pool_size gauge");
  for (const auto& [template_id, ready] : pool_sizes)
    Sample(out, "kiln_pool_size{template=\"" + LabelValue(template_id) + "\"}", static_cast<double>(ready));
  return out;
}

}  // namespace kiln::server
