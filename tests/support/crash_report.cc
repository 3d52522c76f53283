// Linked into every test binary (kiln_test in the top-level CMakeLists): a test process that dies of a
// fatal signal prints the signal and a backtrace on stderr before it dies, so that a crash seen once in
// CI (where no core is kept) can be read from the log. Left out of sanitizer builds, which report better.
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

void WriteText(const char* text) {
  (void)!write(STDERR_FILENO, text, strlen(text));
}

void ReportAndDie(int sig) {
  WriteText("\n*** test process got signal ");
  WriteText(strsignal(sig));
  WriteText("; backtrace (resolve with addr2line -e BINARY OFFSET):\n");
  void* frames[64];
  int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  signal(sig, SIG_DFL);
  raise(sig);
}

struct InstallCrashReport {
  InstallCrashReport() {
    if (std::getenv("KILN_TEST_NO_CRASH_REPORT")) return;
    void* warm[1];
    backtrace(warm, 1);  // loads libgcc's unwinder now: not inside a handler, where it could deadlock
    // On its own stack, so that a stack overflow is reported too.
    static char alt_stack[64 << 10];
    stack_t ss{};
    ss.ss_sp = alt_stack;
    ss.ss_size = sizeof alt_stack;
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_handler = ReportAndDie;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int sig : kFatalSignals) sigaction(sig, &sa, nullptr);
  }
} install_crash_report;

}  // namespace
