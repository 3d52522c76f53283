// For children started with clone(CLONE_VM | CLONE_VFORK): stacks kept for reuse, and the signal reset.
//
// Such a child runs on a stack of its own until it execs, inside the parent's memory. Mapping a fresh stack
// and unmapping it after every spawn makes each spawn pay for a TLB shootdown on every CPU the process runs
// on; a pool of kept stacks does not. Thread-safe.
#pragma once

#include <cstddef>

#include "kiln/base/status.h"

namespace kiln {

class ChildStack {
 public:
  static constexpr size_t kSize = 256 * 1024;

  // A stack of kSize bytes from the pool, or a new mapping.
  static Result<ChildStack> Take();

  ChildStack(ChildStack&& other) noexcept : base_(other.base_) { other.base_ = nullptr; }
  ChildStack& operator=(ChildStack&&) = delete;
  ChildStack(const ChildStack&) = delete;
  ~ChildStack();  // back to the pool (or unmapped when the pool is full)

  void* base() const { return base_; }
  // The initial stack pointer: stacks grow down.
  void* top() const { return static_cast<char*>(base_) + kSize; }

 private:
  explicit ChildStack(void* base) : base_(base) {}
  void* base_;
};

// In such a child, started with every signal blocked: every handler back to SIG_DFL first (the parent's
// handlers must never run on memory the child shares with it), then an empty mask. Async-signal-safe.
// Returns 0 or the errno of the failed sigprocmask.
int ResetSignalsInChild();

}  // namespace kiln
