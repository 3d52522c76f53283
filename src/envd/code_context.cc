#include "kiln/envd/code_context.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <fstream>
#include <string_view>

#include "kiln/base/ids.h"
#include "kiln/envd/router.h"
#include "runner_copies.h"

namespace kiln::envd {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string IsoNow() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros));
  return buf;
}

// A pipe whose ends live at fds >= 10, so spawn can place the child's copies at 3 and 4.
Status MakeHighPipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  for (int i = 0; i < 2; ++i) {
    int high = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
    ::close(fds[i]);
    fds[i] = high;
  }
  if (fds[0] < 0 || fds[1] < 0) return ErrnoStatus("fcntl(F_DUPFD_CLOEXEC)", errno);
  read_end->reset(fds[0]);
  write_end->reset(fds[1]);
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write to the context runner", errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// The longest prefix of `text` of at most `max` bytes that does not split a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t n = max;
  while (n > 0 && max - n < 3 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80 ? max : n);
}

std::string Frame(const std::string& payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                     static_cast<char>(n)};
  return out + payload;
}

struct Program {
  std::string name;
  std::vector<std::string> argv;
};

Program ProgramFor(const std::string& language, const std::string& kernel_bridge) {
  if (language == "python") return {"python3", {"python3", "-c", kPythonRunnerSource, kPythonChartsSource}};
  if (language == "bash") return {"bash", {"bash", "--norc", "--noprofile", "-c", kBashRunnerSource}};
  if (language == "javascript" || language == "typescript")
    // --expose-internals: the runner uses node's own top-level-await transform (internal/repl/await).
    return {"node", {"node", "--expose-internals", "-e", kJavascriptRunnerSource, language}};
  // Any other language is a Jupyter kernelspec (CodeInterpreter checked that one exists).
  return {kernel_bridge, {"kiln-kernel-bridge", "--language", language}};
}

}  // namespace

Status CodeItemSink::SendOutput(std::string_view type, std::string_view text, std::string_view timestamp) {
  return Send({{"type", type}, {"text", text}, {"timestamp", timestamp}});
}

struct CodeContext::Runner {
  std::shared_ptr<Process> process;
  std::shared_ptr<Subscription> output;
  UniqueFd requests;  // write end (our fd 3 of the child)
  UniqueFd events;    // read end (fd 4 of the child), non-blocking
  std::string event_buffer;
  bool dead = false;
};

// The state of one running cell.
struct CodeContext::Cell {
  CodeItemSink& sink;
  const CodeLimits& limits;
  std::string marker;
  size_t output_bytes = 0;
  bool capped = false;
  bool done = false;
  bool eof = false;
  bool timed_out = false;
  bool client_gone = false;
  bool failed = false;  // the runner reported an error
  std::optional<Clock::time_point> interrupted_at;
  std::optional<ExitInfo> exit;
  Clock::time_point last_item = Clock::now();
  std::string pending[2];  // raw stdout/stderr not yet forwarded (may hold a partial marker)
  bool marker_seen[2] = {false, false};

  void Send(Json item) {
    last_item = Clock::now();
    if (!client_gone && !sink.Send(item).ok()) client_gone = true;
  }
  // Forwards output up to the cap; past it, what fits (cut at a character boundary) and then nothing.
  void Output(const char* type, std::string_view text) {
    if (capped) return;
    if (text.size() > limits.max_output_bytes - output_bytes) {
      capped = true;
      text = Utf8Prefix(text, limits.max_output_bytes - output_bytes);
    }
    output_bytes += text.size();
    if (text.empty()) return;
    last_item = Clock::now();
    if (!client_gone && !sink.SendOutput(type, text, IsoNow()).ok()) client_gone = true;
  }
  void Event(Json event);
  void Raw(int stream, const std::string& data);
};

void CodeContext::Cell::Event(Json event) {
  std::string type = event.value("type", "");
  if (type == "error") failed = true;
  if (type == "done") {
    done = true;
  } else if (type == "stdout" || type == "stderr") {
    Output(type == "stdout" ? "stdout" : "stderr", event.value("text", ""));
  } else if (type == "error" && timed_out) {
    Send({{"type", "error"},
          {"name", "TimeoutError"},
          {"value", "the execution exceeded its timeout and was interrupted"},
          {"traceback", event.value("traceback", "")}});
  } else if (type == "result" || type == "error") {
    Send(std::move(event));
  }
}

void CodeContext::Cell::Raw(int stream, const std::string& data) {
  if (marker_seen[stream]) return;
  std::string& buf = pending[stream];
  buf += data;
  size_t at = buf.find(marker);
  size_t keep = at != std::string::npos ? buf.size() - at : std::min(buf.size(), marker.size() - 1);
  std::string ready = buf.substr(0, buf.size() - keep);
  buf.erase(0, buf.size() - keep);
  if (at != std::string::npos) {
    marker_seen[stream] = true;
    buf.clear();
  }
  if (!ready.empty()) Output(stream == 0 ? "stdout" : "stderr", std::move(ready));
}

CodeContext::CodeContext(std::string id, std::string language, std::string cwd, RunnerLaunch launch,
                         CodeLimits limits)
    : id_(std::move(id)),
      language_(std::move(language)),
      cwd_(std::move(cwd)),
      launch_(std::move(launch)),
      limits_(limits) {}

CodeContext::~CodeContext() {
  Stop();
}

Status CodeContext::EnsureStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  return StartLocked();
}

Status CodeContext::StartLocked() {
  if (runner_ && !runner_->dead) return Status::Ok();
  StopLocked();
  auto runner = std::make_unique<Runner>();
  UniqueFd child_requests, child_events;
  KILN_RETURN_IF_ERROR(MakeHighPipe(&child_requests, &runner->requests));
  KILN_RETURN_IF_ERROR(MakeHighPipe(&runner->events, &child_events));
  ::fcntl(runner->events.get(), F_SETFL, O_NONBLOCK);
  // Best effort: room for a whole output chunk of the runner, so it rarely waits for envd (the default is
  // 64 KiB; /proc/sys/fs/pipe-max-size may refuse more).
  (void)::fcntl(runner->events.get(), F_SETPIPE_SZ, 1 << 20);
  KILN_ASSIGN_OR_RETURN(UniqueFd cwd_fd, launch_.open_cwd(cwd_));
  if (cwd_fd.get() < 10) {
    int high = ::fcntl(cwd_fd.get(), F_DUPFD_CLOEXEC, 10);
    if (high < 0) return ErrnoStatus("fcntl(F_DUPFD_CLOEXEC)", errno);
    cwd_fd.reset(high);
  }
  Program program = ProgramFor(language_, launch_.kernel_bridge);
  SpawnSpec spec;
  spec.program = program.name;
  spec.argv = program.argv;
  spec.env = launch_.env;
  spec.cwd_fd = cwd_fd.get();
  spec.identity = launch_.identity;
  spec.extra_fds = {child_requests.get(), child_events.get()};
  ProcessConfig config;
  config.cmd = program.name;
  config.args = {"<kiln " + language_ + " code context " + id_ + ">"};
  config.cwd = cwd_;
  KILN_ASSIGN_OR_RETURN(auto started, launch_.table->Start(std::move(spec), std::move(config),
                                                           kCodeContextTagPrefix + id_, false));
  runner->process = started.process;
  runner->output = started.subscription;
  runner_ = std::move(runner);
  executions_ = 0;
  return Status::Ok();
}

void CodeContext::StopLocked() {
  if (runner_ && runner_->process) (void)runner_->process->Signal(SIGKILL);
  runner_.reset();
}

void CodeContext::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  StopLocked();
}

Status CodeContext::Restart() {
  std::lock_guard<std::mutex> lock(mu_);
  StopLocked();
  return StartLocked();
}

std::string CodeContext::EncodeRequest(const CodeExecuteRequest& request, const std::string& token) const {
  if (language_ == "bash") {
    std::string exports;
    for (const auto& [k, v] : request.env_vars) exports += k + "=" + v + "\n";
    return token + " " + std::to_string(request.code.size()) + " " + std::to_string(exports.size()) + "\n" +
           request.code + exports;
  }
  Json env = Json::object();
  for (const auto& [k, v] : request.env_vars) env[k] = v;
  return Frame(DumpJson({{"type", "execute"}, {"code", request.code}, {"env_vars", env}, {"token", token}}));
}

Status CodeContext::Execute(const CodeExecuteRequest& request, CodeItemSink& sink) {
  std::lock_guard<std::mutex> lock(mu_);
  KILN_RETURN_IF_ERROR(StartLocked());
  return RunCell(request, sink);
}

namespace {

// One frame from the runner: a JSON event, or raw output text of `stream` (0 stdout, 1 stderr).
struct RunnerEvent {
  Json json;
  int stream = -1;
  std::string text;
};

constexpr size_t kReadBatch = 1u << 20;  // read at most this much before forwarding what it holds

// Reads what the non-blocking events fd has (up to kReadBatch, so a fast writer cannot hold output back)
// and decodes the complete frames. Consecutive output frames of one stream merge into one event: prints
// that come faster than envd forwards them become one item, while a lone print stays an item of its own.
// *eof: the runner closed the fd.
std::vector<RunnerEvent> ReadEvents(int fd, std::string& buffer, bool* eof) {
  char chunk[65536];
  for (size_t got = 0; got < kReadBatch;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) *eof = true;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  std::vector<RunnerEvent> out;
  size_t at = 0;
  while (buffer.size() - at >= 4) {
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(buffer[at + i])); };
    uint32_t len = b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
    if (buffer.size() - at - 4 < len) break;
    std::string_view payload(buffer.data() + at + 4, len);
    at += 4 + len;
    int stream = payload.empty() ? -1 : payload[0] == '\x01' ? 0 : payload[0] == '\x02' ? 1 : -1;
    if (stream >= 0 && !out.empty() && out.back().stream == stream) {
      out.back().text.append(payload.substr(1));
    } else if (stream >= 0) {
      out.push_back({Json(), stream, std::string(payload.substr(1))});
    } else if (Json j = Json::parse(payload, nullptr, false); j.is_object()) {
      out.push_back({std::move(j), -1, {}});
    }
  }
  buffer.erase(0, at);
  if (buffer.empty() && buffer.capacity() > kReadBatch) std::string().swap(buffer);  // after a burst
  return out;
}

// The kernel's count of out-of-memory kills (host-wide, /proc/vmstat oom_kill); -1 if unknown.
int64_t OomKills() {
  std::ifstream in("/proc/vmstat");
  std::string key;
  int64_t value = 0;
  while (in >> key >> value)
    if (key == "oom_kill") return value;
  return -1;
}

std::string DeathMessage(const std::string& language, const std::optional<ExitInfo>& exit, bool oom,
                         int copies) {
  std::string how = exit ? exit->status : "its channel closed";
  if (oom) how = "killed: out of memory, the sandbox's memory limit was reached";
  if (copies > 0)
    how = "killed: the cell left " + std::to_string(copies) +
          " forked copies of it running, a fork bomb? The whole context was stopped";
  return "the " + language + " context's process died (" + how +
         "); it will be restarted on the next execution and its variables are lost";
}

}  // namespace

Status CodeContext::RunCell(const CodeExecuteRequest& request, CodeItemSink& sink) {
  Runner& r = *runner_;
  Cell cell{sink, limits_};
  std::string token = RandomHex(12);
  cell.marker = "\x1eKILN:" + token + "\x1e";
  (void)r.output->Take(Clock::now());  // output produced between cells is not this cell's
  const int64_t oom_kills = OomKills();
  cell.Send({{"type", "number_of_executions"}, {"execution_count", ++executions_}});
  Status wrote = WriteAll(r.requests.get(), EncodeRequest(request, token));
  cell.eof = !wrote.ok();
  auto start = Clock::now();
  while (!cell.done && !cell.eof && !cell.exit) {
    pollfd p{r.events.get(), POLLIN, 0};
    ::poll(&p, 1, 50);
    for (RunnerEvent& e : ReadEvents(r.events.get(), r.event_buffer, &cell.eof)) {
      if (e.stream >= 0) cell.Output(e.stream == 0 ? "stdout" : "stderr", e.text);
      if (e.stream < 0) cell.Event(std::move(e.json));
    }
    TakeRaw(r, cell, Clock::now());
    SuperviseCell(r, cell, request, start);
  }
  // The cell is over: collect the raw output up to the markers (or the end of a dead process).
  auto deadline = Clock::now() + std::chrono::milliseconds(cell.done ? 1000 : 2000);
  while (Clock::now() < deadline && !cell.exit && !(cell.done && cell.marker_seen[0] && cell.marker_seen[1]))
    TakeRaw(r, cell, Clock::now() + std::chrono::milliseconds(50));
  for (int s = 0; s < 2; ++s)
    if (!cell.marker_seen[s] && !cell.pending[s].empty())
      cell.Output(s ? "stderr" : "stdout", cell.pending[s]);
  if (cell.capped)
    cell.Send({{"type", "stderr"},
               {"text", "[output truncated: this execution printed more than " +
                            std::to_string(limits_.max_output_bytes) + " bytes]\n"},
               {"timestamp", IsoNow()}});
  // Forks of the runner (runner_copies.h) share its pipes: the context cannot be trusted any more.
  int copies = cell.done && (cell.failed || cell.interrupted_at) ? KillRunnerCopies(r.process->pid()) : 0;
  if (!cell.done || copies > 0) {
    r.dead = true;
    (void)r.process->Signal(SIGKILL);
    KillProcessGroup(r.process->pid());  // what it left behind, even if it was reaped already
    bool oom = cell.exit && cell.exit->status == "signal: killed" && oom_kills >= 0 && OomKills() > oom_kills;
    cell.Send({{"type", "error"},
               {"name", "ContextDied"},
               {"value", DeathMessage(language_, cell.exit, oom, copies)},
               {"traceback", ""}});
  }
  return Status::Ok();
}

void CodeContext::TakeRaw(Runner& r, Cell& cell, Clock::time_point deadline) {
  for (ProcessEvent& e : r.output->Take(deadline)) {
    if (e.kind == ProcessEvent::Kind::kStdout) cell.Raw(0, e.data);
    if (e.kind == ProcessEvent::Kind::kStderr) cell.Raw(1, e.data);
    if (e.kind == ProcessEvent::Kind::kEnd) cell.exit = e.exit;
  }
}

// Interrupts the cell on timeout or a gone client (SIGINT), escalating to SIGKILL after the grace period.
void CodeContext::SuperviseCell(Runner& r, Cell& cell, const CodeExecuteRequest& request,
                                Clock::time_point start) {
  if (!cell.client_gone && cell.sink.ClientGone()) cell.client_gone = true;
  if (!cell.timed_out && request.timeout_ms > 0 && MsSince(start) > request.timeout_ms) cell.timed_out = true;
  if ((cell.timed_out || cell.client_gone) && !cell.interrupted_at) {
    cell.interrupted_at = Clock::now();
    (void)r.process->Signal(SIGINT);
  }
  if (cell.interrupted_at && MsSince(*cell.interrupted_at) > limits_.interrupt_grace_ms) {
    (void)r.process->Signal(SIGKILL);
    cell.interrupted_at = Clock::now() + std::chrono::hours(1);
  }
  if (!cell.client_gone && MsSince(cell.last_item) >= limits_.keepalive_ms)
    cell.Send({{"type", "keepalive"}});
}

}  // namespace kiln::envd
