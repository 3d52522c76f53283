#include "http_provider.h"

#include <string>
#include <utility>

#include "kiln/base/log.h"

namespace kiln::llm {
namespace {

using nlohmann::json;

Code CodeForHttpStatus(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return Code::kInvalidArgument;
    case 401:
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 408:
      return Code::kDeadlineExceeded;
    case 429:
      return Code::kResourceExhausted;
    default:
      return status >= 500 ? Code::kUnavailable : Code::kFailedPrecondition;
  }
}

// The provider's error kind and message from the documented error bodies:
// OpenAI {"error":{"message","type","code"}}, Anthropic {"type":"error","error":{"type","message"}},
// Gemini {"error":{"code":int,"message","status"}}, and {"error":"text"} from some compat servers.
void ParseErrorBody(const std::string& body, std::string* kind, std::string* message) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_string()) {
      *message = e.get<std::string>();
      return;
    }
    if (e.is_object()) {
      *message = StrOr(e, "message");
      for (const char* k : {"code", "status", "type"}) {
        if (e.contains(k) && e[k].is_string() && !e[k].get<std::string>().empty()) {
          *kind = e[k].get<std::string>();
          break;
        }
      }
      if (!message->empty()) return;
    }
  }
  *message = body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

class HttpProvider final : public Provider {
 public:
  HttpProvider(HttpProviderConfig config, std::unique_ptr<WireFormat> wire)
      : Provider(config.provider_name, config.model_string, config.model),
        config_(std::move(config)),
        wire_(std::move(wire)),
        transport_(config_.options.transport),
        url_(wire_->Url(config_.base_url, config_.model)) {
    ParseServer(url_, &host_, &port_);
  }

 protected:
  std::string_view operation_name() const override { return wire_->operation_name(); }

  Result<ChatResponse> ChatImpl(const ChatRequest& request, CallInfo& info) override {
    info.server_address = host_;
    info.server_port = port_;
    Result<ChatResponse> r = ChatUnredacted(request, info);
    if (r.ok()) return r;
    if (info.error_type.empty()) info.error_type = std::string(CodeName(r.status().code()));
    return Status(r.status().code(), Redact(r.status().message(), config_.api_key));
  }

 private:
  Result<ChatResponse> ChatUnredacted(const ChatRequest& request, CallInfo& info) {
    KILN_ASSIGN_OR_RETURN(json body, wire_->BuildBody(config_.model, request));
    const bool streamed = static_cast<bool>(request.on_text);
    if (streamed) wire_->EnableStreaming(body);
    HttpRequest http;
    http.url = streamed ? wire_->StreamUrl(config_.base_url, config_.model) : url_;
    http.headers = {{"Content-Type", "application/json"},
                    {"Accept", streamed ? "text/event-stream" : "application/json"}};
    wire_->AddHeaders(config_.api_key, http.headers);
    http.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    http.connect_timeout = config_.options.connect_timeout;
    http.total_timeout = config_.options.total_timeout;
    if (!streamed) {
      KILN_ASSIGN_OR_RETURN(HttpResponse response, SendWithRetries(http, info, nullptr));
      return Parse(response, info);
    }
    return Stream(http, request, info);
  }

  // One streamed call: SSE bytes -> events -> the wire's reader. The first error (bad event, error event)
  // aborts the transfer and is what the call returns.
  Result<ChatResponse> Stream(HttpRequest& http, const ChatRequest& request, CallInfo& info) {
    const TextSink& on_text = request.on_text;
    SseParser parser;
    std::unique_ptr<StreamReader> reader = wire_->NewStreamReader();
    Status stream_status;
    bool started = false;
    auto feed = [&](const std::vector<SseEvent>& events) {
      for (const SseEvent& e : events) {
        stream_status = ReadEvent(*reader, e, on_text);
        if (!stream_status.ok()) return false;
      }
      return true;
    };
    const std::function<bool()>& cancelled = request.cancelled;
    http.on_body_chunk = [&](std::string_view chunk) {
      started = true;
      if (cancelled && cancelled()) {
        stream_status = FailedPrecondition("cancelled");
        return false;
      }
      std::vector<SseEvent> events;
      stream_status = parser.Feed(chunk, events);
      return stream_status.ok() && feed(events);
    };
    Result<HttpResponse> sent = SendWithRetries(http, info, &started);
    if (!stream_status.ok()) return StreamFailure(stream_status, http.url, info);
    if (!sent.ok()) return sent.status();
    if (!feed(parser.Finish())) return StreamFailure(stream_status, http.url, info);
    Result<ChatResponse> r = reader->Finish();
    if (!r.ok()) return StreamFailure(r.status(), http.url, info);
    return r;
  }

  static Status ReadEvent(StreamReader& reader, const SseEvent& e, const TextSink& on_text) {
    try {
      return reader.OnEvent(e, on_text);
    } catch (const json::exception& ex) {
      return Internal(std::string("unexpected event shape: ") + ex.what() +
                      "; event data starts: " + e.data.substr(0, 200));
    } catch (const MalformedResponse& ex) {
      return Internal(std::string("unexpected event shape: ") + ex.what());
    }
  }

  Status StreamFailure(const Status& s, const std::string& url, CallInfo& info) {
    if (s.code() == Code::kInternal) {
      info.error_type = "malformed_response";
      return Internal(config_.label + ": malformed event stream from " + url + ": " + s.message());
    }
    info.error_type = s.code() == Code::kResourceExhausted    ? "stream_too_large"
                      : s.code() == Code::kFailedPrecondition ? "cancelled"
                                                              : "stream_error";
    return s.WithContext(config_.label);
  }

  // `started` (streamed calls): set once response body arrived; such a call is not retried, since its text
  // has already been handed out.
  Result<HttpResponse> SendWithRetries(const HttpRequest& http, CallInfo& info, const bool* started) {
    const RetryPolicy& policy = config_.options.retry;
    for (int retries = 0;; ++retries) {
      info.attempts = retries + 1;
      Result<HttpResponse> r = transport_->Send(http);
      const HttpResponse* resp = r.ok() ? &r.value() : nullptr;
      if (resp) info.http_status = resp->status;
      if (resp && resp->status >= 200 && resp->status < 300) return r;
      if (started != nullptr && *started && resp == nullptr) {
        info.error_type = r.status().code() == Code::kDeadlineExceeded ? "timeout" : "connection_error";
        return Status(r.status().code(), config_.label + ": stream broke off: " + r.status().message());
      }
      RetryDecision d = DecideRetry(policy, retries, resp, r.status());
      if (!d.retry || retries >= policy.max_retries) return Failure(r, d, info);
      log::Info(Redact(config_.label + ": " + Describe(r) + "; retry " + std::to_string(retries + 1) + "/" +
                           std::to_string(policy.max_retries) + " in " + std::to_string(d.delay.count()) +
                           " ms",
                       config_.api_key));
      SleepFor(policy, d.delay);
    }
  }

  static std::string Describe(const Result<HttpResponse>& r) {
    return r.ok() ? "HTTP " + std::to_string(r->status) : r.status().message();
  }

  Status Failure(const Result<HttpResponse>& r, const RetryDecision& d, CallInfo& info) {
    std::string suffix = info.attempts > 1 ? " (after " + std::to_string(info.attempts) + " attempts)" : "";
    if (d.hint_too_long) suffix += " (server asked to retry after more than the cap; not retried)";
    if (!r.ok()) {
      info.error_type = r.status().code() == Code::kDeadlineExceeded ? "timeout" : "connection_error";
      return Status(r.status().code(), config_.label + ": " + r.status().message() + suffix);
    }
    Status s = HttpErrorStatus(config_.label, r.value(), &info.error_type);
    return Status(s.code(), s.message() + suffix);
  }

  Result<ChatResponse> Parse(const HttpResponse& response, CallInfo& info) {
    json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    std::string what = "response is not a JSON object";
    if (j.is_object()) {
      try {
        Result<ChatResponse> r = wire_->ParseBody(j);
        if (r.ok()) return r;
        if (r.status().code() != Code::kInternal) return r.status().WithContext(config_.label);
        what = r.status().message();
      } catch (const json::exception& e) {
        what = std::string("unexpected response shape: ") + e.what();
      } catch (const MalformedResponse& e) {
        what = std::string("unexpected response shape: ") + e.what();
      }
    }
    info.error_type = "malformed_response";
    std::string head = response.body.substr(0, 200);
    return Internal(config_.label + ": malformed response from " + url_ + ": " + what +
                    "; body starts: " + head);
  }

  HttpProviderConfig config_;
  std::unique_ptr<WireFormat> wire_;
  std::shared_ptr<HttpTransport> transport_;
  std::string url_;
  std::string host_;
  int port_ = 0;
};

}  // namespace

Status HttpErrorStatus(std::string_view label, const HttpResponse& response, std::string* error_type) {
  std::string kind, message;
  ParseErrorBody(response.body, &kind, &message);
  *error_type = kind.empty() ? std::to_string(response.status) : kind;
  std::string text = std::string(label) + ": " + std::to_string(response.status);
  if (!kind.empty()) text += " " + kind;
  text += ": " + (message.empty() ? std::string("(empty error body)") : message);
  return Status(CodeForHttpStatus(response.status), std::move(text));
}

std::string Redact(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "[REDACTED]");
    pos += 10;
  }
  return text;
}

std::unique_ptr<Provider> MakeHttpProvider(HttpProviderConfig config, std::unique_ptr<WireFormat> wire) {
  return std::make_unique<HttpProvider>(std::move(config), std::move(wire));
}

}  // namespace kiln::llm
