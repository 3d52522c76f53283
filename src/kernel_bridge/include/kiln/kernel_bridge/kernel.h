// Kernel: one Jupyter kernel process started from a kernelspec and driven over ZeroMQ (cppzmq) with the
// Jupyter messaging protocol, signed with HMAC-SHA256.
//
// Start() writes a connection file (tcp on 127.0.0.1, five free ports, a random 256-bit key) into a fresh
// 0700 directory, spawns the kernel in its own process group (so an interrupt reaches only the kernel, the
// way the spec's interrupt_mode says) with PR_SET_PDEATHSIG so it dies with us, connects shell, control and
// iopub, and waits until the kernel has answered kernel_info_request and iopub delivers.
//
// The owner must block SIGINT and SIGCHLD in every thread before Start() (BlockKernelSignals(), called
// first thing in main, before any thread exists): they are read from signal_fd() instead, so an interrupt
// or the kernel's death wakes the same poll as the sockets.
//
// Thread-compatible: one thread drives a Kernel.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/fd.h"
#include "kiln/base/status.h"
#include "kiln/kernel_bridge/kernelspec.h"
#include "kiln/kernel_bridge/wire.h"

namespace kiln::kernel_bridge {

// Blocks SIGINT and SIGCHLD in the calling thread (and the threads it creates later).
Status BlockKernelSignals();

struct KernelOptions {
  std::chrono::milliseconds startup_timeout{60'000};
  std::string temp_root;  // parent of the connection-file directory; empty: $TMPDIR, else /tmp
};

class Kernel {
 public:
  // Errors: NotFound when argv[0] cannot be executed, DeadlineExceeded when the kernel does not answer
  // within startup_timeout, Unavailable when it exits during start-up (naming its exit status).
  static Result<std::unique_ptr<Kernel>> Start(const KernelSpec& spec, const KernelOptions& options);
  // SIGKILLs the kernel's process group, reaps it and removes the connection file.
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // Runs one cell and returns once the kernel is idle again and has replied. Every /execute item the cell
  // produces (see items.h) goes to `emit`, in order. SIGINT while it runs interrupts the kernel. stdin is
  // refused (allow_stdin false), so input() fails inside the kernel. `env_vars` are applied around the cell
  // where EnvVarCode knows the language, else ignored. Unavailable once the kernel has died.
  Status Execute(const std::string& code, const std::vector<std::pair<std::string, std::string>>& env_vars,
                 const std::function<void(Json)>& emit);

  // Interrupts the running cell: SIGINT to the kernel, or interrupt_request on control when the kernelspec
  // says interrupt_mode "message".
  Status Interrupt();

  // Readable when SIGINT or SIGCHLD is pending; then call HandleSignals().
  int signal_fd() const { return signal_fd_.get(); }
  // Consumes pending signals: SIGINT -> Interrupt() when `in_cell` (an idle kernel has nothing to stop),
  // SIGCHLD -> reaps the kernel. Unavailable ("the kernel exited: exit status 1") once it has exited.
  Status HandleSignals(bool in_cell);

  const KernelSpec& spec() const { return spec_; }
  pid_t pid() const { return pid_; }

 private:
  struct Sockets;
  explicit Kernel(KernelSpec spec);
  Status Connect(const std::vector<int>& ports);
  Status WaitReady(std::chrono::milliseconds timeout);
  Status Send(int channel, const Message& message);
  std::vector<Message> ReceiveAll(int channel);
  std::string RunSilently(const std::string& code);
  void HandleShell(const Message& reply, const std::string& cell_id, bool* replied, bool* error_sent,
                   const std::function<void(Json)>& emit);

  KernelSpec spec_;
  std::string session_;
  Signer signer_{""};
  std::string dir_;  // the private directory of the connection file
  pid_t pid_ = -1;
  std::string exit_status_;  // set once reaped
  UniqueFd signal_fd_;
  std::unique_ptr<Sockets> sockets_;
};

}  // namespace kiln::kernel_bridge
