#include "kiln/envd/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "kiln/base/clock.h"
#include "kiln/base/log.h"
#include "kiln/envd/reaper.h"

namespace kiln::envd {
namespace {

constexpr int kStdinWriteTimeoutMs = 10'000;
// After the process is reaped, output still in the pipes is forwarded until they are quiet for this long
// (or at most kDrainMaxMs): a background grandchild may hold them open forever.
constexpr int kDrainQuietMs = 100;
constexpr int kDrainMaxMs = 2'000;

// Go's names for signals (runtime's sigtable), as ProcessState.String() prints them.
std::string GoSignalName(int sig) {
  static const char* const kNames[] = {"",
                                       "hangup",
                                       "interrupt",
                                       "quit",
                                       "illegal instruction",
                                       "trace/breakpoint trap",
                                       "aborted",
                                       "bus error",
                                       "floating point exception",
                                       "killed",
                                       "user defined signal 1",
                                       "segmentation fault",
                                       "user defined signal 2",
                                       "broken pipe",
                                       "alarm clock",
                                       "terminated"};
  if (sig > 0 && sig < static_cast<int>(std::size(kNames))) return kNames[sig];
  return "signal " + std::to_string(sig);
}

}  // namespace

ExitInfo ExitInfoFromWaitStatus(int wait_status) {
  ExitInfo info;
  if (WIFSIGNALED(wait_status)) {
    info.exit_code = -1;
    info.exited = false;
    info.status = "signal: " + GoSignalName(WTERMSIG(wait_status));
    if (WCOREDUMP(wait_status)) info.status += " (core dumped)";
  } else {
    info.exit_code = WEXITSTATUS(wait_status);
    info.status = "exit status " + std::to_string(info.exit_code);
  }
  if (info.exit_code != 0) info.error = info.status;
  return info;
}

std::vector<ProcessEvent> Subscription::Take(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return !queue_.empty(); });
  std::vector<ProcessEvent> out(std::make_move_iterator(queue_.begin()),
                                std::make_move_iterator(queue_.end()));
  queue_.clear();
  bytes_ = 0;
  return out;
}

void Subscription::Push(ProcessEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  bytes_ += event.data.size();
  while (bytes_ > max_bytes_) {
    auto oldest = std::find_if(queue_.begin(), queue_.end(), [](const ProcessEvent& e) {
      return e.kind == ProcessEvent::Kind::kStdout || e.kind == ProcessEvent::Kind::kStderr ||
             e.kind == ProcessEvent::Kind::kPty;
    });
    if (oldest == queue_.end()) break;
    bytes_ -= oldest->data.size();
    dropped_ += oldest->data.size();
    queue_.erase(oldest);
  }
  queue_.push_back(std::move(event));
  cv_.notify_all();
}

uint64_t Subscription::dropped_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

Process::Process(pid_t pid, ProcessConfig config, std::optional<std::string> tag, size_t max_buffered_bytes)
    : pid_(pid),
      config_(std::move(config)),
      tag_(std::move(tag)),
      max_buffered_bytes_(max_buffered_bytes),
      exit_event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

bool Process::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !wait_status_;
}

std::optional<int> Process::wait_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wait_status_;
}

std::shared_ptr<Subscription> Process::Subscribe() {
  auto sub = std::make_shared<Subscription>(max_buffered_bytes_);
  std::lock_guard<std::mutex> lock(mu_);
  sub->Push({ProcessEvent::Kind::kStart, static_cast<uint32_t>(pid_), "", {}});
  if (end_) {
    sub->Push({ProcessEvent::Kind::kEnd, static_cast<uint32_t>(pid_), "", *end_});
  } else {
    subscribers_.push_back(sub);
  }
  return sub;
}

void Process::Unsubscribe(const std::shared_ptr<Subscription>& sub) {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), sub), subscribers_.end());
}

void Process::Broadcast(const ProcessEvent& event) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& sub : subscribers_) sub->Push(event);
  if (event.kind == ProcessEvent::Kind::kEnd) {
    end_ = event.exit;
    subscribers_.clear();
  }
}

// Writes all of `data` to the non-blocking `fd`, waiting up to kStdinWriteTimeoutMs for room.
Status Process::WriteAll(int fd, std::string_view data, const char* what) {
  int64_t deadline = MonotonicMillis() + kStdinWriteTimeoutMs;
  const std::string name = std::string(what) + " of process " + std::to_string(pid_);
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return ErrnoStatus("write " + name, errno);
    int64_t left = deadline - MonotonicMillis();
    if (left <= 0) return DeadlineExceeded(name + " is not being read");
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
  return Status::Ok();
}

Status Process::WriteStdin(std::string_view data) {
  std::lock_guard<std::mutex> lock(stdin_mu_);
  if (!stdin_) return FailedPrecondition("stdin of process " + std::to_string(pid_) + " is not open");
  return WriteAll(stdin_.get(), data, "stdin");
}

Status Process::WritePty(std::string_view data) {
  std::lock_guard<std::mutex> lock(stdin_mu_);
  if (!pty_) return FailedPrecondition("process " + std::to_string(pid_) + " was not started with a pty");
  return WriteAll(pty_.get(), data, "the terminal");
}

bool Process::is_pty() const {
  std::lock_guard<std::mutex> lock(stdin_mu_);
  return static_cast<bool>(pty_);
}

Status Process::ResizePty(PtySize size) {
  std::lock_guard<std::mutex> lock(stdin_mu_);
  if (!pty_) return FailedPrecondition("process " + std::to_string(pid_) + " was not started with a pty");
  return envd::ResizePty(pty_.get(), size);
}

Status Process::CloseStdin() {
  std::lock_guard<std::mutex> lock(stdin_mu_);
  stdin_.reset();
  return Status::Ok();
}

Status Process::Signal(int signal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (wait_status_) return Status::Ok();
  if (::kill(-pid_, signal) == 0) return Status::Ok();
  // The leader may have left its group (setpgid by the program): signal it alone.
  if (errno == ESRCH && ::kill(pid_, signal) == 0) return Status::Ok();
  return ErrnoStatus("kill " + std::to_string(pid_), errno);
}

void Process::NoteExit(int wait_status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wait_status_ = wait_status;
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(exit_event_.get(), &one, sizeof one);
}

void Process::PumpOutput(UniqueFd out, UniqueFd err, const std::function<void()>& before_end) {
  UniqueFd fds[2] = {std::move(out), std::move(err)};
  const bool pty = is_pty();
  bool exited = false;
  int64_t drain_deadline = 0;
  char buf[65536];
  for (;;) {
    pollfd p[3];
    int which[3];
    nfds_t n = 0;
    for (int i = 0; i < 2; ++i) {
      if (!fds[i]) continue;
      p[n] = {fds[i].get(), POLLIN, 0};
      which[n++] = i;
    }
    if (exited && n == 0) break;
    if (!exited) {
      p[n] = {exit_event_.get(), POLLIN, 0};
      which[n++] = 2;
    }
    int timeout = -1;
    if (exited) {
      int64_t left = drain_deadline - MonotonicMillis();
      if (left <= 0) break;
      timeout = static_cast<int>(std::min<int64_t>(left, kDrainQuietMs));
    }
    int ready = ::poll(p, n, timeout);
    if (ready < 0) {
      if (exited) break;
      ::usleep(10'000);  // EINTR, or a transient ENOMEM: the process is still running, keep watching
      continue;
    }
    if (ready == 0) break;  // quiet for kDrainQuietMs after the exit
    for (nfds_t k = 0; k < n; ++k) {
      if (!p[k].revents) continue;
      if (which[k] == 2) {
        uint64_t value;
        [[maybe_unused]] ssize_t r = ::read(exit_event_.get(), &value, sizeof value);
        exited = true;
        drain_deadline = MonotonicMillis() + kDrainMaxMs;
        continue;
      }
      ssize_t got = ::read(fds[which[k]].get(), buf, sizeof buf);
      if (got > 0) {
        auto kind = which[k] == 1 ? ProcessEvent::Kind::kStderr
                    : pty         ? ProcessEvent::Kind::kPty
                                  : ProcessEvent::Kind::kStdout;
        Broadcast({kind, static_cast<uint32_t>(pid_), std::string(buf, static_cast<size_t>(got)), {}});
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        fds[which[k]].reset();
      }
    }
  }
  int status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status = *wait_status_;
  }
  before_end();
  Broadcast({ProcessEvent::Kind::kEnd, static_cast<uint32_t>(pid_), "", ExitInfoFromWaitStatus(status)});
}

}  // namespace kiln::envd
