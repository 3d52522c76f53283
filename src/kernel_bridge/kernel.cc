#include "kiln/kernel_bridge/kernel.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "kernel_process.h"
#include "kiln/base/ids.h"
#include "kiln/kernel_bridge/items.h"

namespace kiln::kernel_bridge {
namespace {

using Clock = std::chrono::steady_clock;

sigset_t KernelSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  return set;
}

void Note(const std::string& text) {
  std::string line = "kiln-kernel-bridge: " + text + "\n";
  (void)!::write(2, line.data(), line.size());
}

}  // namespace

Status BlockKernelSignals() {
  sigset_t set = KernelSignals();
  int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return err == 0 ? Status::Ok() : ErrnoStatus("pthread_sigmask", err);
}

// Shell and control are DEALERs (the kernel's ROUTERs answer them), iopub a SUB subscribed to everything.
// Heartbeat and stdin are left unconnected: the kernel is our child (its death is a SIGCHLD) and
// allow_stdin is always false.
struct Kernel::Sockets {
  zmq::context_t context{1};
  zmq::socket_t channels[kChannelCount];
};

Kernel::Kernel(KernelSpec spec) : spec_(std::move(spec)), session_(RandomHex(16)) {}

Kernel::~Kernel() {
  sockets_.reset();  // closes the sockets (linger 0) before the context
  if (pid_ > 0 && exit_status_.empty()) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

Result<std::unique_ptr<Kernel>> Kernel::Start(const KernelSpec& spec, const KernelOptions& options) {
  std::unique_ptr<Kernel> kernel(new Kernel(spec));
  sigset_t set = KernelSignals();
  kernel->signal_fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!kernel->signal_fd_) return ErrnoStatus("signalfd", errno);
  KILN_ASSIGN_OR_RETURN(std::vector<int> ports, ReserveLoopbackPorts(kChannelCount));
  std::string key = RandomHex(32);
  kernel->signer_ = Signer(key);
  KILN_ASSIGN_OR_RETURN(kernel->dir_, MakePrivateDir(options.temp_root));
  std::string connection_file = kernel->dir_ + "/kernel-" + kernel->session_ + ".json";
  KILN_RETURN_IF_ERROR(WritePrivateFile(connection_file, ConnectionInfo(ports, key, spec.name).dump(2)));
  // What jupyter_client's KernelManager sets too: with JPY_PARENT_PID, ipykernel neither prints its
  // "connect another client" banner nor outlives us. The debugger's frozen-modules warning is start-up
  // noise that could otherwise land in the first cell's stderr.
  std::vector<std::pair<std::string, std::string>> env = {{"JPY_PARENT_PID", std::to_string(::getpid())},
                                                          {"PYDEVD_DISABLE_FILE_VALIDATION", "1"}};
  env.insert(env.end(), spec.env.begin(), spec.env.end());
  KILN_ASSIGN_OR_RETURN(kernel->pid_, SpawnKernel(KernelCommand(spec, connection_file), env));
  KILN_RETURN_IF_ERROR(kernel->Connect(ports));
  Status ready = kernel->WaitReady(options.startup_timeout);
  if (!ready.ok())
    return ready.WithContext("starting the " + spec.name + " kernel (" + spec.resource_dir + ")");
  return kernel;
}

Status Kernel::Connect(const std::vector<int>& ports) {
  sockets_ = std::make_unique<Sockets>();
  try {
    const std::pair<Channel, zmq::socket_type> kinds[] = {{kShell, zmq::socket_type::dealer},
                                                          {kControl, zmq::socket_type::dealer},
                                                          {kIopub, zmq::socket_type::sub}};
    for (const auto& [channel, type] : kinds) {
      zmq::socket_t& s = sockets_->channels[channel];
      s = zmq::socket_t(sockets_->context, type);
      s.set(zmq::sockopt::linger, 0);
      if (type == zmq::socket_type::sub) s.set(zmq::sockopt::subscribe, "");
      s.connect("tcp://127.0.0.1:" + std::to_string(ports[channel]));
    }
  } catch (const zmq::error_t& e) {
    return Internal(std::string("connecting to the kernel: ") + e.what());
  }
  return Status::Ok();
}

Status Kernel::Send(int channel, const Message& message) {
  std::vector<std::string> frames = EncodeMessage(message, signer_);
  std::vector<zmq::const_buffer> buffers;
  for (const std::string& f : frames) buffers.push_back(zmq::buffer(f));
  try {
    if (!zmq::send_multipart(sockets_->channels[channel], buffers))
      return Unavailable("the kernel's socket is full");
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("sending to the kernel: ") + e.what());
  }
  return Status::Ok();
}

// Every message waiting on `channel`. Messages that fail verification are dropped, with a note on stderr.
std::vector<Message> Kernel::ReceiveAll(int channel) {
  std::vector<Message> out;
  for (;;) {
    std::vector<zmq::message_t> parts;
    try {
      if (!zmq::recv_multipart(sockets_->channels[channel], std::back_inserter(parts),
                               zmq::recv_flags::dontwait))
        return out;
    } catch (const zmq::error_t& e) {
      Note(std::string("receiving from the kernel: ") + e.what());
      return out;
    }
    std::vector<std::string> frames;
    for (const zmq::message_t& p : parts) frames.push_back(p.to_string());
    Result<Message> m = DecodeMessage(frames, signer_);
    if (m.ok()) {
      out.push_back(std::move(m).value());
    } else {
      Note("dropped a message from the kernel: " + m.status().message());
    }
  }
}

Status Kernel::HandleSignals(bool in_cell) {
  signalfd_siginfo info;
  while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGINT && in_cell && exit_status_.empty()) (void)Interrupt();
  }
  int wait_status = 0;
  if (exit_status_.empty() && pid_ > 0 && ::waitpid(pid_, &wait_status, WNOHANG) == pid_) {
    exit_status_ = DescribeWaitStatus(wait_status);
    ::kill(-pid_, SIGKILL);  // what the kernel started dies with it
  }
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  if (!exit_status_.empty()) return Unavailable("the " + spec_.name + " kernel exited: " + exit_status_);
  return Status::Ok();
}

Status Kernel::Interrupt() {
  if (spec_.interrupt_mode == "message")
    return Send(kControl, NewMessage("interrupt_request", session_, Json::object()));
  if (::kill(pid_, SIGINT) != 0) return ErrnoStatus("kill(SIGINT) the kernel", errno);
  return Status::Ok();
}

// Sends kernel_info_request until it is answered and iopub has delivered something: a SUB socket only
// receives what is published after its subscription reaches the kernel, so "replied" alone could still
// lose the first cell's output.
Status Kernel::WaitReady(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  bool replied = false, iopub_live = false;
  while (!(replied && iopub_live)) {
    if (Clock::now() > deadline)
      return DeadlineExceeded("no kernel_info_reply within " + std::to_string(timeout.count()) + " ms");
    Message request = NewMessage("kernel_info_request", session_, Json::object());
    KILN_RETURN_IF_ERROR(Send(kShell, request));
    auto round_end = Clock::now() + std::chrono::milliseconds(replied ? 200 : 1000);
    while (Clock::now() < round_end && !(replied && iopub_live)) {
      zmq::pollitem_t items[] = {{sockets_->channels[kShell].handle(), 0, ZMQ_POLLIN, 0},
                                 {sockets_->channels[kIopub].handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, signal_fd_.get(), ZMQ_POLLIN, 0}};
      zmq::poll(items, 3, std::chrono::milliseconds(50));
      for (const Message& m : ReceiveAll(kShell)) replied |= m.type() == "kernel_info_reply";
      iopub_live |= !ReceiveAll(kIopub).empty();
      KILN_RETURN_IF_ERROR(HandleSignals(false));
    }
  }
  return Status::Ok();
}

// Runs `code` with silent true (no output, no history, no counter); returns the request's msg_id. Shell
// requests are handled in order, so a silent request sent just before or after a cell runs right there.
std::string Kernel::RunSilently(const std::string& code) {
  Message m = NewMessage("execute_request", session_,
                         {{"code", code},
                          {"silent", true},
                          {"store_history", false},
                          {"user_expressions", Json::object()},
                          {"allow_stdin", false},
                          {"stop_on_error", false}});
  (void)Send(kShell, m);
  return m.id();
}

void Kernel::HandleShell(const Message& reply, const std::string& cell_id, bool* replied, bool* error_sent,
                         const std::function<void(Json)>& emit) {
  if (reply.type() != "execute_reply" || reply.parent_id() != cell_id) return;
  *replied = true;
  if (*error_sent) return;
  // Kernels publish an iopub error as well; a reply-only error (some kernels) must not be lost. An
  // interrupted cell may end with status "abort" and nothing else (IRkernel): say so.
  std::string status = reply.content.value("status", "");
  if (status == "error") emit(ErrorItem(reply.content));
  if (status == "abort" || status == "aborted")
    emit({{"type", "error"},
          {"name", "Interrupted"},
          {"value", "the kernel stopped the execution"},
          {"traceback", ""}});
  *error_sent = status != "ok";
}

Status Kernel::Execute(const std::string& code,
                       const std::vector<std::pair<std::string, std::string>>& env_vars,
                       const std::function<void(Json)>& emit) {
  auto env_code = EnvVarCode(spec_.language, env_vars);
  if (env_code) RunSilently(env_code->first);
  Message request =
      NewMessage("execute_request", session_,
                 {{"code", code},
                  {"silent", false},
                  {"store_history", true},
                  {"user_expressions", Json::object()},
                  {"allow_stdin", false},
                  // One cell at a time, so nothing is queued behind it. With true, ipykernel
                  // aborts whatever reaches it shortly after an error: the next cell, under load.
                  {"stop_on_error", false}});
  KILN_RETURN_IF_ERROR(Send(kShell, request));
  const std::string cell_id = request.id();
  bool idle = false, replied = false, error_sent = false;
  while (!(idle && replied)) {
    zmq::pollitem_t items[] = {{sockets_->channels[kShell].handle(), 0, ZMQ_POLLIN, 0},
                               {sockets_->channels[kIopub].handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, signal_fd_.get(), ZMQ_POLLIN, 0}};
    zmq::poll(items, 3, std::chrono::milliseconds(-1));
    for (const Message& m : ReceiveAll(kIopub)) {
      if (m.parent_id() != cell_id) continue;  // silent env requests, other clients
      if (m.type() == "status" && m.content.value("execution_state", "") == "idle") idle = true;
      std::optional<Json> item = ItemForIopub(m);
      if (!item) continue;
      error_sent |= m.type() == "error";
      emit(std::move(*item));
    }
    for (const Message& m : ReceiveAll(kShell)) HandleShell(m, cell_id, &replied, &error_sent, emit);
    KILN_RETURN_IF_ERROR(HandleSignals(true));
  }
  // Only now, after the cell: the restore must not run while the cell's code still could.
  if (env_code) RunSilently(env_code->second);
  return Status::Ok();
}

}  // namespace kiln::kernel_bridge
