#include "kiln/runtime/run.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <set>

#include "kiln/base/clock.h"
#include "kiln/base/fd.h"
#include "kiln/base/strings.h"
#include "kiln/runtime/backend.h"
#include "kiln/runtime/envd_binary.h"

namespace kiln::runtime {
namespace {

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::vector<std::string> InitArgv(const RunRequest& request) {
  std::vector<std::string> argv = {"kiln-envd",          "exec",        "--user", request.user, "--cwd",
                                   request.spec.workdir, "--status-fd", "3"};
  for (const auto& [key, value] : ProgramEnvironment(request.spec)) {
    argv.push_back("--env");
    argv.push_back(key + "=" + value);
  }
  argv.push_back("--");
  argv.insert(argv.end(), request.argv.begin(), request.argv.end());
  return argv;
}

// Collects one output stream up to the cap, handing what is kept to the callback.
struct Capture {
  int stream;
  UniqueFd fd;
  std::string* sink;
  int64_t cap;
  bool* truncated;

  // Reads what is available; false at EOF.
  bool Drain(const OutputCallback& on_output) {
    char buf[65536];
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) {
      fd.reset();
      return false;
    }
    size_t room = static_cast<size_t>(cap) > sink->size() ? static_cast<size_t>(cap) - sink->size() : 0;
    size_t keep = std::min(room, static_cast<size_t>(n));
    if (keep < static_cast<size_t>(n)) *truncated = true;
    if (keep == 0) return true;
    sink->append(buf, keep);
    if (on_output) on_output(stream, std::string_view(buf, keep));
    return true;
  }
};

void ParseStatusLine(const std::string& line, RunResult& result) {
  std::vector<std::string> f = Split(std::string(Trim(line)), ' ');
  if (f.size() != 3 || f[0] != "exit") return;
  result.signal = std::atoi(f[2].c_str());
  result.exit_code = result.signal ? 128 + result.signal : std::atoi(f[1].c_str());
}

// The one-shot sandboxes this process is running, so that StopAllRuns can take them down. Leaked on
// purpose: a signal thread may use it while static destructors run.
struct ActiveRuns {
  std::mutex mu;
  std::condition_variable gone;
  std::set<sandbox::Sandbox*> live;
  bool stopping = false;
};
// SIGKILL to the sandbox's init (the kernel then kills its whole PID namespace) without reaping it: the
// sandbox belongs to its Run's thread, which reaps and destroys it as when the program ends.
void SendKill(sandbox::Sandbox* sb) {
  (void)syscall(SYS_pidfd_send_signal, sb->pidfd(), SIGKILL, nullptr, 0);
}

ActiveRuns& Active() {
  static ActiveRuns* runs = new ActiveRuns;
  return *runs;
}

// Lists one sandbox in ActiveRuns from Track until it is destroyed: declared before the sandbox's owner,
// it goes after it, once the sandbox's processes and cgroups are gone.
class ActiveRunScope {
 public:
  ActiveRunScope() = default;
  ActiveRunScope(const ActiveRunScope&) = delete;
  ActiveRunScope& operator=(const ActiveRunScope&) = delete;
  ~ActiveRunScope() {
    if (!tracked_) return;
    ActiveRuns& runs = Active();
    std::lock_guard lock(runs.mu);
    runs.live.erase(tracked_);
    runs.gone.notify_all();
  }
  // Lists the sandbox; one launched while StopAllRuns runs is killed at once.
  void Track(sandbox::Sandbox* sb) {
    ActiveRuns& runs = Active();
    std::lock_guard lock(runs.mu);
    tracked_ = sb;
    runs.live.insert(sb);
    if (runs.stopping) SendKill(sb);
  }

 private:
  sandbox::Sandbox* tracked_ = nullptr;
};

class OneShot {
 public:
  OneShot(const RunRequest& request, const OutputCallback& on_output)
      : req_(request), on_output_(on_output) {}

  Result<RunResult> Run() {
    KILN_ASSIGN_OR_RETURN(sandbox::Backend * backend, DefaultBackend());
    KILN_ASSIGN_OR_RETURN(int envd_fd, EnvdBinaryFd());
    KILN_ASSIGN_OR_RETURN(Pipe out, MakePipe());
    KILN_ASSIGN_OR_RETURN(Pipe err, MakePipe());
    KILN_ASSIGN_OR_RETURN(Pipe status, MakePipe());
    KILN_ASSIGN_OR_RETURN(Pipe in, MakePipe());
    sandbox::LaunchOptions options;
    options.init_binary_fd = envd_fd;
    options.argv = InitArgv(req_);
    int stdin_fd = req_.inherit_stdin ? STDIN_FILENO : in.read.get();
    options.fds = {{stdin_fd, 0}, {out.write.get(), 1}, {err.write.get(), 2}, {status.write.get(), 3}};
    options.die_with_parent = true;  // this thread waits for the run: if it dies, so does the sandbox
    int64_t start = MonotonicNanos();
    ActiveRunScope active;
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<sandbox::Sandbox> sb, backend->Launch(req_.spec, options));
    active.Track(sb.get());
    out.write.reset(), err.write.reset(), status.write.reset(), in.read.reset();
    result_.sandbox_id = sb->id();
    stdin_ = std::move(in.write);
    if (req_.inherit_stdin) stdin_.reset();
    if (stdin_) fcntl(stdin_.get(), F_SETFL, O_NONBLOCK);
    captures_[0] = {1, std::move(out.read), &result_.stdout_data, req_.spec.limits.max_output_bytes,
                    &result_.truncated};
    captures_[1] = {2, std::move(err.read), &result_.stderr_data, req_.spec.limits.max_output_bytes,
                    &result_.truncated};
    status_fd_ = std::move(status.read);
    KILN_RETURN_IF_ERROR(Pump(*sb, start));
    KILN_ASSIGN_OR_RETURN(sandbox::ExitInfo exit, sb->Wait(-1));
    result_.oom_killed = exit.oom_killed;
    if (status_line_.empty() && !result_.timed_out) result_.exit_code = exit.exit_code;
    ParseStatusLine(status_line_, result_);
    if (result_.timed_out && status_line_.empty()) result_.exit_code = 137, result_.signal = 9;
    KILN_RETURN_IF_ERROR(sb->Destroy());
    result_.duration_ms = (MonotonicNanos() - start) / 1'000'000;
    return std::move(result_);
  }

 private:
  // Moves data between the sandbox and us until init exits (or the deadline passes and we kill it).
  Status Pump(sandbox::Sandbox& sb, int64_t start) {
    const int64_t timeout = req_.spec.limits.timeout_ms;
    const int64_t deadline = timeout > 0 ? start / 1'000'000 + timeout : -1;
    size_t stdin_sent = 0;
    if (req_.stdin_data.empty()) stdin_.reset();
    bool init_exited = false;
    while (captures_[0].fd || captures_[1].fd || status_fd_ || !init_exited) {
      pollfd fds[5];
      int n = 0;
      for (Capture& c : captures_) fds[n++] = {c.fd.get(), POLLIN, 0};
      fds[n++] = {status_fd_.get(), POLLIN, 0};
      fds[n++] = {init_exited ? -1 : sb.pidfd(), POLLIN, 0};
      fds[n++] = {stdin_.get(), POLLOUT, 0};
      int wait_ms = deadline < 0 ? -1 : static_cast<int>(std::max<int64_t>(0, deadline - MonotonicMillis()));
      int rc = poll(fds, n, wait_ms);
      if (rc < 0 && errno != EINTR) return ErrnoStatus("poll(sandbox io)", errno);
      if (rc == 0 && !result_.timed_out) {
        result_.timed_out = true;
        KILN_RETURN_IF_ERROR(sb.Kill());
        init_exited = true;
        continue;
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents) captures_[i].Drain(on_output_);
      }
      if (fds[2].revents) ReadStatus();
      if (fds[3].revents) init_exited = true;
      if (fds[4].revents) WriteStdin(stdin_sent);
    }
    return Status::Ok();
  }

  void ReadStatus() {
    char buf[256];
    ssize_t n = read(status_fd_.get(), buf, sizeof buf);
    if (n > 0) {
      status_line_.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      status_fd_.reset();
    }
  }

  void WriteStdin(size_t& sent) {
    ssize_t n = write(stdin_.get(), req_.stdin_data.data() + sent, req_.stdin_data.size() - sent);
    if (n > 0) sent += static_cast<size_t>(n);
    if ((n < 0 && errno != EINTR && errno != EAGAIN) || sent == req_.stdin_data.size()) stdin_.reset();
  }

  const RunRequest& req_;
  const OutputCallback& on_output_;
  RunResult result_;
  Capture captures_[2];
  UniqueFd status_fd_, stdin_;
  std::string status_line_;
};

}  // namespace

int StopAllRuns(int64_t timeout_ms) {
  ActiveRuns& runs = Active();
  std::unique_lock lock(runs.mu);
  runs.stopping = true;
  for (sandbox::Sandbox* sb : runs.live) SendKill(sb);
  runs.gone.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return runs.live.empty(); });
  return static_cast<int>(runs.live.size());
}

Result<RunResult> Run(const RunRequest& request, const OutputCallback& on_output) {
  if (request.argv.empty()) return InvalidArgument("run: no program given");
  // A program that closes its stdin early must not kill us with SIGPIPE when we write the rest.
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  });
  return OneShot(request, on_output).Run();
}

}  // namespace kiln::runtime
