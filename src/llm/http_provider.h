// Internal: a Provider that speaks one WireFormat over an HttpTransport, with retries and error mapping.
#pragma once

#include <memory>
#include <string>

#include "kiln/llm/provider.h"
#include "wire.h"

namespace kiln::llm {

struct HttpProviderConfig {
  std::string label;          // prefix of error messages: "openai", "compat", "anthropic", "gemini"
  std::string provider_name;  // gen_ai.provider.name
  std::string model_string;   // as given to MakeProvider
  std::string model;          // sent to the server
  std::string base_url;       // no trailing slash
  std::string api_key;        // may be empty (compat)
  ProviderOptions options;    // options.transport must be set (MakeProvider supplies libcurl's)
};

std::unique_ptr<Provider> MakeHttpProvider(HttpProviderConfig config, std::unique_ptr<WireFormat> wire);

// Maps a non-2xx response to a Status "<label>: <status> <kind>: <provider message>" and sets error_type.
Status HttpErrorStatus(std::string_view label, const HttpResponse& response, std::string* error_type);

// Replaces every occurrence of `secret` (if non-empty) in `text` with "[REDACTED]".
std::string Redact(std::string text, const std::string& secret);

}  // namespace kiln::llm
