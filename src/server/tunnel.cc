// The data plane for ports other than envd's (E2B's getHost(port)): the client's connection becomes a raw
// byte tunnel to a TCP port inside the sandbox, through envd's port forwarding (envd/port_forward.h: GET
// /kiln/tcp?port=N, Upgrade: kiln-tcp). The request that opened it is replayed into the tunnel, so HTTP,
// keep-alive and WebSocket upgrades all pass through unchanged; the connection stays on that port until
// the sandbox's side ends (or either fails). Bodies are relayed through two 64 KiB buffers, never held whole.
#include <array>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kiln/base/json.h"
#include "routing.h"
#include "session.h"

namespace kiln::server {
namespace {

using local = asio::local::stream_protocol;

// E2B's answer when the sandbox runs but nothing listens on the port.
std::string PortClosedBody(const std::string& sandbox_id, int port) {
  return DumpJson(nlohmann::json{{"sandboxId", sandbox_id},
                                 {"message", "The sandbox is running but port is not open"},
                                 {"port", port},
                                 {"code", 502}});
}

class Tunnel : public std::enable_shared_from_this<Tunnel> {
 public:
  Tunnel(std::shared_ptr<Session> session, bhttp::request_parser<bhttp::empty_body>&& parser,
         control::Route route, std::string sandbox_id, int port)
      : session_(std::move(session)),
        upstream_(session_->stream().get_executor()),
        retry_(session_->stream().get_executor()),
        route_(std::move(route)),
        sandbox_id_(std::move(sandbox_id)),
        port_(port) {
    // The opening request, replayed verbatim into the tunnel once it is up.
    std::ostringstream head;
    head << parser.get().base();
    replay_ = head.str();
    session_->shared().metrics->StreamOpened();
  }
  ~Tunnel() { session_->shared().metrics->StreamClosed(); }

  void Start() { Connect(); }

 private:
  // As the proxy does: a full accept backlog refuses with EAGAIN, retried for up to 2 s.
  void Connect() {
    upstream_.async_connect(
        local::endpoint(route_.socket_path), [self = shared_from_this()](beast::error_code ec) {
          if ((ec == asio::error::try_again || ec == asio::error::would_block) && self->attempts_ < 200) {
            ++self->attempts_;
            beast::error_code ignored;
            self->upstream_.close(ignored);
            self->retry_.expires_after(std::chrono::milliseconds(10));
            self->retry_.async_wait([self](beast::error_code) { self->Connect(); });
            return;
          }
          if (ec) return self->Refuse(SandboxNotFoundBody(self->sandbox_id_));
          self->AskEnvd();
        });
  }

  void AskEnvd() {
    ask_ = "GET /kiln/tcp?port=" + std::to_string(port_) +
           " HTTP/1.1\r\nHost: localhost\r\nUpgrade: kiln-tcp\r\nConnection: Upgrade\r\nX-Access-Token: " +
           route_.access_token + "\r\n\r\n";
    asio::async_write(upstream_, asio::buffer(ask_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Refuse(SandboxNotFoundBody(self->sandbox_id_));
                        self->answer_.emplace();
                        self->answer_->body_limit(64 << 10);
                        bhttp::async_read(self->upstream_, self->upstream_buffer_, *self->answer_,
                                          [self](beast::error_code ec, size_t) { self->OnAnswer(ec); });
                      });
  }

  void OnAnswer(beast::error_code ec) {
    if (ec) return Refuse(SandboxNotFoundBody(sandbox_id_));
    if (answer_->get().result_int() != 101) return Refuse(PortClosedBody(sandbox_id_, port_));
    // What the client sent past the request head (a body's start) follows the replayed head.
    beast::flat_buffer& pending = session_->buffer();
    replay_.append(static_cast<const char*>(pending.data().data()), pending.size());
    pending.consume(pending.size());
    asio::async_write(upstream_, asio::buffer(replay_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Cut();
                        self->FlushEarlyAnswer();
                      });
  }

  // Bytes envd read from the port along with its 101 go to the client before the relay starts.
  void FlushEarlyAnswer() {
    if (upstream_buffer_.size() == 0) return StartRelay();
    early_.assign(static_cast<const char*>(upstream_buffer_.data().data()), upstream_buffer_.size());
    upstream_buffer_.consume(upstream_buffer_.size());
    bytes_out_ += early_.size();
    asio::async_write(session_->stream(), asio::buffer(early_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Cut();
                        self->StartRelay();
                      });
  }

  void StartRelay() {
    ToSandbox();
    FromSandbox();
  }

  void ToSandbox() {
    session_->stream().async_read_some(asio::buffer(up_),
                                       [self = shared_from_this()](beast::error_code ec, size_t n) {
                                         if (ec == asio::error::eof) return self->Ended(0);
                                         if (ec) return self->Cut();
                                         self->session_->shared().metrics->AddProxyBytes(true, n);
                                         asio::async_write(self->upstream_, asio::buffer(self->up_.data(), n),
                                                           [self](beast::error_code ec, size_t) {
                                                             if (ec) return self->Cut();
                                                             self->ToSandbox();
                                                           });
                                       });
  }

  void FromSandbox() {
    upstream_.async_read_some(
        asio::buffer(down_), [self = shared_from_this()](beast::error_code ec, size_t n) {
          if (ec == asio::error::eof) return self->Ended(1);
          if (ec) return self->Cut();
          self->session_->shared().metrics->AddProxyBytes(false, n);
          self->bytes_out_ += n;
          asio::async_write(self->session_->stream(), asio::buffer(self->down_.data(), n),
                            [self](beast::error_code ec, size_t) {
                              if (ec) return self->Cut();
                              self->FromSandbox();
                            });
        });
  }

  // The client's end is passed on as a half close (it may still wait for the answer); the sandbox side's
  // end ends the exchange: nothing can answer what the client might send next.
  void Ended(int direction) {
    beast::error_code ignored;
    if (direction == 0) {
      upstream_.shutdown(local::socket::shutdown_send, ignored);
      return;
    }
    if (done_) return;
    done_ = true;
    session_->LogRequest(101, bytes_out_);
    upstream_.close(ignored);
    session_->Done(false);
  }

  void Cut() {
    if (done_) return;
    done_ = true;
    beast::error_code ignored;
    upstream_.close(ignored);
    session_->LogRequest(101, bytes_out_, /*cut=*/true);
    session_->Abort();
  }

  // Before the tunnel is up: an E2B-shaped 502, and the connection closes (the request's body, if any, was
  // not read).
  void Refuse(std::string body) {
    beast::error_code ignored;
    upstream_.close(ignored);
    session_->Reply(502, std::move(body), false);
  }

  std::shared_ptr<Session> session_;
  local::socket upstream_;
  asio::steady_timer retry_;
  control::Route route_;
  std::string sandbox_id_;
  int port_;
  int attempts_ = 0;
  bool done_ = false;
  uint64_t bytes_out_ = 0;
  std::string replay_, ask_, early_;
  beast::flat_buffer upstream_buffer_;
  std::optional<bhttp::response_parser<bhttp::string_body>> answer_;
  std::array<char, 64 << 10> up_, down_;
};

}  // namespace

void StartTunnel(std::shared_ptr<Session> session, bhttp::request_parser<bhttp::empty_body>&& parser,
                 control::Route route, std::string sandbox_id, int port) {
  std::make_shared<Tunnel>(std::move(session), std::move(parser), std::move(route), std::move(sandbox_id),
                           port)
      ->Start();
}

}  // namespace kiln::server
