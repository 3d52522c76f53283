// The model-string factory, the scheme table, and Provider::Chat (the timing/CallInfo wrapper).
#include "kiln/llm/provider.h"

#include <array>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "http_provider.h"
#include "kiln/base/clock.h"
#include "kiln/base/log.h"
#include "kiln/base/strings.h"
#include "kiln/llm/http.h"
#include "kiln/llm/script.h"
#include "wire.h"

namespace kiln::llm {
namespace {

struct Scheme {
  std::string_view prefix;         // e.g. "openai:"
  std::string_view label;          // error-message prefix
  std::string_view provider_name;  // gen_ai.provider.name
  std::string_view key_env;
  std::string_view fallback_key_env;  // consulted when key_env is unset
  bool key_required;
  std::string_view base_env;      // empty: none
  std::string_view default_base;  // empty: must come from the model string or options
  std::unique_ptr<WireFormat> (*make_wire)(const ProviderOptions&);
};

constexpr std::array<Scheme, 5> kSchemes = {{
    {"openai:", "openai", "openai", "OPENAI_API_KEY", "", true, "OPENAI_BASE_URL",
     "https://api.openai.com/v1", [](const ProviderOptions&) { return MakeOpenAiResponsesWire(); }},
    {"openai-chat:", "openai", "openai", "OPENAI_API_KEY", "", true, "OPENAI_BASE_URL",
     "https://api.openai.com/v1", [](const ProviderOptions&) { return MakeOpenAiChatWire(false); }},
    {"compat:", "compat", "openai", "KILN_COMPAT_API_KEY", "OPENAI_API_KEY", false, "", "",
     [](const ProviderOptions&) { return MakeOpenAiChatWire(true); }},
    {"gemini:", "gemini", "gcp.gemini", "GEMINI_API_KEY", "", true, "GEMINI_BASE_URL",
     "https://generativelanguage.googleapis.com", [](const ProviderOptions&) { return MakeGeminiWire(); }},
    {"anthropic:", "anthropic", "anthropic", "ANTHROPIC_API_KEY", "", true, "ANTHROPIC_BASE_URL",
     "https://api.anthropic.com",
     [](const ProviderOptions& o) { return MakeAnthropicWire(o.anthropic_version); }},
}};

std::optional<std::string> GetEnv(const ProviderOptions& o, std::string_view name) {
  if (name.empty()) return std::nullopt;
  if (o.env) return o.env(std::string(name));
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string TrimSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// Splits "MODEL@BASE_URL" at the "@http://" / "@https://" that starts the URL (models may contain '@').
bool SplitCompat(std::string_view rest, std::string* model, std::string* base) {
  for (std::string_view marker : {"@http://", "@https://"}) {
    size_t at = rest.find(marker);
    if (at == std::string_view::npos) continue;
    *model = std::string(rest.substr(0, at));
    *base = std::string(rest.substr(at + 1));
    return true;
  }
  *model = std::string(rest);
  return false;
}

Result<std::string> BaseUrl(const Scheme& s, const ProviderOptions& o, std::string from_model_string) {
  std::string base = !o.base_url.empty() ? o.base_url : std::move(from_model_string);
  if (base.empty()) base = GetEnv(o, s.base_env).value_or(std::string(s.default_base));
  if (base.empty()) {
    return InvalidArgument(
        "compat:MODEL@BASE_URL needs a base URL, e.g. compat:llama3.2@http://localhost:11434/v1");
  }
  std::string host;
  int port = 0;
  if (!ParseServer(base, &host, &port)) {
    return InvalidArgument(std::string(s.label) + ": base URL \"" + base + "\" is not an http(s) URL");
  }
  return TrimSlashes(std::move(base));
}

Result<std::string> ApiKey(const Scheme& s, const ProviderOptions& o, std::string_view model_string) {
  if (!o.api_key.empty()) return o.api_key;
  if (auto k = GetEnv(o, s.key_env)) return *k;
  if (auto k = GetEnv(o, s.fallback_key_env)) return *k;
  if (!s.key_required) return std::string();
  return FailedPrecondition(std::string(model_string) + " needs an API key: set the environment variable " +
                            std::string(s.key_env) + " (or ProviderOptions::api_key)");
}

Result<std::unique_ptr<Provider>> MakeHttp(const Scheme& s, std::string_view model_string,
                                           const ProviderOptions& o) {
  std::string model, url_in_string;
  std::string_view rest = model_string.substr(s.prefix.size());
  if (s.prefix == "compat:") {
    SplitCompat(rest, &model, &url_in_string);
  } else {
    model = std::string(rest);
  }
  if (model.empty())
    return InvalidArgument("model string \"" + std::string(model_string) + "\" names no model");
  KILN_ASSIGN_OR_RETURN(std::string base, BaseUrl(s, o, std::move(url_in_string)));
  KILN_ASSIGN_OR_RETURN(std::string key, ApiKey(s, o, model_string));
  HttpProviderConfig c{std::string(s.label),
                       std::string(s.provider_name),
                       std::string(model_string),
                       model,
                       std::move(base),
                       std::move(key),
                       o};
  if (!c.options.transport) {
    // The first real provider is where libcurl is first needed; a missing libcurl fails here, not mid-run.
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<HttpTransport> curl, MakeCurlTransport());
    c.options.transport = std::move(curl);
  }
  return MakeHttpProvider(std::move(c), s.make_wire(o));
}

}  // namespace

Provider::Provider(std::string provider_name, std::string model_string, std::string request_model)
    : provider_name_(std::move(provider_name)),
      model_string_(std::move(model_string)),
      request_model_(std::move(request_model)) {}

Result<ChatResponse> Provider::Chat(const ChatRequest& request, CallInfo* out) {
  CallInfo info;
  info.operation_name = std::string(operation_name());
  info.provider_name = provider_name_;
  info.request_model = request_model_;
  int64_t start = MonotonicNanos();
  Result<ChatResponse> r = Internal("unreachable");
  try {
    if (request.cancelled && request.cancelled()) {
      info.error_type = "cancelled";
      r = FailedPrecondition(model_string_ + ": cancelled");
    } else {
      r = ChatImpl(request, info);
    }
  } catch (const std::exception& e) {  // the catch barrier: no exception leaves the module
    r = Internal(model_string_ + ": unexpected exception: " + e.what());
  }
  info.duration = std::chrono::nanoseconds(MonotonicNanos() - start);
  if (!r.ok() && info.error_type.empty()) info.error_type = std::string(CodeName(r.status().code()));
  if (r.ok()) r->call = info;
  if (out != nullptr) *out = info;
  log::Debug(model_string_ + ": " + info.operation_name + " attempts=" + std::to_string(info.attempts) +
             " status=" + (r.ok() ? "ok" : r.status().ToString()));
  return r;
}

std::string_view ModelStringHelp() {
  return "openai:MODEL (OpenAI Responses API, key OPENAI_API_KEY)\n"
         "openai-chat:MODEL (OpenAI Chat Completions, key OPENAI_API_KEY)\n"
         "compat:MODEL@BASE_URL (OpenAI-compatible server, e.g. compat:llama3.2@http://localhost:11434/v1)\n"
         "gemini:MODEL (Gemini generateContent, key GEMINI_API_KEY)\n"
         "anthropic:MODEL (Anthropic Messages, key ANTHROPIC_API_KEY)\n"
         "script:FILE (replays scripted responses from FILE)";
}

Result<std::unique_ptr<Provider>> MakeProvider(std::string_view model_string,
                                               const ProviderOptions& options) {
  std::string from_env;
  if (model_string.empty()) {
    from_env = GetEnv(options, "KILN_MODEL").value_or("");
    if (from_env.empty()) {
      return InvalidArgument("no model given and KILN_MODEL is not set; accepted forms:\n" +
                             std::string(ModelStringHelp()));
    }
    model_string = from_env;
  }
  if (StartsWith(model_string, "script:")) return MakeScriptProvider(std::string(model_string.substr(7)));
  for (const Scheme& s : kSchemes) {
    if (StartsWith(model_string, s.prefix)) return MakeHttp(s, model_string, options);
  }
  return InvalidArgument("unknown model string \"" + std::string(model_string) + "\"; accepted forms:\n" +
                         std::string(ModelStringHelp()));
}

}  // namespace kiln::llm
