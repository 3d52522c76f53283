#include "splice_relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "kiln/base/fd.h"

namespace kiln::server {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// The pipe between the sockets holds this much (F_SETPIPE_SZ; the default 64 KiB where that is refused).
constexpr int kPipeBytes = 1 << 20;

error_code ErrnoCode(int e) {
  return error_code(e, boost::system::system_category());
}

// The pipe is filled only when empty, so EAGAIN from a fill means `from` has nothing to read and EAGAIN
// from a drain means `to` has no room: each is waited for on its socket.
template <typename From, typename To>
class Relay : public std::enable_shared_from_this<Relay<From, To>> {
 public:
  Relay(From& from, To& to, uint64_t length, SpliceDone done)
      : from_(from), to_(to), length_(length), done_(std::move(done)) {}

  void Start() {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return Finish(ErrnoCode(errno));
    read_end_ = UniqueFd(p[0]);
    write_end_ = UniqueFd(p[1]);
    int size = fcntl(write_end_.get(), F_SETPIPE_SZ, kPipeBytes);
    pipe_bytes_ = size > 0 ? size : 64 << 10;
    error_code ec;
    from_.native_non_blocking(true, ec);
    if (!ec) to_.native_non_blocking(true, ec);
    if (ec) return Finish(ec);
    Step();
  }

 private:
  void Step() {
    while (moved_ < length_) {
      if (in_pipe_ == 0) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(length_ - moved_, pipe_bytes_));
        ssize_t n = splice(from_.native_handle(), nullptr, write_end_.get(), nullptr, want,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n == 0) return Finish(asio::error::eof);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return Wait(from_, asio::socket_base::wait_read);
        if (n < 0) return Finish(ErrnoCode(errno));
        in_pipe_ = static_cast<size_t>(n);
      }
      ssize_t n = splice(read_end_.get(), nullptr, to_.native_handle(), nullptr, in_pipe_,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return Wait(to_, asio::socket_base::wait_write);
      if (n <= 0) return Finish(n == 0 ? asio::error::broken_pipe : ErrnoCode(errno));
      in_pipe_ -= static_cast<size_t>(n);
      moved_ += static_cast<uint64_t>(n);
    }
    Finish({});
  }

  template <typename Socket>
  void Wait(Socket& socket, asio::socket_base::wait_type type) {
    socket.async_wait(type, [self = this->shared_from_this()](error_code ec) {
      if (ec) return self->Finish(ec);
      self->Step();
    });
  }

  void Finish(error_code ec) {
    SpliceDone done = std::move(done_);
    done(ec, moved_);
  }

  From& from_;
  To& to_;
  uint64_t length_;
  SpliceDone done_;
  UniqueFd read_end_, write_end_;
  size_t pipe_bytes_ = 64 << 10;
  size_t in_pipe_ = 0;  // spliced in from `from`, not yet out to `to`
  uint64_t moved_ = 0;  // out to `to`
};

// One byte through a unix socket pair and a pipe.
bool ProbeSplice() {
  int pair[2], p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return false;
  UniqueFd a(pair[0]), b(pair[1]);
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  UniqueFd r(p[0]), w(p[1]);
  if (write(a.get(), "x", 1) != 1) return false;
  return splice(b.get(), nullptr, w.get(), nullptr, 1, SPLICE_F_NONBLOCK) == 1;
}

}  // namespace

bool SpliceSupported() {
  static const bool supported = ProbeSplice();
  return supported;
}

void SpliceRelay(asio::local::stream_protocol::socket& from, asio::ip::tcp::socket& to, uint64_t length,
                 SpliceDone done) {
  using R = Relay<asio::local::stream_protocol::socket, asio::ip::tcp::socket>;
  std::make_shared<R>(from, to, length, std::move(done))->Start();
}

void SpliceRelay(asio::ip::tcp::socket& from, asio::local::stream_protocol::socket& to, uint64_t length,
                 SpliceDone done) {
  using R = Relay<asio::ip::tcp::socket, asio::local::stream_protocol::socket>;
  std::make_shared<R>(from, to, length, std::move(done))->Start();
}

}  // namespace kiln::server
