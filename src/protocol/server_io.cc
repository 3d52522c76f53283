#include "server_io.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <list>
#include <system_error>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"

namespace kiln::http::internal {
namespace {

constexpr int kLingerMs = 500;
constexpr size_t kLingerBytes = 1 << 20;
// A request head past capacity is only looked at to find a health check: a small one suffices.
constexpr size_t kOverflowHeadBytes = 8 * 1024;

// Sends a short answer without waiting (it fits in an empty socket buffer), reads what already arrived so
// the close is not a reset, and closes.
void AnswerAndClose(int fd, std::string_view response) {
  (void)!::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  ::close(fd);
}

}  // namespace

Status SendAll(int fd, std::vector<iovec> parts) {
  size_t first = 0;
  while (first < parts.size()) {
    msghdr msg{};
    msg.msg_iov = parts.data() + first;
    msg.msg_iovlen = parts.size() - first;
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return Unavailable("send: peer stopped reading (timed out)");
      return ErrnoStatus("send", errno);
    }
    auto left = static_cast<size_t>(n);
    while (first < parts.size() && left >= parts[first].iov_len) left -= parts[first++].iov_len;
    if (first < parts.size()) {
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
      parts[first].iov_len -= left;
    }
  }
  return Status::Ok();
}

Status SendAll(int fd, std::string_view data) {
  return SendAll(fd, {iovec{const_cast<char*>(data.data()), data.size()}});
}

std::string PlainTextResponse(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.headers.Add("Content-Type", "text/plain; charset=utf-8");
  r.headers.Add("Connection", "close");
  r.body = std::string(message) + "\n";
  return SerializeResponse(r);
}

void LingeringClose(int fd) {
  ::shutdown(fd, SHUT_WR);
  const int64_t deadline = MonotonicMillis() + kLingerMs;
  size_t drained = 0;
  char buf[4096];
  while (drained < kLingerBytes) {
    int64_t left = deadline - MonotonicMillis();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return;
    drained += static_cast<size_t>(n);
  }
}

struct Overflow::Pending {
  int fd = -1;
  int64_t deadline = 0;
  Parser parser{Parser::Kind::kRequest, Limits{kOverflowHeadBytes, 0}};
};

Status Overflow::Start() {
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return ErrnoStatus("eventfd", errno);
  try {
    thread_ = std::thread([this] { Loop(); });
  } catch (const std::system_error& e) {
    return ResourceExhausted(std::string("cannot start the overflow thread: ") + e.what());
  }
  return Status::Ok();
}

void Overflow::Hand(int fd) {
  {
    std::lock_guard lock(mu_);
    // The loop makes room for new connections by answering its oldest (newcomers, such as a health check,
    // must be looked at); only a loop that cannot keep up at all makes Hand answer unread.
    if (!stopping_ && thread_.joinable() && incoming_.size() < 4 * options_.max_overflow + 64) {
      incoming_.push_back(fd);
      uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
      return;
    }
  }
  AnswerAndClose(fd, PlainTextResponse(503, "too many connections"));
}

void Overflow::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  uint64_t one = 1;
  if (wake_.valid()) (void)!::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  for (int fd : incoming_) ::close(fd);
  incoming_.clear();
}

void Overflow::Answer(Pending& p) {
  std::optional<Response> answer;
  if (p.parser.headers_done() && p.parser.state() != Parser::State::kError && options_.at_capacity)
    answer = options_.at_capacity(p.parser.request());
  if (!answer) return AnswerAndClose(p.fd, PlainTextResponse(503, "too many connections, try again"));
  answer->headers.Set("Connection", "close");
  AnswerAndClose(p.fd, SerializeResponse(*answer));
}

void Overflow::Loop() {
  std::list<Pending> held;
  for (;;) {
    std::vector<pollfd> fds{{wake_.get(), POLLIN, 0}};
    int64_t now = MonotonicMillis(), next = now + 60'000;
    for (Pending& p : held) {
      fds.push_back({p.fd, POLLIN, 0});
      next = std::min(next, p.deadline);
    }
    int r = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, next - now)));
    if (r < 0 && errno != EINTR) log::Warn("http overflow: poll failed");
    std::vector<int> taken;
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      taken.swap(incoming_);
    }
    uint64_t count;
    (void)!::read(wake_.get(), &count, sizeof count);
    now = MonotonicMillis();
    size_t i = 1;
    for (auto it = held.begin(); it != held.end(); ++i) {
      Pending& p = *it;
      bool done = now >= p.deadline;
      if (!done && r > 0 && fds[i].revents != 0) {
        char buf[2048];
        ssize_t n = ::recv(p.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) p.parser.Feed(std::string_view(buf, static_cast<size_t>(n)));
        done = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || p.parser.headers_done() ||
               p.parser.state() == Parser::State::kError;
      }
      if (!done) {
        ++it;
        continue;
      }
      Answer(p);
      it = held.erase(it);
    }
    for (int fd : taken) {
      Pending& p = held.emplace_back();
      p.fd = fd;
      p.parser.PauseAfterHeaders();
      p.deadline = now + options_.overflow_timeout_ms;
    }
    while (held.size() > std::max<size_t>(options_.max_overflow, 1)) {
      Answer(held.front());
      held.pop_front();
    }
    held_.store(held.size());
  }
  for (Pending& p : held) ::close(p.fd);
  held_.store(0);
}

}  // namespace kiln::http::internal
