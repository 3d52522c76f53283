// llm::HttpTransport: the seam between provider code and the network.
//
// Providers build an HttpRequest and hand it to a transport; the libcurl implementation does HTTPS (and
// plain HTTP, for local servers and test fakes). Tests may substitute their own transport.
// Thread-safety: Send() may be called from several threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::llm {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;  // sent as given; may carry secrets, so never log them
  std::string body;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds total_timeout{600'000};
  // When set and the response status is 2xx, the body is handed over chunk by chunk as it arrives instead
  // of being collected in HttpResponse::body (which then stays empty); non-2xx bodies are still collected.
  // Returning false aborts the transfer (Send fails with kInternal "aborted by the receiver").
  std::function<bool(std::string_view chunk)> on_body_chunk;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // names lower-cased
  std::string body;
  // The value of the first header named `name` (case-insensitive), or "" if absent.
  std::string Header(std::string_view name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Performs one request. Any HTTP status is a successful Send (the caller interprets it). Errors:
  // kDeadlineExceeded (connect or total timeout), kUnavailable (DNS, connect, TLS, reset: retryable),
  // kInvalidArgument (malformed URL), kInternal (anything else). Messages name the URL, never headers.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// libcurl-backed transport (HTTP and HTTPS only, no redirects, gzip accepted); never null on success.
// libcurl.so.4 is loaded on the first call (see kiln/base/curl_api.h); if it cannot be, fails with
// kFailedPrecondition naming the library and the Debian package to install (libcurl4).
Result<std::unique_ptr<HttpTransport>> MakeCurlTransport();

// Splits "scheme://host[:port]/path" into host and port (default 443 for https, 80 for http).
// Returns false if `url` has no scheme or host.
bool ParseServer(std::string_view url, std::string* host, int* port);

}  // namespace kiln::llm
