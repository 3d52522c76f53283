// Tracing configuration from the standard OpenTelemetry environment variables (plus KILN_TRACE_FILE).
#include <cstdlib>

#include "kiln/base/log.h"
#include "kiln/base/strings.h"
#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

std::string Get(const EnvLookup& env, std::string_view name) {
  return env(name).value_or("");
}

bool IsTrue(const EnvLookup& env, std::string_view name) {
  return EqualsIgnoreCase(Trim(Get(env, name)), "true");
}

// "k=v,k2=v2" (W3C Baggage-like): keys and values trimmed, values percent-decoded, empty entries skipped.
Result<KeyValues> ParseKeyValues(std::string_view var, std::string_view text) {
  KeyValues out;
  for (const std::string& item : Split(text, ',')) {
    std::string_view entry = Trim(item);
    if (entry.empty()) continue;
    size_t eq = entry.find('=');
    std::string_view key = eq == std::string_view::npos ? "" : Trim(entry.substr(0, eq));
    std::string value;
    if (key.empty() || !UrlDecode(Trim(entry.substr(eq + 1)), &value)) {
      return InvalidArgument(std::string(var) + ": malformed entry \"" + std::string(entry) +
                             "\" (expected key=value, value percent-encoded)");
    }
    out.emplace_back(std::string(key), std::move(value));
  }
  return out;
}

// Reads a positive integer variable into *out; leaves it unchanged when unset.
template <typename T>
Status ReadPositive(const EnvLookup& env, std::string_view var, T* out) {
  std::string text(Trim(Get(env, var)));
  if (text.empty()) return Status::Ok();
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || v <= 0)
    return InvalidArgument(std::string(var) + ": expected a positive integer, got \"" + text + "\"");
  *out = T(v);
  return Status::Ok();
}

Status ReadOtlp(const EnvLookup& env, OtlpHttpOptions* o) {
  std::string traces = std::string(Trim(Get(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")));
  std::string base = std::string(Trim(Get(env, "OTEL_EXPORTER_OTLP_ENDPOINT")));
  if (!traces.empty()) {
    o->endpoint = traces;
  } else if (!base.empty()) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    o->endpoint = base + "/v1/traces";
  }
  for (const char* var : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    KILN_ASSIGN_OR_RETURN(KeyValues headers, ParseKeyValues(var, Get(env, var)));
    for (auto& header : headers) {  // the signal-specific list overrides the generic one, key by key
      std::erase_if(o->headers, [&](const auto& h) { return EqualsIgnoreCase(h.first, header.first); });
      o->headers.push_back(std::move(header));
    }
  }
  KILN_RETURN_IF_ERROR(ReadPositive(env, "OTEL_EXPORTER_OTLP_TIMEOUT", &o->request_timeout));
  KILN_RETURN_IF_ERROR(ReadPositive(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", &o->request_timeout));
  KILN_RETURN_IF_ERROR(ReadPositive(env, "OTEL_BSP_SCHEDULE_DELAY", &o->schedule_delay));
  KILN_RETURN_IF_ERROR(ReadPositive(env, "OTEL_BSP_MAX_QUEUE_SIZE", &o->max_queue_size));
  KILN_RETURN_IF_ERROR(ReadPositive(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &o->max_batch_size));
  o->max_batch_size = std::min(o->max_batch_size, o->max_queue_size);
  return Status::Ok();
}

Status ReadResource(const EnvLookup& env, Resource* r) {
  KILN_ASSIGN_OR_RETURN(KeyValues attrs,
                        ParseKeyValues("OTEL_RESOURCE_ATTRIBUTES", Get(env, "OTEL_RESOURCE_ATTRIBUTES")));
  std::string service(Trim(Get(env, "OTEL_SERVICE_NAME")));
  for (const auto& [k, v] : attrs) {
    if (k == "service.name" && service.empty()) service = v;
  }
  r->attributes.push_back(Attribute{"service.name", service.empty() ? std::string("kiln") : service});
  for (auto& [k, v] : attrs) {
    if (k != "service.name") r->attributes.push_back(Attribute{k, v});
  }
  return Status::Ok();
}

Status ReadExporters(const EnvLookup& env, TraceConfig* c) {
  std::optional<std::string> list = env("OTEL_TRACES_EXPORTER");
  c->jsonl_path = std::string(Trim(Get(env, "KILN_TRACE_FILE")));
  if (!list) {  // Kiln default: export over OTLP only when an endpoint was configured
    c->otlp = env("OTEL_EXPORTER_OTLP_ENDPOINT").has_value() ||
              env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").has_value();
    return Status::Ok();
  }
  bool jsonl = false;
  for (const std::string& item : Split(*list, ',')) {
    std::string name = ToLower(Trim(item));
    if (name == "otlp") {
      c->otlp = true;
    } else if (name == "console") {
      c->console = true;
    } else if (name == "jsonl") {
      jsonl = true;
    } else if (name != "none" && !name.empty()) {
      return InvalidArgument("OTEL_TRACES_EXPORTER: unknown exporter \"" + name +
                             "\" (expected otlp, console, jsonl or none)");
    }
  }
  if (jsonl && c->jsonl_path.empty()) {
    return InvalidArgument("OTEL_TRACES_EXPORTER lists jsonl but KILN_TRACE_FILE is not set");
  }
  return Status::Ok();
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Result<TraceConfig> ConfigFromEnvironment(const EnvLookup& env) {
  TraceConfig c;
  c.capture_content = IsTrue(env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT");
  KILN_RETURN_IF_ERROR(ReadResource(env, &c.resource));
  KILN_RETURN_IF_ERROR(ReadOtlp(env, &c.otlp_options));
  if (IsTrue(env, "OTEL_SDK_DISABLED")) return c;  // parsed (so typos still surface) but nothing enabled
  KILN_RETURN_IF_ERROR(ReadExporters(env, &c));
  return c;
}

Result<std::shared_ptr<Provider>> MakeProvider(const TraceConfig& config, FILE* console_out) {
  ProviderOptions opts;
  opts.resource = config.resource;
  opts.capture_content = config.capture_content;
  if (config.otlp) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Exporter> e, MakeOtlpHttpExporter(config.otlp_options));
    opts.exporters.push_back(std::move(e));
  }
  if (!config.jsonl_path.empty()) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Exporter> e, MakeJsonlExporter(config.jsonl_path));
    opts.exporters.push_back(std::move(e));
  }
  if (config.console) opts.exporters.push_back(MakeConsoleExporter(console_out));
  return Provider::Create(std::move(opts));
}

Status InstallFromEnvironment(const EnvLookup& env, bool force_console, FILE* console_out) {
  KILN_ASSIGN_OR_RETURN(TraceConfig config, ConfigFromEnvironment(env));
  config.console = config.console || force_console;
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Provider> provider, MakeProvider(config, console_out));
  if (provider->enabled()) log::Debug("trace: tracing enabled");
  SetGlobalProvider(std::move(provider));
  return Status::Ok();
}

}  // namespace kiln::trace
