// SandboxPool (internal to kiln_control): per template, a number of started sandboxes kept ready for
// Control::Create (`kiln serve --pool TEMPLATE=N`).
//
// One background thread refills: while a template has fewer ready than its size, it calls `make` (which
// starts and registers a sandbox, state "pooled") one at a time, oldest deficit first; a failure is logged
// and retried after a back-off (1 s doubling to 30 s) so a broken host does not spin. Take() hands out the
// oldest ready sandbox of a template and wakes the refill. The pool never kills: what it holds at Stop()
// belongs to the runtime, which the Control's destructor empties.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "kiln/control/control.h"

namespace kiln::control {

class SandboxPool {
 public:
  using Make = std::function<Result<SandboxRecord>(const std::string& template_id)>;
  // `sizes`: template id -> ready sandboxes to keep (entries of 0 are ignored). Starts the refill thread
  // when there is anything to keep.
  SandboxPool(std::map<std::string, int64_t> sizes, Make make);
  ~SandboxPool();  // Stop()

  // The oldest ready sandbox of the template, now the caller's; nullopt when none is ready.
  std::optional<SandboxRecord> Take(const std::string& template_id);
  // Whether `id` waits in the pool (or is being made for it): not anybody's sandbox yet.
  bool Holds(const std::string& id) const;
  // Ready sandboxes per configured template (0 included); `making` receives the creations under way.
  std::map<std::string, int64_t> Ready(int64_t* making = nullptr) const;
  // Stops the refill thread, waiting for a creation under way. Idempotent.
  void Stop();

 private:
  void Refill();
  // The template with the largest deficit, or "" when every template is full.
  std::string Neediest() const;  // with mu_ held

  const std::map<std::string, int64_t> sizes_;
  const Make make_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int64_t making_ = 0;
  std::map<std::string, std::deque<SandboxRecord>> ready_;
  std::set<std::string> held_;
  std::thread refiller_;
};

}  // namespace kiln::control
