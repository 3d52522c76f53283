// CheckpointStore: where a workflow thread's checkpoints, step journal and ownership live.
//
// A thread is a sequence of checkpoints, each with a parent link (history is never rewritten; a fork adds a
// checkpoint whose parent is an older one and moves the thread's head to it). The step journal records a
// side-effecting step before it runs and its result after, keyed by the checkpoint the step started from,
// so a resume can tell "done, reuse the result" from "cut off mid-way". Ownership: one process runs a
// thread at a time; Claim fails with a conflict while a live process owns it, and a dead owner's (kill -9)
// claim is taken over. SqliteCheckpointStore keeps all of it in one SQLite file in WAL mode; every call
// is its own transaction, durable against a killed process once it returns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

namespace kiln::workflow {

using Json = nlohmann::json;

// Checkpoints carry the version of the layout of their state and fields; a reader refuses newer ones.
inline constexpr int kCheckpointSchemaVersion = 1;

enum class ThreadStatus { kRunning, kInterrupted, kStopped, kDone, kFailed };
std::string_view ThreadStatusName(ThreadStatus status);
Result<ThreadStatus> ParseThreadStatus(std::string_view name);

struct Checkpoint {
  std::string thread_id;
  int64_t id = 0;         // 1, 2, 3... within the thread
  int64_t parent_id = 0;  // 0 for the first
  int64_t step = 0;       // nodes run from the start to here
  int schema_version = kCheckpointSchemaVersion;
  std::string next;  // node to run from here, or kEnd
  Json state = Json::object();
  Json interrupt;  // the question, when status is kInterrupted
  ThreadStatus status = ThreadStatus::kRunning;
  std::string reason;  // why it stopped or failed
  int64_t created_ms = 0;
};

struct ThreadInfo {
  std::string id;
  ThreadStatus status = ThreadStatus::kRunning;
  int64_t head = 0;
  int64_t owner_pid = 0;  // 0 when nobody runs it
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct StepRecord {
  int64_t from_checkpoint = 0;
  std::string node;
  bool done = false;  // false: started and never finished (cut off)
  int attempts = 0;   // times it was started
  Json output;        // the node's output once done
};

struct PruneOptions {
  int64_t now_ms = 0;
  // Threads not updated for this long are deleted (0: keep all). Running threads are never deleted.
  int64_t max_idle_ms = 0;
  // Per thread, keep only the newest N checkpoints plus the head's ancestry up to N (0: keep all).
  int keep_checkpoints = 0;
};

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;

  // Creates the thread claimed by `owner_pid` with its first checkpoint, in one transaction (a kill cannot
  // leave a thread without one); returns the checkpoint's id. AlreadyExists if the id is taken.
  virtual Result<int64_t> CreateThread(const Checkpoint& first, int64_t owner_pid) = 0;
  // Makes `owner_pid` the thread's runner. FailedPrecondition ("conflict: ...") while another live process
  // (or another claim in this one) holds it; NotFound for an unknown thread.
  virtual Result<ThreadInfo> Claim(const std::string& thread_id, int64_t owner_pid) = 0;
  // Gives up the claim if `owner_pid` holds it.
  virtual Status Release(const std::string& thread_id, int64_t owner_pid) = 0;
  // Adds a checkpoint (its id assigned and returned) and makes it the head, setting the thread's status
  // from it. Conflict unless `owner_pid` holds the claim and the head is still `expected_head`.
  virtual Result<int64_t> Append(Checkpoint checkpoint, int64_t expected_head, int64_t owner_pid) = 0;

  virtual Result<ThreadInfo> GetThread(const std::string& thread_id) = 0;
  virtual Result<std::vector<ThreadInfo>> ListThreads() = 0;
  virtual Result<Checkpoint> GetCheckpoint(const std::string& thread_id, int64_t id) = 0;
  // Newest first.
  virtual Result<std::vector<Checkpoint>> History(const std::string& thread_id) = 0;
  virtual Status DeleteThread(const std::string& thread_id) = 0;

  // Journal of side-effecting steps. StartStep counts an attempt; FinishStep stores the output.
  virtual Status StartStep(const std::string& thread_id, int64_t from_checkpoint,
                           const std::string& node) = 0;
  virtual Status FinishStep(const std::string& thread_id, int64_t from_checkpoint, const Json& output) = 0;
  virtual Result<std::optional<StepRecord>> GetStep(const std::string& thread_id,
                                                    int64_t from_checkpoint) = 0;
  // The thread's whole journal, oldest first (every branch: a fork does not erase what ran).
  virtual Result<std::vector<StepRecord>> Steps(const std::string& thread_id) = 0;

  // Returns how many checkpoints were deleted.
  virtual Result<int64_t> Prune(const PruneOptions& options) = 0;
};

// Opens (creating if needed) the SQLite file at `path`.
Result<std::unique_ptr<CheckpointStore>> OpenSqliteCheckpointStore(const std::string& path);

// True if a process with this pid exists (a zombie counts: reap children before resuming their threads).
bool ProcessAlive(int64_t pid);

}  // namespace kiln::workflow
