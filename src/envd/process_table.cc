#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <system_error>
#include <thread>

#include "kiln/envd/event_log.h"
#include "kiln/envd/process.h"
#include "kiln/envd/reaper.h"

namespace kiln::envd {
namespace {

struct Pipe {
  UniqueFd read_end, write_end;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The child's stdin when the caller asked for none: /dev/null, or an already-closed pipe when the
// sandbox has no /dev/null (the program sees EOF either way).
Result<UniqueFd> NullInput() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return UniqueFd(fd);
  KILN_ASSIGN_OR_RETURN(Pipe p, MakePipe());
  return std::move(p.read_end);
}

// What the sandbox's log says about a process: its pid, command line and tag.
std::map<std::string, std::string> CommandFields(const Process& process) {
  std::string command = process.config().cmd;
  for (const std::string& arg : process.config().args) command += " " + arg;
  std::map<std::string, std::string> fields = {{"pid", std::to_string(process.pid())}, {"cmd", command}};
  if (process.tag()) fields["tag"] = *process.tag();
  return fields;
}

}  // namespace

Result<ProcessTable::Started> ProcessTable::Start(SpawnSpec spec, ProcessConfig config,
                                                  std::optional<std::string> tag, bool stdin_pipe) {
  KILN_ASSIGN_OR_RETURN(Pipe out, MakePipe());
  KILN_ASSIGN_OR_RETURN(Pipe err, MakePipe());
  Pipe in;
  if (stdin_pipe) {
    KILN_ASSIGN_OR_RETURN(in, MakePipe());
    ::fcntl(in.write_end.get(), F_SETFL, O_NONBLOCK);  // WriteStdin polls with a deadline
  } else {
    KILN_ASSIGN_OR_RETURN(in.read_end, NullInput());
  }
  spec.stdin_fd = in.read_end.get();
  spec.stdout_fd = out.write_end.get();
  spec.stderr_fd = err.write_end.get();
  Wiring io;
  io.out = std::move(out.read_end);
  io.err = std::move(err.read_end);
  io.stdin_write = std::move(in.write_end);
  io.child_ends.push_back(std::move(in.read_end));
  io.child_ends.push_back(std::move(out.write_end));
  io.child_ends.push_back(std::move(err.write_end));
  return Launch(spec, std::move(config), std::move(tag), std::move(io));
}

Result<ProcessTable::Started> ProcessTable::StartPty(SpawnSpec spec, ProcessConfig config,
                                                     std::optional<std::string> tag, PtySize size,
                                                     std::optional<uid_t> owner) {
  KILN_ASSIGN_OR_RETURN(Pty pty, OpenPty(size, owner));
  // The reader thread and the writers each hold their own fd, so neither closing pulls the other's away.
  int reader = ::fcntl(pty.master.get(), F_DUPFD_CLOEXEC, 0);
  if (reader < 0) return ErrnoStatus("dup the terminal", errno);
  spec.stdin_fd = spec.stdout_fd = spec.stderr_fd = pty.slave.get();
  spec.controlling_tty = true;
  Wiring io;
  io.out = UniqueFd(reader);
  io.pty_master = std::move(pty.master);
  // Closed once the child has it: the reader sees EIO when the last holder of the slave exits.
  io.child_ends.push_back(std::move(pty.slave));
  return Launch(spec, std::move(config), std::move(tag), std::move(io));
}

Result<ProcessTable::Started> ProcessTable::StartAttached(SpawnSpec spec, ProcessConfig config,
                                                          std::optional<std::string> tag) {
  if (spec.stdin_fd < 0 || spec.stdout_fd < 0 || spec.stderr_fd < 0)
    return InvalidArgument("an attached process needs its stdin, stdout and stderr");
  return Launch(spec, std::move(config), std::move(tag), Wiring{});
}

Result<ProcessTable::Started> ProcessTable::Launch(SpawnSpec& spec, ProcessConfig config,
                                                   std::optional<std::string> tag, Wiring io) {
  std::shared_ptr<Process> process;
  ForkedChild child;
  {
    // Registered under the lock the reaper takes to route statuses: it cannot see the pid before we do.
    // ForkChild returns once the child has exec'd (vfork), so the lock is held through that exec.
    std::lock_guard<std::mutex> lock(mu_);
    KILN_ASSIGN_OR_RETURN(child, ForkChild(spec));
    process = std::make_shared<Process>(child.pid, std::move(config), std::move(tag), max_buffered_bytes_);
    processes_[child.pid] = process;
  }
  if (reaper_) reaper_->ChildAdded();
  io.child_ends.clear();
  Status exec = AwaitExec(child, spec);
  if (!exec.ok()) {
    Remove(process->pid(), process.get());
    return exec;
  }
  {
    // The process is in the table already: SendInput and Update may look at these now.
    std::lock_guard<std::mutex> lock(process->stdin_mu_);
    process->stdin_ = std::move(io.stdin_write);
    process->pty_ = std::move(io.pty_master);
  }
  std::shared_ptr<Subscription> sub = process->Subscribe();
  try {
    std::thread([this, process, o = std::move(io.out), e = std::move(io.err)]() mutable {
      process->PumpOutput(std::move(o), std::move(e), [&] { Remove(process->pid(), process.get()); });
    }).detach();
  } catch (const std::system_error& e) {
    // No thread to spare (the sandbox's pids limit counts envd's threads): nobody would ever read the
    // child's output or retire its entry, so it must not live on. The reaper collects it; the output pipes
    // closed with the lambda that could not run.
    (void)process->Signal(SIGKILL);
    Remove(process->pid(), process.get());
    return ResourceExhausted(
        std::string("cannot start a thread to follow the process (the sandbox's process ") +
        "limit is reached?): " + e.what());
  }
  SandboxEvents().Add("info", "process started", CommandFields(*process));
  return Started{process, sub};
}

std::shared_ptr<Process> ProcessTable::Find(uint32_t pid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = processes_.find(static_cast<pid_t>(pid));
  return it == processes_.end() ? nullptr : it->second;
}

std::shared_ptr<Process> ProcessTable::FindTag(const std::string& tag) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [pid, p] : processes_)
    if (p->tag() == tag) return p;
  return nullptr;
}

std::vector<std::shared_ptr<Process>> ProcessTable::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Process>> out;
  for (const auto& [pid, p] : processes_)
    if (p->running()) out.push_back(p);
  return out;
}

void ProcessTable::OnExit(pid_t pid, int wait_status) {
  std::shared_ptr<Process> process = Find(static_cast<uint32_t>(pid));
  if (!process) return;
  // Logged before the end is announced: whoever saw the process end finds its entry in the log.
  std::map<std::string, std::string> fields = CommandFields(*process);
  if (WIFEXITED(wait_status)) fields["exitCode"] = std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) fields["signal"] = std::to_string(WTERMSIG(wait_status));
  SandboxEvents().Add(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0 ? "info" : "warn",
                      "process ended", std::move(fields));
  process->NoteExit(wait_status);
}

void ProcessTable::Remove(pid_t pid, const Process* expected) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = processes_.find(pid);
  // The pid may already name a newer process (reused after the reap): only remove our own entry.
  if (it != processes_.end() && it->second.get() == expected) processes_.erase(it);
}

}  // namespace kiln::envd
