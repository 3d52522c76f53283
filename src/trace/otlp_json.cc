#include "kiln/trace/otlp_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

namespace kiln::trace {
namespace {

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, surrogates or > U+10FFFF),
// or 0 if it is invalid.
size_t Utf8Length(std::string_view s, size_t i) {
  auto in = [&](size_t k, unsigned lo, unsigned hi) {
    if (i + k >= s.size()) return false;
    auto c = static_cast<unsigned char>(s[i + k]);
    return c >= lo && c <= hi;
  };
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return in(1, 0x80, 0xBF) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return in(1, lo, hi) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

void AppendString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c < 0x20 || c == 0x7f) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else if (c >= 0x80) {
      size_t n = Utf8Length(s, i);
      if (n == 0) {
        out->append("\xEF\xBF\xBD");  // U+FFFD for one invalid byte
        ++i;
        continue;
      }
      out->append(s.substr(i, n));
      i += n;
      continue;
    } else {
      out->push_back(static_cast<char>(c));
    }
    ++i;
  }
  out->push_back('"');
}

void AppendInt(int64_t v, std::string* out, bool quoted) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (quoted) out->push_back('"');
  out->append(buf, end);
  if (quoted) out->push_back('"');
}

void AppendDouble(double d, std::string* out) {
  if (std::isnan(d)) return out->append("\"NaN\""), void();
  if (std::isinf(d)) return out->append(d > 0 ? "\"Infinity\"" : "\"-Infinity\""), void();
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form, valid JSON
  out->append(buf, end);
}

void AppendAnyValue(const AttributeValue& value, std::string* out) {
  struct Visitor {
    std::string* out;
    void operator()(const std::string& s) const { out->append("{\"stringValue\":"), AppendString(s, out); }
    void operator()(bool b) const { out->append(b ? "{\"boolValue\":true" : "{\"boolValue\":false"); }
    void operator()(int64_t i) const { out->append("{\"intValue\":"), AppendInt(i, out, true); }
    void operator()(double d) const { out->append("{\"doubleValue\":"), AppendDouble(d, out); }
    void operator()(const std::vector<std::string>& v) const {
      out->append("{\"arrayValue\":{\"values\":[");
      for (size_t i = 0; i < v.size(); ++i) {
        out->append(i ? ",{\"stringValue\":" : "{\"stringValue\":");
        AppendString(v[i], out);
        out->push_back('}');
      }
      out->append("]}");
    }
  };
  std::visit(Visitor{out}, value);
  out->push_back('}');
}

void AppendAttributes(const Attributes& attributes, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < attributes.size(); ++i) {
    out->append(i ? ",{\"key\":" : "{\"key\":");
    AppendString(attributes[i].key, out);
    out->append(",\"value\":");
    AppendAnyValue(attributes[i].value, out);
    out->push_back('}');
  }
  out->push_back(']');
}

void AppendEvents(const std::vector<SpanEvent>& events, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < events.size(); ++i) {
    out->append(i ? ",{\"timeUnixNano\":" : "{\"timeUnixNano\":");
    AppendInt(events[i].time_unix_nano, out, true);
    out->append(",\"name\":");
    AppendString(events[i].name, out);
    out->append(",\"attributes\":");
    AppendAttributes(events[i].attributes, out);
    out->push_back('}');
  }
  out->push_back(']');
}

void AppendSpan(const SpanData& s, std::string* out) {
  out->append("{\"traceId\":\"").append(s.context.trace_id.Hex());
  out->append("\",\"spanId\":\"").append(s.context.span_id.Hex());
  if (s.parent_span_id.valid()) out->append("\",\"parentSpanId\":\"").append(s.parent_span_id.Hex());
  out->append(s.context.sampled ? "\",\"flags\":1,\"name\":" : "\",\"flags\":0,\"name\":");  // W3C flags byte
  AppendString(s.name, out);
  out->append(",\"kind\":");
  AppendInt(static_cast<int>(s.kind), out, false);
  out->append(",\"startTimeUnixNano\":");
  AppendInt(s.start_unix_nano, out, true);
  out->append(",\"endTimeUnixNano\":");
  AppendInt(s.end_unix_nano, out, true);
  out->append(",\"attributes\":");
  AppendAttributes(s.attributes, out);
  out->append(",\"events\":");
  AppendEvents(s.events, out);
  out->append(",\"status\":{\"code\":");
  AppendInt(static_cast<int>(s.status_code), out, false);
  if (!s.status_message.empty()) out->append(",\"message\":"), AppendString(s.status_message, out);
  out->append("}}");
}

void AppendScope(const Origin* origin, std::string* out) {
  out->append("{\"name\":");
  AppendString(origin ? origin->scope_name : std::string("kiln"), out);
  if (origin && !origin->scope_version.empty())
    out->append(",\"version\":"), AppendString(origin->scope_version, out);
  out->push_back('}');
}

bool SameScope(const Origin* a, const Origin* b) {
  return a == b || (a && b && a->scope_name == b->scope_name && a->scope_version == b->scope_version);
}

}  // namespace

void AppendExportRequest(const std::vector<SpanPtr>& spans, std::string* out) {
  // Group span indexes by resource, then scope, in first-seen order (deterministic output).
  using ScopeGroup = std::pair<const Origin*, std::vector<size_t>>;
  std::vector<std::pair<const Resource*, std::vector<ScopeGroup>>> groups;
  for (size_t i = 0; i < spans.size(); ++i) {
    const Origin* origin = spans[i]->origin.get();
    const Resource* resource = origin ? origin->resource.get() : nullptr;
    auto g = std::find_if(groups.begin(), groups.end(), [&](auto& x) { return x.first == resource; });
    if (g == groups.end()) g = groups.insert(groups.end(), {resource, {}});
    auto s =
        std::find_if(g->second.begin(), g->second.end(), [&](auto& x) { return SameScope(x.first, origin); });
    if (s == g->second.end()) s = g->second.insert(g->second.end(), {origin, {}});
    s->second.push_back(i);
  }
  out->append("{\"resourceSpans\":[");
  for (size_t r = 0; r < groups.size(); ++r) {
    out->append(r ? ",{\"resource\":{\"attributes\":" : "{\"resource\":{\"attributes\":");
    AppendAttributes(groups[r].first ? groups[r].first->attributes : Attributes{}, out);
    out->append("},\"scopeSpans\":[");
    for (size_t k = 0; k < groups[r].second.size(); ++k) {
      const auto& [origin, indexes] = groups[r].second[k];
      out->append(k ? ",{\"scope\":" : "{\"scope\":");
      AppendScope(origin, out);
      out->append(",\"spans\":[");
      for (size_t j = 0; j < indexes.size(); ++j) {
        if (j) out->push_back(',');
        AppendSpan(*spans[indexes[j]], out);
      }
      out->append("]}");
    }
    out->append("]}");
  }
  out->append("]}");
}

nlohmann::json ExportRequestJson(const std::vector<SpanPtr>& spans) {
  return nlohmann::json::parse(EncodeExportRequest(spans));
}

nlohmann::json AnyValueJson(const AttributeValue& value) {
  std::string out;
  AppendAnyValue(value, &out);
  return nlohmann::json::parse(out);
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kiln::trace
