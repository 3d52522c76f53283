#include "kiln/base/child_stack.h"

#include <signal.h>
#include <sys/mman.h>

#include <cerrno>
#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace kiln {
namespace {

// More stacks than concurrent spawns are never needed; beyond this many, returned stacks are unmapped.
constexpr size_t kKeptStacks = 16;

std::mutex& PoolMutex() {
  static std::mutex mu;
  return mu;
}

std::vector<void*>& Pool() {
  static auto* pool = [] {  // never destroyed: children may be spawned during exit
    auto* stacks = new std::vector<void*>();
    stacks->reserve(kKeptStacks);
    return stacks;
  }();
  return *pool;
}

}  // namespace

Result<ChildStack> ChildStack::Take() {
  {
    std::lock_guard<std::mutex> lock(PoolMutex());
    if (!Pool().empty()) {
      void* base = Pool().back();
      Pool().pop_back();
      // A child that ran on this stack shared our memory, shadow included: under AddressSanitizer its
      // frames' poisoning outlives it and the next child's writes there would be reported as bad.
#if defined(__SANITIZE_ADDRESS__)
      ASAN_UNPOISON_MEMORY_REGION(base, kSize);
#endif
      return ChildStack(base);
    }
  }
  void* base = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) return ErrnoStatus("mmap(child stack)", errno);
  return ChildStack(base);
}

ChildStack::~ChildStack() {
  if (!base_) return;
  {
    std::lock_guard<std::mutex> lock(PoolMutex());
    if (Pool().size() < kKeptStacks) {
      Pool().push_back(base_);
      return;
    }
  }
  munmap(base_, kSize);
}

int ResetSignalsInChild() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // EINVAL for KILL/STOP: fine
  sigset_t none;
  sigemptyset(&none);
  return sigprocmask(SIG_SETMASK, &none, nullptr) == 0 ? 0 : errno;
}

}  // namespace kiln
