// HttpTransport over libcurl: one easy handle per request (handles are cheap; no shared state to lock).
// libcurl is reached through the CurlApi table (loaded with dlopen on first use), not linked.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/base/curl_api.h"
#include "kiln/base/strings.h"
#include "kiln/llm/http.h"

namespace kiln::llm {
namespace {

using EasyPtr = std::unique_ptr<CURL, decltype(CurlApi::easy_cleanup)>;
using SlistPtr = std::unique_ptr<curl_slist, decltype(CurlApi::slist_free_all)>;

// Where body bytes go: a 2xx response to a streaming request goes to the chunk callback, anything else is
// collected (error bodies are small and read whole).
struct BodySink {
  const CurlApi* curl = nullptr;
  CURL* easy = nullptr;
  const std::function<bool(std::string_view)>* on_chunk = nullptr;
  std::string* body = nullptr;
  bool aborted = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  if (sink->on_chunk != nullptr && *sink->on_chunk) {
    long status = 0;
    sink->curl->easy_getinfo(sink->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if ((*sink->on_chunk)(std::string_view(data, size * n))) return size * n;
      sink->aborted = true;
      return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
    }
  }
  sink->body->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<HttpHeaders*>(user);
  std::string_view line(data, size * n);
  if (StartsWith(line, "HTTP/")) headers->clear();  // a new response (after 100 Continue): start over
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    headers->emplace_back(ToLower(Trim(line.substr(0, colon))), std::string(Trim(line.substr(colon + 1))));
  }
  return size * n;
}

Status CurlStatus(const CurlApi& curl, CURLcode rc, const std::string& url, const char* detail) {
  std::string msg = std::string("POST ") + url + ": " + curl.easy_strerror(rc);
  if (detail[0] != '\0') msg += std::string(" (") + detail + ")";
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceeded(msg);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return InvalidArgument(msg);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return Unavailable(msg);
    default:
      return Internal(msg);
  }
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(const CurlApi& curl) : curl_(curl) {}

  Result<HttpResponse> Send(const HttpRequest& req) override {
    EasyPtr easy(curl_.easy_init(), curl_.easy_cleanup);
    if (!easy) return Internal("curl_easy_init failed");
    SlistPtr headers(nullptr, curl_.slist_free_all);
    std::vector<std::string> lines = {"Expect:"};  // no 100-continue round trip
    for (const auto& [name, value] : req.headers) lines.push_back(name + ": " + value);
    for (const std::string& line : lines) {
      curl_slist* next = curl_.slist_append(headers.get(), line.c_str());
      if (next == nullptr) return Internal("curl_slist_append failed");
      (void)headers.release();
      headers.reset(next);
    }
    HttpResponse resp;
    char err[CURL_ERROR_SIZE] = {0};
    CURL* c = easy.get();
    BodySink sink{&curl_, c, &req.on_body_chunk, &resp.body, false};
    SetOptions(c, req, headers.get(), err, &sink, &resp);
    CURLcode rc = curl_.easy_perform(c);
    if (sink.aborted) return Internal("POST " + req.url + ": response stream aborted by the receiver");
    if (rc != CURLE_OK) return CurlStatus(curl_, rc, req.url, err);
    long status = 0;
    curl_.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    resp.status = static_cast<int>(status);
    return resp;
  }

 private:
  // Arguments go through the variadic easy_setopt with the types libcurl reads them as: long for numbers,
  // curl_off_t for *_LARGE, pointers otherwise.
  void SetOptions(CURL* c, const HttpRequest& req, curl_slist* headers, char* err, BodySink* sink,
                  HttpResponse* resp) const {
    curl_.easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_.easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method == "POST") {
      curl_.easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
    curl_.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_.easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
    curl_.easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.total_timeout.count()));
    curl_.easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_.easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_.easy_setopt(c, CURLOPT_WRITEDATA, sink);
    curl_.easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_.easy_setopt(c, CURLOPT_HEADERDATA, &resp->headers);
  }

  const CurlApi& curl_;
};

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

Result<std::unique_ptr<HttpTransport>> MakeCurlTransport() {
  Result<const CurlApi*> curl = LoadCurlApi();
  if (!curl.ok()) return curl.status().WithContext("HTTP transport for LLM providers");
  return std::unique_ptr<HttpTransport>(std::make_unique<CurlTransport>(**curl));
}

bool ParseServer(std::string_view url, std::string* host, int* port) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  std::string scheme = ToLower(url.substr(0, sep));
  std::string_view rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  *port = scheme == "https" ? 443 : 80;
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    *port = std::atoi(std::string(rest.substr(colon + 1)).c_str());
    rest = rest.substr(0, colon);
  }
  *host = std::string(rest);
  return !host->empty();
}

}  // namespace kiln::llm
