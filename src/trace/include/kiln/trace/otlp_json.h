// The OTLP/HTTP JSON encoding of spans (opentelemetry-proto's JSON mapping of ExportTraceServiceRequest):
// lowerCamelCase keys, trace/span ids as lower-case hex, 64-bit integers (times, intValue) as decimal
// strings, enums as integers, AnyValue as {stringValue|boolValue|intValue|doubleValue|arrayValue{values}}.
// Strings are emitted as valid UTF-8 (invalid bytes become U+FFFD) so arbitrary program output is safe.
// Non-finite doubles use the proto3 JSON strings "NaN", "Infinity", "-Infinity".
// Pure functions, thread-safe. The encoder writes text directly (no DOM): it runs once per exported span.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/trace/exporter.h"
#include "kiln/trace/span.h"

namespace kiln::trace {

// Appends {"resourceSpans":[...]} for `spans` to *out: grouped by resource, then by instrumentation scope,
// in first-seen order; spans keep their order within a scope.
void AppendExportRequest(const std::vector<SpanPtr>& spans, std::string* out);
inline std::string EncodeExportRequest(const std::vector<SpanPtr>& spans) {
  std::string out;
  AppendExportRequest(spans, &out);
  return out;
}
// The same request parsed into a DOM, for tests and tools.
nlohmann::json ExportRequestJson(const std::vector<SpanPtr>& spans);
// One AnyValue, e.g. {"intValue":"42"} (parsed DOM of what the encoder writes).
nlohmann::json AnyValueJson(const AttributeValue& value);
// Compact serialization of a DOM that never throws: invalid UTF-8 in strings is replaced by U+FFFD.
std::string DumpJson(const nlohmann::json& json);

}  // namespace kiln::trace
