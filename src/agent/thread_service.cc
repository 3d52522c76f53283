#include "kiln/agent/thread_service.h"

#include <chrono>

#include "command_util.h"
#include "kiln/agent/coding_workflow.h"
#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "thread_runner.h"

namespace kiln::agent {
namespace {

using nlohmann::json;
using workflow::Checkpoint;
using workflow::CheckpointStore;
using workflow::RunOutcome;
using workflow::ThreadStatus;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A UUID v4 in its usual text form (LangGraph's ids look like this; the SDK does not parse them).
std::string NewUuid() {
  std::string hex = RandomHex(16);
  hex[12] = '4';
  hex[16] = "89ab"[hex[16] % 4];
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

// The SQLite store is one connection opened NOMUTEX: runs on several threads take turns, one call at a time
// (each call is its own transaction, so interleaving calls of two runs is what two processes would do).
class LockedStore : public CheckpointStore {
 public:
  explicit LockedStore(std::unique_ptr<CheckpointStore> inner) : inner_(std::move(inner)) {}
#define KILN_LOCKED(call)                \
  std::lock_guard<std::mutex> lock(mu_); \
  return inner_->call
  Result<int64_t> CreateThread(const Checkpoint& first, int64_t pid) override {
    KILN_LOCKED(CreateThread(first, pid));
  }
  Result<workflow::ThreadInfo> Claim(const std::string& id, int64_t pid) override {
    KILN_LOCKED(Claim(id, pid));
  }
  Status Release(const std::string& id, int64_t pid) override {
    KILN_LOCKED(Release(id, pid));
  }
  Result<int64_t> Append(Checkpoint c, int64_t head, int64_t pid) override {
    KILN_LOCKED(Append(std::move(c), head, pid));
  }
  Result<workflow::ThreadInfo> GetThread(const std::string& id) override {
    KILN_LOCKED(GetThread(id));
  }
  Result<std::vector<workflow::ThreadInfo>> ListThreads() override {
    KILN_LOCKED(ListThreads());
  }
  Result<Checkpoint> GetCheckpoint(const std::string& id, int64_t c) override {
    KILN_LOCKED(GetCheckpoint(id, c));
  }
  Result<std::vector<Checkpoint>> History(const std::string& id) override {
    KILN_LOCKED(History(id));
  }
  Status DeleteThread(const std::string& id) override {
    KILN_LOCKED(DeleteThread(id));
  }
  Status StartStep(const std::string& id, int64_t from, const std::string& node) override {
    KILN_LOCKED(StartStep(id, from, node));
  }
  Status FinishStep(const std::string& id, int64_t from, const json& output) override {
    KILN_LOCKED(FinishStep(id, from, output));
  }
  Result<std::optional<workflow::StepRecord>> GetStep(const std::string& id, int64_t from) override {
    KILN_LOCKED(GetStep(id, from));
  }
  Result<std::vector<workflow::StepRecord>> Steps(const std::string& id) override {
    KILN_LOCKED(Steps(id));
  }
  Result<int64_t> Prune(const workflow::PruneOptions& o) override {
    KILN_LOCKED(Prune(o));
  }
#undef KILN_LOCKED

 private:
  std::mutex mu_;
  std::unique_ptr<CheckpointStore> inner_;
};

// {"task": "...", "review": "...", "max_attempts": N, "tests": "..."} as the engine's input.
Result<json> InputFromRun(const json& input, const ThreadServiceOptions& options) {
  if (!input.is_object())
    return InvalidArgument("run input: expected an object with \"task\" for a new thread");
  auto task_it = input.find("task");
  if (task_it == input.end() || !task_it->is_string() || task_it->get<std::string>().empty())
    return InvalidArgument("run input: \"task\" (a non-empty string) is required to start a thread");
  Task task;
  task.prompt = task_it->get<std::string>();
  if (auto it = input.find("tests"); it != input.end()) {
    if (!it->is_string()) return InvalidArgument("run input: \"tests\" must be a string");
    task.tests = it->get<std::string>();
  }
  WorkflowConfig config;
  config.model = options.model;
  config.scripted = options.model.rfind("script:", 0) == 0;
  config.max_attempts = options.default_max_attempts;
  if (auto it = input.find("max_attempts"); it != input.end()) {
    if (!it->is_number_integer() || it->get<int>() < 1 || it->get<int>() > 20)
      return InvalidArgument("run input: \"max_attempts\" must be an integer 1..20");
    config.max_attempts = it->get<int>();
  }
  if (auto it = input.find("review"); it != input.end()) {
    if (!it->is_string()) return InvalidArgument("run input: \"review\" must be a string");
    KILN_ASSIGN_OR_RETURN(config.review, ParseReviewPoint(it->get<std::string>()));
  }
  for (const auto& [key, value] : input.items()) {
    if (key != "task" && key != "tests" && key != "max_attempts" && key != "review")
      return InvalidArgument("run input: unknown field \"" + key +
                             "\" (expected task, tests, review, max_attempts)");
  }
  return CodingInput(task, config);
}

}  // namespace

std::string_view RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kPending:
      return "pending";
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kSuccess:
      return "success";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kError:
      return "error";
  }
  return "error";
}

ThreadService::ThreadService(std::unique_ptr<CheckpointStore> store, Executor* executor,
                             ThreadServiceOptions options)
    : store_(std::make_unique<LockedStore>(std::move(store))),
      executor_(executor),
      options_(std::move(options)) {}

ThreadService::~ThreadService() {
  std::vector<std::thread> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running.swap(background_);
  }
  for (std::thread& t : running) t.join();
}

Result<ThreadView> ThreadService::CreateThread(const std::string& id, const json& metadata) {
  ThreadView view;
  view.id = id.empty() ? NewUuid() : id;
  if (view.id.size() > 128 || view.id.find_first_of("/?#% \t\r\n") != std::string::npos)
    return InvalidArgument("thread id '" + view.id +
                           "': at most 128 characters, no '/', '?', '#', '%' or spaces");
  view.metadata = metadata.is_object() ? metadata : json::object();
  view.created_ms = view.updated_ms = NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_.count(view.id) || store_->GetThread(view.id).ok())
    return AlreadyExists("thread " + view.id + " exists");
  pending_[view.id] = view;
  return view;
}

Result<ThreadView> ThreadService::GetThread(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = pending_.find(id); it != pending_.end()) return it->second;
  }
  KILN_ASSIGN_OR_RETURN(workflow::ThreadInfo info, store_->GetThread(id));
  ThreadView view;
  view.id = id;
  view.created_ms = info.created_ms;
  view.updated_ms = info.updated_ms;
  view.started = true;
  view.busy = info.owner_pid != 0 && workflow::ProcessAlive(info.owner_pid);
  view.status = info.status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = metadata_.find(id); it != metadata_.end()) view.metadata = it->second;
  }
  KILN_ASSIGN_OR_RETURN(Checkpoint head, store_->GetCheckpoint(id, info.head));
  view.head = std::move(head);
  return view;
}

Result<std::vector<ThreadView>> ThreadService::ListThreads() {
  std::vector<ThreadView> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, view] : pending_) out.push_back(view);
  }
  KILN_ASSIGN_OR_RETURN(std::vector<workflow::ThreadInfo> infos, store_->ListThreads());
  for (const workflow::ThreadInfo& info : infos) {
    Result<ThreadView> view = GetThread(info.id);
    if (view.ok()) out.push_back(std::move(*view));
  }
  return out;
}

Status ThreadService::DeleteThread(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.erase(id)) return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(ThreadView view, GetThread(id));
  if (view.busy) return FailedPrecondition("conflict: thread " + id + " has a run in progress");
  return store_->DeleteThread(id);
}

Result<Checkpoint> ThreadService::State(const std::string& thread_id, std::optional<int64_t> checkpoint) {
  if (checkpoint) return store_->GetCheckpoint(thread_id, *checkpoint);
  KILN_ASSIGN_OR_RETURN(workflow::ThreadInfo info, store_->GetThread(thread_id));
  return store_->GetCheckpoint(thread_id, info.head);
}

Result<std::vector<Checkpoint>> ThreadService::History(const std::string& thread_id) {
  return store_->History(thread_id);
}

Result<int64_t> ThreadService::Fork(const std::string& thread_id, int64_t checkpoint, const json& values) {
  KILN_ASSIGN_OR_RETURN(workflow::Graph graph, BuildCodingGraph(WorkflowDeps{}));
  workflow::Engine engine(graph, *store_);
  return engine.Fork(thread_id, checkpoint, values.is_object() ? values : json::object());
}

Result<RunOutcome> ThreadService::Execute(const std::string& thread_id, const RunRequest& request) {
  if (options_.model.empty())
    return FailedPrecondition(
        "no model configured for workflow runs: start kiln serve with --workflow-model");
  bool is_new = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    is_new = pending_.count(thread_id) > 0;
  }
  if (!is_new) KILN_RETURN_IF_ERROR(store_->GetThread(thread_id).status());
  // A bad answer is the client's error (400) and leaves the question open, not a failed review step.
  if (request.resume) KILN_RETURN_IF_ERROR(ParseReviewAnswer(*request.resume).status());
  json input;
  if (is_new) {
    if (request.resume) return InvalidArgument("thread " + thread_id + " has not started: nothing to resume");
    KILN_ASSIGN_OR_RETURN(input, InputFromRun(request.input, options_));
  } else if (!request.input.is_null()) {
    return InvalidArgument(
        "thread " + thread_id +
        " has started: a run continues it (command.resume for its question), input must be "
        "null");
  }
  WorkflowConfig config;
  config.model = options_.model;
  // A new thread has no journal yet: its scripted model starts at the first response.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<llm::Provider> provider,
                        is_new ? MakeModel(options_.model, options_.env)
                               : ProviderForThread(config, *store_, thread_id, options_.env));
  WorkflowDeps deps;
  deps.provider = provider.get();
  deps.executor = executor_;
  KILN_ASSIGN_OR_RETURN(workflow::Graph graph, BuildCodingGraph(deps));
  workflow::EngineOptions engine_options;
  const int64_t start = MonotonicMillis();
  engine_options.stop_before_step = [start](const json& state) {
    return BudgetExceeded(state, MonotonicMillis() - start);
  };
  workflow::Engine engine(graph, *store_, engine_options);
  if (is_new) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = pending_.find(thread_id); it != pending_.end())
        metadata_[thread_id] = it->second.metadata;
      if (!pending_.erase(thread_id))
        return FailedPrecondition("conflict: thread " + thread_id + " was started by another run");
    }
    return engine.Start(thread_id, input);
  }
  if (request.checkpoint) KILN_RETURN_IF_ERROR(engine.Fork(thread_id, *request.checkpoint).status());
  KILN_ASSIGN_OR_RETURN(Checkpoint head, State(thread_id, std::nullopt));
  // An answer to a question that is no longer asked: another run answered it first.
  if (request.resume && head.status != ThreadStatus::kInterrupted)
    return FailedPrecondition("conflict: thread " + thread_id + " is " +
                              std::string(ThreadStatusName(head.status)) +
                              ", its question was already answered");
  return engine.Resume(thread_id, request.resume);
}

RunView ThreadService::NewRun(const std::string& thread_id, const RunRequest& request) {
  RunView run;
  run.run_id = NewUuid();
  run.thread_id = thread_id;
  run.metadata = request.metadata.is_object() ? request.metadata : json::object();
  run.created_ms = run.updated_ms = NowMs();
  if (Result<Checkpoint> head = State(thread_id, std::nullopt); head.ok()) run.first_checkpoint = head->id;
  std::lock_guard<std::mutex> lock(mu_);
  runs_[run.run_id] = run;
  return run;
}

void ThreadService::Finish(const std::string& run_id, Result<RunOutcome> outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  RunView& run = runs_[run_id];
  run.updated_ms = NowMs();
  if (!outcome.ok()) {
    run.status = RunStatus::kError;
    run.error = outcome.status();
  } else {
    run.status = outcome->status == ThreadStatus::kInterrupted ? RunStatus::kInterrupted
                 : outcome->status == ThreadStatus::kFailed    ? RunStatus::kError
                                                               : RunStatus::kSuccess;
    if (outcome->status == ThreadStatus::kFailed) run.error = Internal(outcome->reason);
    run.outcome = std::move(*outcome);
  }
  run_done_.notify_all();
}

RunView ThreadService::Run(const std::string& thread_id, const RunRequest& request) {
  RunView run = NewRun(thread_id, request);
  Finish(run.run_id, Execute(thread_id, request));
  std::lock_guard<std::mutex> lock(mu_);
  return runs_[run.run_id];
}

Result<RunView> ThreadService::StartRun(const std::string& thread_id, const RunRequest& request) {
  KILN_RETURN_IF_ERROR(GetThread(thread_id).status());
  RunView run = NewRun(thread_id, request);
  std::lock_guard<std::mutex> lock(mu_);
  runs_[run.run_id].status = RunStatus::kRunning;
  background_.emplace_back(
      [this, thread_id, request, id = run.run_id] { Finish(id, Execute(thread_id, request)); });
  return run;
}

Result<RunView> ThreadService::GetRun(const std::string& thread_id, const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end() || it->second.thread_id != thread_id)
    return NotFound("run " + run_id + " of thread " + thread_id);
  return it->second;
}

Result<RunView> ThreadService::WaitRun(const std::string& thread_id, const std::string& run_id) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end() || it->second.thread_id != thread_id)
    return NotFound("run " + run_id + " of thread " + thread_id);
  run_done_.wait(lock, [&] {
    RunStatus s = runs_[run_id].status;
    return s != RunStatus::kPending && s != RunStatus::kRunning;
  });
  return runs_[run_id];
}

Result<std::vector<RunView>> ThreadService::ListRuns(const std::string& thread_id) {
  std::vector<RunView> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, run] : runs_)
    if (run.thread_id == thread_id) out.push_back(run);
  return out;
}

Result<std::pair<int, int>> ThreadService::EffectCounts(const std::string& thread_id) {
  KILN_ASSIGN_OR_RETURN(std::vector<workflow::StepRecord> steps, store_->Steps(thread_id));
  std::pair<int, int> counts{0, 0};
  for (const workflow::StepRecord& step : steps) {
    if (step.node == "generate") counts.first += step.attempts;
    if (step.node == "execute") counts.second += step.attempts;
  }
  return counts;
}

}  // namespace kiln::agent
