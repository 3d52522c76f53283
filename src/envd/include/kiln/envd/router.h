// envd's HTTP surface: an explicit route table (method + path -> handler) with the access-token check,
// plus the thin adapters that turn Connect-RPC and REST requests into calls on the transport-independent
// services. New routes (the code interpreter's /execute, /contexts) are added with Router::Add.
//
// Thread-safety: add every route before serving; Handle is then safe to call concurrently.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "kiln/base/status.h"
#include "kiln/envd/json_util.h"
#include "kiln/envd/process_service.h"
#include "kiln/protocol/http.h"
#include "kiln/protocol/http_server.h"

namespace kiln::envd {

using RouteHandler = std::function<void(http::Request& request, http::ResponseWriter& writer)>;

class Router {
 public:
  // `access_token` empty: no route requires one.
  explicit Router(std::string access_token) : access_token_(std::move(access_token)) {}

  // `requires_token` false exempts the route from X-Access-Token (as E2B does for /health and /files).
  void Add(std::string method, std::string path, RouteHandler handler, bool requires_token = true);

  // A route for every path starting with `prefix` (e.g. "/contexts/" for "/contexts/{id}"), consulted when
  // no exact route matches; the longest matching prefix wins.
  void AddPrefix(std::string method, std::string prefix, RouteHandler handler, bool requires_token = true);

  // Dispatches by exact path, then by prefix. Unknown path: Connect-shaped 404 {"code":"unimplemented"} for
  // RPC-looking paths ("/pkg.Service/Method"), else REST 404. Known path, other method: 405. Missing or wrong
  // token: 401 {"code":401,"message":...}. An exception escaping a handler becomes a 500 (if nothing was
  // sent).
  void Handle(http::Request& request, http::ResponseWriter& writer) const;

 private:
  struct Route {
    RouteHandler handler;
    bool requires_token = true;
  };
  bool Authorized(const http::Request& request) const;
  std::string access_token_;
  const Route* Find(const http::Request& request) const;
  std::map<std::pair<std::string, std::string>, Route> routes_;    // (method, path)
  std::map<std::pair<std::string, std::string>, Route> prefixes_;  // (method, prefix)
};

// Serializes JSON for the wire; invalid UTF-8 (e.g. in file names) is replaced rather than throwing.
std::string DumpJson(const Json& j);

// REST replies.
void SendJson(http::ResponseWriter& writer, int status, const Json& body);
// The answer to a request whose body the server refused (413 too large, 408 too slow, 400 malformed): a
// Connect error (resource_exhausted, deadline_exceeded, invalid_argument) on RPC paths, else REST JSON.
http::Response BodyErrorResponse(const http::Request& request, int status, std::string_view message);
// {"code":<http status>,"message":...}, with the status derived from `error` (see RestStatusFor).
void SendRestError(http::ResponseWriter& writer, const Status& error);
// not_found 404, invalid_argument/failed_precondition 400, permission_denied 403, already_exists 409,
// resource_exhausted 507 (no space), unimplemented 501, deadline_exceeded 504, unavailable 503, else 500.
int RestStatusFor(Code code);

// Connect-RPC adapters. A unary method gets the JSON request and the HTTP request (for headers).
using UnaryMethod = std::function<Result<Json>(const Json& request, const http::Request& http)>;
using StreamMethod = std::function<Status(const Json& request, const http::Request& http, EventSink& sink)>;
// application/json in and out; errors as Connect error JSON with the mapped HTTP status.
RouteHandler ConnectUnary(UnaryMethod method);
// One request envelope in; a 200 application/connect+json stream of envelopes out, always closed by one
// end-of-stream envelope carrying the method's Status.
RouteHandler ConnectStream(StreamMethod method);

// The user named by `Authorization: Basic base64("<user>:")`, or nullopt without the header.
// A malformed header -> InvalidArgument.
Result<std::optional<std::string>> UsernameFromAuthorization(const http::Request& request);
// Connect-Timeout-Ms and Keepalive-Ping-Interval (default `default_keepalive_seconds`).
Result<StreamOptions> StreamOptionsFrom(const http::Request& request, int default_keepalive_seconds);

}  // namespace kiln::envd
