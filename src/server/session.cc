#include "session.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "api.h"
#include "kiln/base/clock.h"
#include "kiln/base/json.h"
#include "routing.h"

namespace kiln::server {
namespace {

std::string_view View(beast::string_view s) {
  return std::string_view(s.data(), s.size());
}

std::string ErrorJson(int status, const std::string& message) {
  return ErrorResponse(status, message).body;
}

bool SameSecret(std::string_view sent, const std::string& secret) {
  return sent.size() == secret.size() && CRYPTO_memcmp(sent.data(), secret.data(), sent.size()) == 0;
}

// envd's own rule (e2b-protocol.md 2): /health is open, and /files may instead carry a signature that envd
// checks itself; on the code interpreter's port the SDKs send no token to /contexts* (e2b-protocol.md 5), so
// those are open too (the traffic token, when the sandbox has one, still guards them); every other call needs
// the sandbox's token, compared in constant time.
bool Authorized(const bhttp::request<bhttp::empty_body>& req, int port, const std::string& token) {
  std::string_view target = View(req.target());
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/health") return true;
  if (port == kCodeInterpreterPort && (path == "/contexts" || path.starts_with("/contexts/"))) return true;
  if (path == "/files" && target.find("signature=") != std::string_view::npos) return true;
  std::string_view sent = View(req["X-Access-Token"]);
  return !token.empty() && SameSecret(sent, token);
}

// A sandbox created with network.allowPublicTraffic false: every port but envd's needs its traffic token
// (e2b-protocol.md 2). The doc names no refusal status: 403, with a body naming the header. The reason
// refused, or empty when the request may pass.
std::string RefuseTraffic(const bhttp::request<bhttp::empty_body>& req, const std::string& token) {
  if (token.empty()) return "";
  auto sent = req.find("E2B-Traffic-Access-Token");
  if (sent == req.end())
    return "missing E2B-Traffic-Access-Token header: this sandbox was created with "
           "network.allowPublicTraffic false";
  if (!SameSecret(View(sent->value()), token)) return "wrong E2B-Traffic-Access-Token header";
  return "";
}

}  // namespace

// Beast reads as much as the buffer's free capacity (at least 512 bytes): reserving 64 KiB makes a proxied
// body arrive in 64 KiB reads instead of 1 KiB ones (30 -> 300+ MB/s).
Session::Session(tcp::socket socket, const Shared* shared) : stream_(std::move(socket)), shared_(shared) {
  buffer_.reserve(64 << 10);
}

void Session::ReadHeader() {
  log_ = LogEntry{MonotonicNanos(), "", "", ""};
  header_parser_.emplace();
  header_parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
  // Proxied bodies have no limit here; the control plane's is applied once the request is known to be one.
  header_parser_->body_limit(boost::none);
  stream_.expires_after(std::chrono::seconds(shared_->options.idle_timeout_s));
  bhttp::async_read_header(stream_, buffer_, *header_parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

void Session::OnHeader(beast::error_code ec) {
  if (ec == bhttp::error::header_limit)
    return Reply(431,
                 ErrorJson(431, "request header larger than " +
                                    std::to_string(shared_->options.max_header_bytes) + " bytes"),
                 false);
  if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
    return Reply(400, ErrorJson(400, "malformed HTTP request: " + ec.message()), false);
  if (ec) return Abort();  // closed, timed out or reset: nobody to answer
  const auto& req = header_parser_->get();
  auto target = FindDataPlane(View(req["E2b-Sandbox-Id"]), View(req["E2b-Sandbox-Port"]),
                              View(req[bhttp::field::host]));
  shared_->metrics->CountRequest(target.has_value());
  if (shared_->options.access_log) {
    std::string_view full = View(req.target());
    log_ = LogEntry{MonotonicNanos(), std::string(View(req.method_string())),
                    std::string(full.substr(0, full.find('?'))), target ? target->sandbox_id : ""};
  }
  if (target) return DataPlane(target->sandbox_id, target->port);
  ReadApiBody();
}

void Session::DataPlane(const std::string& sandbox_id, int port) {
  const auto& req = header_parser_->get();
  // An error answered before the body was read leaves that body on the wire: the connection must close.
  bool keep = req.keep_alive() && header_parser_->is_done();
  if (port == 0) {
    nlohmann::json body = {{"sandboxId", sandbox_id},
                           {"message", "the E2b-Sandbox-Port header (or the host name's port) is not a port"},
                           {"code", 502}};
    return Reply(502, DumpJson(body), keep);
  }
  Result<control::Route> route = shared_->control->Resolve(sandbox_id);
  if (!route.ok()) return Reply(502, SandboxNotFoundBody(sandbox_id), keep);
  if (port != kEnvdPort) {
    std::string refused = RefuseTraffic(req, route->traffic_token);
    if (!refused.empty()) return Reply(403, ErrorJson(403, refused), keep);
  }
  if (port != kEnvdPort && port != kCodeInterpreterPort) {
    // A web server the sandbox's code started: public, as E2B's sandbox ports are (no envd token).
    stream_.expires_never();
    StartTunnel(shared_from_this(), std::move(*header_parser_), std::move(*route), sandbox_id, port);
    header_parser_.reset();
    return;
  }
  if (!Authorized(req, port, route->access_token))
    return Reply(401,
                 ErrorJson(401,
                           "unauthorized access, please provide a valid access token or method signing if "
                           "supported"),
                 keep);
  // Streams may stay open and idle for as long as the sandbox lives (envd sends keepalives).
  stream_.expires_never();
  StartProxy(shared_from_this(), std::move(*header_parser_), std::move(*route), sandbox_id);
  header_parser_.reset();
}

void Session::ReadApiBody() {
  auto length = header_parser_->content_length();
  if (length && *length > shared_->options.max_api_body_bytes) return OnApiBody(bhttp::error::body_limit);
  body_parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  body_parser_->body_limit(shared_->options.max_api_body_bytes);
  bhttp::async_read(stream_, buffer_, *body_parser_,
                    [self = shared_from_this()](beast::error_code ec, size_t) { self->OnApiBody(ec); });
}

void Session::OnApiBody(beast::error_code ec) {
  if (ec == bhttp::error::body_limit)
    return Reply(413,
                 ErrorJson(413, "request body larger than " +
                                    std::to_string(shared_->options.max_api_body_bytes) + " bytes"),
                 false);
  if (ec) return Abort();
  auto& req = body_parser_->get();
  ApiRequest api{std::string(View(req.method_string())),
                 std::string(View(req.target())),
                 std::string(View(req["X-API-Key"])),
                 std::string(View(req[bhttp::field::authorization])),
                 std::move(req.body()),
                 std::string(View(req[bhttp::field::host])),
                 std::string(View(req[bhttp::field::origin])),
                 std::string(View(req["Mcp-Session-Id"])),
                 std::string(View(req["MCP-Protocol-Version"])),
                 std::string(View(req[bhttp::field::accept]))};
  bool keep = req.keep_alive();
  body_parser_.reset();
  stream_.expires_never();  // a create may take a while; the worker answers
  asio::post(*shared_->workers, [self = shared_from_this(), api = std::move(api), keep]() {
    ApiResponse response;
    try {
      response = HandleApi(*self->shared_->control, *self->shared_->metrics, api,
                           self->shared_->options.threads, self->shared_->mcp);
    } catch (const std::exception& e) {  // the catch barrier: a library's exception is one request's 500
      response = ErrorResponse(500, std::string("internal error: ") + e.what());
    }
    asio::post(self->stream_.get_executor(), [self, response = std::move(response), keep]() {
      self->Reply(response.status, response.body, keep, response.headers, response.content_type);
    });
  });
}

void Session::Reply(int status, std::string body, bool keep_alive,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    const std::string& content_type) {
  auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(status), 11);
  res->set(bhttp::field::server, "kiln");
  if (!body.empty()) res->set(bhttp::field::content_type, content_type);
  for (const auto& [name, value] : headers) res->set(name, value);
  LogRequest(status, body.size());
  res->body() = std::move(body);
  res->keep_alive(keep_alive);
  res->prepare_payload();
  stream_.expires_after(std::chrono::seconds(shared_->options.idle_timeout_s));
  bhttp::async_write(stream_, *res,
                     [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                       if (ec) return self->Abort();
                       self->Done(keep_alive);
                     });
}

void Session::LogRequest(int status, uint64_t bytes, bool cut) {
  if (!shared_->options.access_log) return;
  nlohmann::json line = {{"ts", Rfc3339(WallNanos())},
                         {"plane", log_.sandbox.empty() ? "control" : "data"},
                         {"method", log_.method},
                         {"path", log_.path},
                         {"status", status},
                         {"bytes", bytes},
                         {"ms", static_cast<double>(MonotonicNanos() - log_.start_ns) / 1e6}};
  if (!log_.sandbox.empty()) line["sandbox"] = log_.sandbox;
  if (cut) line["cut"] = true;
  std::string text = DumpJson(line) + "\n";
  // One write per line, so that lines from different threads never interleave.
  (void)!write(STDERR_FILENO, text.data(), text.size());
}

void Session::Done(bool keep_alive) {
  if (keep_alive) return ReadHeader();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
}

void Session::Abort() {
  beast::error_code ignored;
  // Linger 0: the peer sees a reset, not a clean end, so a cut stream is never mistaken for a complete one.
  stream_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
  stream_.socket().close(ignored);
}

}  // namespace kiln::server
