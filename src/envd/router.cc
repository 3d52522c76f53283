#include "kiln/envd/router.h"

#include <charconv>
#include <exception>

#include "kiln/base/log.h"
#include "kiln/base/strings.h"
#include "kiln/protocol/connect.h"

namespace kiln::envd {
namespace {

// Compares in time independent of where the strings differ, so the token cannot be guessed byte by byte.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

// "/process.Process/Start": the shape of a Connect-RPC path.
bool LooksLikeRpc(std::string_view path) {
  size_t slash = path.find('/', 1);
  return path.size() > 1 && slash != std::string_view::npos &&
         path.substr(1, slash - 1).find('.') != std::string_view::npos;
}

void SendConnectError(http::ResponseWriter& writer, int http_status, const Status& error) {
  http::Response response;
  response.status = http_status;
  response.headers.Set("Content-Type", "application/json");
  response.body = connect::ErrorJson(error);
  (void)writer.Send(response);
}

bool HasContentType(const http::Request& request, std::string_view want) {
  std::string_view type = request.headers.Get("Content-Type").value_or("");
  type = Trim(type.substr(0, type.find(';')));
  return EqualsIgnoreCase(type, want);
}

Result<int64_t> ParseHeaderInt(const http::Request& request, std::string_view name) {
  auto value = request.headers.Get(name);
  if (!value) return int64_t{-1};
  std::string_view v = Trim(*value);
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < 0 || v.empty())
    return InvalidArgument("invalid " + std::string(name) + " header");
  return out;
}

// The EventSink of one Connect stream: each message becomes one flushed envelope.
class EnvelopeSink : public EventSink {
 public:
  explicit EnvelopeSink(http::ResponseWriter& writer) : writer_(writer) {}
  Status Send(const Json& message) override {
    return writer_.Write(connect::EncodeEnvelope(0, DumpJson(message)));
  }
  bool ClientGone() override { return writer_.PeerClosed(); }

 private:
  http::ResponseWriter& writer_;
};

Result<Json> ReadRequestEnvelope(const std::string& body) {
  connect::EnvelopeReader reader;
  reader.Feed(body);
  connect::Envelope envelope;
  Status error;
  auto outcome = reader.Next(&envelope, &error);
  if (outcome == connect::EnvelopeReader::Outcome::kError) return InvalidArgument(error.message());
  // A second envelope or trailing bytes would be silently ignored: a confused or smuggling client.
  if (outcome != connect::EnvelopeReader::Outcome::kEnvelope || envelope.flags != 0 || reader.pending() != 0)
    return InvalidArgument("the request body must be exactly one Connect envelope");
  return ParseRequestJson(envelope.payload);
}

}  // namespace

std::string DumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void Router::Add(std::string method, std::string path, RouteHandler handler, bool requires_token) {
  routes_[{std::move(method), std::move(path)}] = Route{std::move(handler), requires_token};
}

void Router::AddPrefix(std::string method, std::string prefix, RouteHandler handler, bool requires_token) {
  prefixes_[{std::move(method), std::move(prefix)}] = Route{std::move(handler), requires_token};
}

const Router::Route* Router::Find(const http::Request& request) const {
  auto it = routes_.find({request.method, request.path});
  if (it != routes_.end()) return &it->second;
  const Route* best = nullptr;
  size_t best_len = 0;
  for (const auto& [key, route] : prefixes_) {
    if (key.first == request.method && StartsWith(request.path, key.second) && key.second.size() > best_len) {
      best = &route;
      best_len = key.second.size();
    }
  }
  return best;
}

bool Router::Authorized(const http::Request& request) const {
  if (access_token_.empty()) return true;
  auto token = request.headers.Get("X-Access-Token");
  return token && ConstantTimeEquals(*token, access_token_);
}

void Router::Handle(http::Request& request, http::ResponseWriter& writer) const {
  const Route* route = Find(request);
  if (route == nullptr) {
    bool path_known = false;
    for (const auto& [key, route] : routes_) path_known |= key.second == request.path;
    if (path_known) return SendJson(writer, 405, {{"code", 405}, {"message", "method not allowed"}});
    if (LooksLikeRpc(request.path))
      return SendConnectError(writer, 404, Unimplemented("unknown method " + request.path));
    return SendJson(writer, 404, {{"code", 404}, {"message", "no route for " + request.path}});
  }
  if (route->requires_token && !Authorized(request)) {
    return SendJson(writer, 401,
                    {{"code", 401}, {"message", "unauthorized access, please provide a valid access token"}});
  }
  try {
    route->handler(request, writer);
  } catch (const std::exception& e) {
    // A library exception (nlohmann) must not take envd down; answer 500 if nothing was sent yet.
    log::Error(std::string("envd: handler for ") + request.path + " threw: " + e.what());
    if (!writer.Send({500, {}, DumpJson({{"code", 500}, {"message", e.what()}})}).ok()) writer.Abort();
  }
}

http::Response BodyErrorResponse(const http::Request& request, int status, std::string_view message) {
  Code code = status == 413   ? Code::kResourceExhausted
              : status == 408 ? Code::kDeadlineExceeded
              : status == 503 ? Code::kUnavailable
                              : Code::kInvalidArgument;
  http::Response response;
  response.status = status;
  response.headers.Set("Content-Type", "application/json");
  const std::string text =
      std::string(message) + (status == 413 ? " (request bodies are capped; see --max-request-kib)" : "");
  response.body = LooksLikeRpc(request.path) ? connect::ErrorJson(Status(code, text))
                                             : DumpJson({{"code", status}, {"message", text}});
  return response;
}

void SendJson(http::ResponseWriter& writer, int status, const Json& body) {
  http::Response response;
  response.status = status;
  response.headers.Set("Content-Type", "application/json");
  response.body = DumpJson(body);
  (void)writer.Send(response);
}

int RestStatusFor(Code code) {
  switch (code) {
    case Code::kNotFound:
      return 404;
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
      return 400;
    case Code::kPermissionDenied:
      return 403;
    case Code::kAlreadyExists:
      return 409;
    case Code::kResourceExhausted:
      return 507;
    case Code::kUnimplemented:
      return 501;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void SendRestError(http::ResponseWriter& writer, const Status& error) {
  int status = RestStatusFor(error.code());
  SendJson(writer, status, {{"code", status}, {"message", error.message()}});
}

RouteHandler ConnectUnary(UnaryMethod method) {
  return [method = std::move(method)](http::Request& request, http::ResponseWriter& writer) {
    if (!HasContentType(request, "application/json")) {
      return SendConnectError(writer, 415,
                              InvalidArgument("only the Connect JSON codec (application/json) is supported"));
    }
    Result<Json> response = ParseRequestJson(request.body);
    if (response.ok()) response = method(*response, request);
    if (!response.ok()) {
      return SendConnectError(writer, connect::HttpStatusFor(response.status().code()), response.status());
    }
    http::Response ok;
    ok.headers.Set("Content-Type", "application/json");
    ok.body = DumpJson(*response);
    (void)writer.Send(ok);
  };
}

RouteHandler ConnectStream(StreamMethod method) {
  return [method = std::move(method)](http::Request& request, http::ResponseWriter& writer) {
    if (!HasContentType(request, "application/connect+json")) {
      return SendConnectError(
          writer, 415,
          InvalidArgument("only the Connect JSON codec (application/connect+json) is supported"));
    }
    http::Headers headers;
    headers.Set("Content-Type", "application/connect+json");
    if (!writer.StartStream(200, headers).ok()) return writer.Abort();
    EnvelopeSink sink(writer);
    Result<Json> parsed = ReadRequestEnvelope(request.body);
    Status status = parsed.ok() ? method(*parsed, request, sink) : parsed.status();
    std::string end = connect::EncodeEnvelope(connect::kFlagEndStream, connect::EndStreamJson(status));
    if (!writer.WriteAndFinish(end).ok()) return writer.Abort();
  };
}

Result<std::optional<std::string>> UsernameFromAuthorization(const http::Request& request) {
  auto header = request.headers.Get("Authorization");
  if (!header) return std::optional<std::string>();
  std::string_view value = Trim(*header);
  if (value.size() < 6 || !EqualsIgnoreCase(value.substr(0, 6), "Basic ")) {
    return InvalidArgument("the Authorization header must be Basic");
  }
  std::string decoded;
  if (!Base64Decode(Trim(value.substr(6)), &decoded)) return InvalidArgument("malformed Basic credentials");
  return std::optional<std::string>(decoded.substr(0, decoded.find(':')));
}

Result<StreamOptions> StreamOptionsFrom(const http::Request& request, int default_keepalive_seconds) {
  StreamOptions options;
  KILN_ASSIGN_OR_RETURN(int64_t timeout_ms, ParseHeaderInt(request, "Connect-Timeout-Ms"));
  if (timeout_ms > 0) options.timeout_ms = timeout_ms;
  KILN_ASSIGN_OR_RETURN(int64_t keepalive, ParseHeaderInt(request, "Keepalive-Ping-Interval"));
  options.keepalive_seconds =
      keepalive > 0 ? static_cast<int>(std::min<int64_t>(keepalive, 86400)) : default_keepalive_seconds;
  return options;
}

}  // namespace kiln::envd
