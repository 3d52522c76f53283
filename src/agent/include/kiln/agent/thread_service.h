// ThreadService: the coding workflow's threads and runs for a server (kiln serve's LangGraph-compatible API
// is an HTTP adapter over it; tests call it directly).
//
// A thread is created empty (no checkpoint yet: the engine makes the first when its first run starts) and
// its first run brings the task. Runs are synchronous (Run) or in the background (StartRun, then WaitRun).
// Every run builds its own provider from the server's model string (a scripted model resumes after the
// responses the thread already used) and shares the server's executor. Two runs of one thread at once: the
// second gets FailedPrecondition ("conflict: ..."), as the engine's claim decides.
//
// Durability: checkpoints are in the store (SQLite). Threads created but never run, thread metadata and the
// run registry (run ids, background status) live in memory only and are lost on restart; the threads' state
// is not. Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/agent/executor.h"
#include "kiln/llm/provider.h"
#include "kiln/workflow/checkpoint_store.h"
#include "kiln/workflow/engine.h"

namespace kiln::agent {

struct ThreadServiceOptions {
  std::string model;  // the model string every run uses ("script:FILE" in tests); empty: runs fail
  int default_max_attempts = 3;
  llm::EnvLookup env;  // the providers' keys
};

struct ThreadView {
  std::string id;
  nlohmann::json metadata = nlohmann::json::object();
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  bool started = false;  // has checkpoints
  bool busy = false;     // a run holds it
  workflow::ThreadStatus status = workflow::ThreadStatus::kRunning;
  std::optional<workflow::Checkpoint> head;
};

// What a run does: start the thread with `input` (a new thread: {"task": "...", "review":
// "never|before-run|after-run", "max_attempts": N, "tests": "..."}), answer its question (`resume`, a review
// answer as coding_workflow.h's ReviewAnswer JSON), or continue from `checkpoint` (a fork of an older
// checkpoint, then a resume).
struct RunRequest {
  nlohmann::json input;  // null when not starting
  std::optional<nlohmann::json> resume;
  std::optional<int64_t> checkpoint;
  nlohmann::json metadata = nlohmann::json::object();
};

enum class RunStatus { kPending, kRunning, kSuccess, kInterrupted, kError };
std::string_view RunStatusName(RunStatus status);  // LangGraph's: pending running success interrupted error

struct RunView {
  std::string run_id;
  std::string thread_id;
  RunStatus status = RunStatus::kPending;
  nlohmann::json metadata = nlohmann::json::object();
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t first_checkpoint = 0;  // the head before the run (its new checkpoints come after)
  std::optional<workflow::RunOutcome> outcome;
  Status error = Status::Ok();
};

class ThreadService {
 public:
  ThreadService(std::unique_ptr<workflow::CheckpointStore> store, Executor* executor,
                ThreadServiceOptions options);
  ~ThreadService();  // waits for background runs

  // `id` empty: a new UUID. AlreadyExists for a taken id.
  Result<ThreadView> CreateThread(const std::string& id, const nlohmann::json& metadata);
  Result<ThreadView> GetThread(const std::string& id);
  Result<std::vector<ThreadView>> ListThreads();
  Status DeleteThread(const std::string& id);
  // The head, or checkpoint `id` of the thread.
  Result<workflow::Checkpoint> State(const std::string& thread_id, std::optional<int64_t> checkpoint);
  Result<std::vector<workflow::Checkpoint>> History(const std::string& thread_id);
  // A new head copying `checkpoint` with `values` folded in (the old branch stays in history).
  Result<int64_t> Fork(const std::string& thread_id, int64_t checkpoint, const nlohmann::json& values);

  // Runs to the next question or the end. The RunView carries the outcome or the error.
  RunView Run(const std::string& thread_id, const RunRequest& request);
  // The same in the background: returns the pending run at once (errors found before it starts, such as an
  // unknown thread, are returned).
  Result<RunView> StartRun(const std::string& thread_id, const RunRequest& request);
  Result<RunView> GetRun(const std::string& thread_id, const std::string& run_id);
  Result<RunView> WaitRun(const std::string& thread_id, const std::string& run_id);
  Result<std::vector<RunView>> ListRuns(const std::string& thread_id);

  // How many model calls and sandbox executions the thread's journal has started (all branches).
  Result<std::pair<int, int>> EffectCounts(const std::string& thread_id);

 private:
  Result<workflow::RunOutcome> Execute(const std::string& thread_id, const RunRequest& request);
  RunView NewRun(const std::string& thread_id, const RunRequest& request);
  void Finish(const std::string& run_id, Result<workflow::RunOutcome> outcome);

  std::unique_ptr<workflow::CheckpointStore> store_;
  Executor* executor_;
  ThreadServiceOptions options_;
  std::mutex mu_;
  std::condition_variable run_done_;
  std::map<std::string, ThreadView> pending_;       // created, not started
  std::map<std::string, nlohmann::json> metadata_;  // of started threads (in memory)
  std::map<std::string, RunView> runs_;
  std::vector<std::thread> background_;
};

}  // namespace kiln::agent
