// The data-plane proxy: one request relayed to envd's unix socket and its response relayed back, both
// bodies streamed through a fixed buffer (Beast's buffer_body relay) or, long and of a known length, spliced
// socket to socket (splice_relay.h), so a 100 MB upload or an hour-long command stream costs the server
// 64 KiB. A request goes out on an idle envd connection kept from an earlier exchange when there is one (upstream_pool.h), else on a new one; when envd dies mid-response (the
// sandbox was killed) the client connection is reset.
#include <array>

#include "routing.h"
#include "session.h"
#include "splice_relay.h"
#include "upstream_pool.h"

namespace kiln::server {
namespace {

using local = asio::local::stream_protocol;

// Bodies of a known length at least this large are spliced (splice_relay.h); smaller ones are not worth a
// pipe.
constexpr uint64_t kSpliceFromBytes = 256 << 10;

class Proxy : public std::enable_shared_from_this<Proxy> {
 public:
  Proxy(std::shared_ptr<Session> session, bhttp::request_parser<bhttp::empty_body>&& parser,
        control::Route route, std::string sandbox_id)
      : session_(std::move(session)),
        upstream_(session_->stream().get_executor()),
        retry_(session_->stream().get_executor()),
        request_(std::move(parser)),
        route_(std::move(route)),
        sandbox_id_(std::move(sandbox_id)) {
    session_->shared().metrics->StreamOpened();
    upstream_buffer_.reserve(64 << 10);  // see Session::Session
  }
  ~Proxy() { session_->shared().metrics->StreamClosed(); }

  void Start() {
    auto& req = request_.get();
    client_keep_alive_ = req.keep_alive();
    req.keep_alive(true);  // the envd connection is kept for the next request once this one completes
    req.set(bhttp::field::host, "localhost");
    bodyless_ = request_.is_done();
    // The proxy answers Expect itself once envd is reached; forwarded, envd's interim 100 would arrive
    // before the response this relay waits for.
    expect_continue_ = beast::iequals(req[bhttp::field::expect], "100-continue");
    req.erase(bhttp::field::expect);
    request_.body_limit(boost::none);
    Connect();
  }

 private:
  // A unix socket whose accept backlog is full refuses a non-blocking connect with EAGAIN (it does not
  // queue it like TCP): a burst of requests to one sandbox retries for up to 2 s before it is a 502.
  void Connect() {
    if (UniqueFd idle = session_->shared().upstreams->Take(route_.socket_path)) {
      beast::error_code ec;
      upstream_.assign(local(), idle.release(), ec);
      if (!ec) {
        reused_ = true;
        return Connected();
      }
    }
    upstream_.async_connect(local::endpoint(route_.socket_path), [self = shared_from_this()](
                                                                     beast::error_code ec) {
      if ((ec == asio::error::try_again || ec == asio::error::would_block) && self->connect_attempts_ < 200) {
        ++self->connect_attempts_;
        beast::error_code ignored;
        self->upstream_.close(ignored);
        self->retry_.expires_after(std::chrono::milliseconds(10));
        self->retry_.async_wait([self](beast::error_code) { self->Connect(); });
        return;
      }
      if (ec) return self->Fail();
      self->Connected();
    });
  }

  void Connected() {
    request_writer_.emplace(request_.get());
    if (!expect_continue_ || interim_sent_) return SendRequest();
    interim_sent_ = true;
    auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
    bhttp::async_write(session_->stream(), *interim,
                       [self = shared_from_this(), interim](beast::error_code ec, size_t) {
                         if (ec) return self->session_->Abort();
                         self->SendRequest();
                       });
  }

  // Moves what the client sent next (or the end of the body) into the buffer body, then writes it on.
  // The request's body, if any, goes through the buffer (PumpRequest) or, long and of a known length, by
  // splice after the header (SpliceRequest).
  void SendRequest() {
    std::optional<uint64_t> length = SpliceLength(request_);
    if (!length) return PumpRequest();
    bhttp::async_write_header(upstream_, *request_writer_,
                              [self = shared_from_this(), length](beast::error_code ec, size_t) {
                                if (ec) return self->Fail();
                                self->SpliceRequest(*length);
                              });
  }

  // What the header read took of the body goes first, then the rest straight from the client's socket.
  void SpliceRequest(uint64_t length) {
    beast::flat_buffer& early = session_->buffer();
    size_t have = static_cast<size_t>(std::min<uint64_t>(early.size(), length));
    auto splice_rest = [self = shared_from_this(), length, have](beast::error_code ec, size_t) {
      if (ec) return self->Fail();
      self->session_->buffer().consume(have);
      self->session_->shared().metrics->AddProxyBytes(true, have);
      SpliceRelay(self->session_->stream().socket(), self->upstream_, length - have,
                  [self](beast::error_code ec, uint64_t moved) {
                    self->session_->shared().metrics->AddProxyBytes(true, moved);
                    if (ec == asio::error::eof) return self->session_->Abort();  // the client went away
                    if (ec) return self->Fail();
                    self->request_spliced_ = true;
                    self->ReadResponseHeader();
                  });
    };
    asio::async_write(upstream_, asio::buffer(early.data(), have), std::move(splice_rest));
  }

  void PumpRequest() {
    auto& body = request_.get().body();
    if (request_.is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      return WriteRequest();
    }
    body.data = buffer_.data();
    body.size = buffer_.size();
    bhttp::async_read_some(session_->stream(), session_->buffer(), request_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             if (ec == bhttp::error::need_buffer) ec = {};
                             if (ec) return self->session_->Abort();  // the client went away
                             if (self->Filled(self->request_.get().body(), self->request_.is_done(), true))
                               return self->PumpRequest();
                             self->WriteRequest();
                           });
  }

  void WriteRequest() {
    bhttp::async_write(upstream_, *request_writer_,
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec == bhttp::error::need_buffer) ec = {};
                         if (ec) return self->Fail();
                         if (self->request_writer_->is_done()) return self->ReadResponseHeader();
                         self->PumpRequest();
                       });
  }

  void ReadResponseHeader() {
    response_.emplace();
    response_->body_limit(boost::none);
    response_->header_limit(64 << 10);
    if (request_.get().method() == bhttp::verb::head) response_->skip(true);
    bhttp::async_read_header(upstream_, upstream_buffer_, *response_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->Fail();
                               // Interim answers (1xx but 101) are not the response: wait for the real one.
                               int status = self->response_->get().result_int();
                               if (status >= 100 && status < 200 && status != 101)
                                 return self->ReadResponseHeader();
                               self->OnResponseHeader();
                             });
  }

  void OnResponseHeader() {
    auto& res = response_->get();
    // A body that ends only when envd closes cannot be followed by another response on this connection.
    bool delimited = res.chunked() || res.has_content_length() || response_->is_done();
    keep_alive_ = client_keep_alive_ && delimited;
    upstream_keep_ = delimited && res.keep_alive() && (request_writer_->is_done() || request_spliced_);
    res.keep_alive(keep_alive_);
    response_writer_.emplace(res);
    responding_ = true;
    std::optional<uint64_t> length =
        request_.get().method() == bhttp::verb::head ? std::nullopt : SpliceLength(*response_);
    if (!length) return PumpResponse();
    bhttp::async_write_header(session_->stream(), *response_writer_,
                              [self = shared_from_this(), length](beast::error_code ec, size_t) {
                                if (ec) return self->Cut();
                                self->SpliceResponse(*length);
                              });
  }

  // As SpliceRequest, the other way: what the header read took of the body, then the rest from envd.
  void SpliceResponse(uint64_t length) {
    size_t have = static_cast<size_t>(std::min<uint64_t>(upstream_buffer_.size(), length));
    auto splice_rest = [self = shared_from_this(), length, have](beast::error_code ec, size_t) {
      if (ec) return self->Cut();
      self->upstream_buffer_.consume(have);
      self->Relayed(have);
      SpliceRelay(self->upstream_, self->session_->stream().socket(), length - have,
                  [self](beast::error_code ec, uint64_t moved) {
                    self->Relayed(moved);
                    if (ec) return self->Fail();
                    self->session_->LogRequest(self->response_->get().result_int(), self->bytes_out_);
                    self->KeepOrClose();
                    self->session_->Done(self->keep_alive_);
                  });
    };
    asio::async_write(session_->stream(), asio::buffer(upstream_buffer_.data(), have),
                      std::move(splice_rest));
  }

  void Relayed(uint64_t response_bytes) {
    session_->shared().metrics->AddProxyBytes(false, response_bytes);
    bytes_out_ += response_bytes;
  }

  // The length of a body worth splicing: one whose header gave its length (not chunked, which the relay would
  // have to re-frame) and whose bytes have not been read yet.
  template <typename Parser>
  static std::optional<uint64_t> SpliceLength(const Parser& parser) {
    if (parser.is_done() || parser.chunked() || !parser.content_length() || !SpliceSupported())
      return std::nullopt;
    uint64_t length = *parser.content_length();
    if (length < kSpliceFromBytes) return std::nullopt;
    return length;
  }

  void PumpResponse() {
    auto& body = response_->get().body();
    if (response_->is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      return WriteResponse();
    }
    body.data = buffer_.data();
    body.size = buffer_.size();
    bhttp::async_read_some(
        upstream_, upstream_buffer_, *response_, [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec == bhttp::error::need_buffer) ec = {};
          if (ec) return self->Fail();
          if (self->Filled(self->response_->get().body(), self->response_->is_done(), false))
            return self->PumpResponse();
          self->WriteResponse();
        });
  }

  void WriteResponse() {
    bhttp::async_write(session_->stream(), *response_writer_,
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec == bhttp::error::need_buffer) ec = {};
                         if (ec) return self->Cut();
                         if (!self->response_writer_->is_done()) return self->PumpResponse();
                         self->session_->LogRequest(self->response_->get().result_int(), self->bytes_out_);
                         self->KeepOrClose();
                         self->session_->Done(self->keep_alive_);
                       });
  }

  // After a read into buffer_ (body.size counts down what was left unused): true when the read gave no body
  // bytes yet (a chunk header, say) and must be repeated. The serializer turns a zero-length buffer into a
  // zero-length chunk, which is chunked encoding's end marker: mid-body that would end the body early, and
  // at the end (the last chunk came in a read of its own) it would be followed by a second end marker,
  // which the next request or response on a kept connection would be read as. So an empty read passes no
  // buffer at all: mid-body it is repeated, at the end the serializer writes the one end marker.
  bool Filled(bhttp::buffer_body::value_type& body, bool done, bool to_sandbox) {
    body.size = buffer_.size() - body.size;
    session_->shared().metrics->AddProxyBytes(to_sandbox, body.size);
    if (!to_sandbox) bytes_out_ += body.size;
    body.data = body.size > 0 ? buffer_.data() : nullptr;
    body.more = !done;
    return body.size == 0 && !done;
  }

  // After a complete exchange: envd's connection goes back to the pool unless envd ends it.
  void KeepOrClose() {
    beast::error_code ec;
    if (upstream_keep_ && upstream_buffer_.size() == 0) {
      int fd = upstream_.release(ec);
      if (!ec) return session_->shared().upstreams->Give(route_.socket_path, UniqueFd(fd));
    }
    upstream_.close(ec);
  }

  // A response under way is broken off: logged as cut, and the client connection reset.
  void Cut() {
    session_->LogRequest(response_->get().result_int(), bytes_out_, /*cut=*/true);
    session_->Abort();
  }

  // envd is gone or broke the exchange: before any response byte went out the client gets E2B's 502 for a
  // dead sandbox; once a response is under way, only a reset can tell it the stream was cut.
  void Fail() {
    beast::error_code ignored;
    upstream_.close(ignored);
    if (responding_) return Cut();
    // A kept connection envd closed meanwhile: a request without a body is sent again on a new one.
    if (reused_ && bodyless_) {
      reused_ = false;
      upstream_buffer_.clear();
      return Connect();
    }
    session_->Reply(502, SandboxNotFoundBody(sandbox_id_), false);
  }

  std::shared_ptr<Session> session_;
  local::socket upstream_;
  asio::steady_timer retry_;
  int connect_attempts_ = 0;
  beast::flat_buffer upstream_buffer_;
  bhttp::request_parser<bhttp::buffer_body> request_;
  std::optional<bhttp::request_serializer<bhttp::buffer_body>> request_writer_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> response_;
  std::optional<bhttp::response_serializer<bhttp::buffer_body>> response_writer_;
  control::Route route_;
  std::string sandbox_id_;
  bool client_keep_alive_ = false;
  bool expect_continue_ = false;
  uint64_t bytes_out_ = 0;  // response body bytes relayed
  bool keep_alive_ = false;
  bool responding_ = false;
  bool bodyless_ = false;         // the request has no body: safe to send again
  bool reused_ = false;           // upstream_ came from the pool
  bool upstream_keep_ = false;    // envd keeps the connection after this exchange
  bool interim_sent_ = false;     // the client got its 100 Continue
  bool request_spliced_ = false;  // the request's body went by splice (its serializer stopped at the header)
  std::array<char, 64 << 10> buffer_;
};

}  // namespace

void StartProxy(std::shared_ptr<Session> session, bhttp::request_parser<bhttp::empty_body>&& parser,
                control::Route route, std::string sandbox_id) {
  std::make_shared<Proxy>(std::move(session), std::move(parser), std::move(route), std::move(sandbox_id))
      ->Start();
}

}  // namespace kiln::server
