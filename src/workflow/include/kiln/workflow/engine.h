// A small state-graph engine with a durable checkpoint after every step.
//
// State is a JSON object of declared channels; each channel has a reducer that folds a node's update into
// it. Nodes read the state and return an update, or ask a question (an interrupt: the thread stops,
// checkpointed, until Resume brings the answer; the asking node then runs again with the answer, so a node
// that asks must be pure and put its side effects in a node of their own). After each node, edges (fixed or
// conditional on the new state) pick the next node; kEnd finishes the thread.
//
// Durability: a checkpoint is written after every step, so a completed step never runs again. A
// side-effecting node is journaled before it runs and its output recorded after: a resume whose step had
// finished but not yet been checkpointed reuses the recorded output (the effect is not repeated); a step
// cut off mid-way is run again if its policy is kRerun (the effect may happen twice: for steps whose effect
// is private and repeatable, such as a model call or a run in a fresh sandbox), or fails the thread with a
// clear error if kFail (for effects that must not repeat; a human decides).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/workflow/checkpoint_store.h"

namespace kiln::workflow {

inline constexpr const char* kEnd = "__end__";

enum class Reducer {
  kReplace,  // the update replaces the value
  kAppend,   // arrays: the update's items (or the update itself if not an array) are appended
  kSum,      // numbers: added
};
enum class StepKind { kPure, kSideEffect };
enum class CutOffPolicy { kRerun, kFail };

struct NodeContext {
  const std::string& thread_id;
  const Json& state;
  const Json* answer;  // the human's answer when this node asked and the thread was resumed; else null
  int64_t step;
};

struct NodeOutput {
  Json update = Json::object();
  std::optional<Json> question;
  static NodeOutput Update(Json update) { return {std::move(update), std::nullopt}; }
  static NodeOutput Ask(Json question) { return {Json::object(), std::move(question)}; }
};

using NodeFn = std::function<Result<NodeOutput>(const NodeContext&)>;
using RouteFn = std::function<std::string(const Json& state)>;

class Graph {
 public:
  Graph& AddChannel(std::string name, Reducer reducer, Json initial = nullptr);
  Graph& AddNode(std::string name, NodeFn fn, StepKind kind = StepKind::kPure,
                 CutOffPolicy cut_off = CutOffPolicy::kRerun);
  Graph& AddEdge(std::string from, std::string to);
  Graph& AddRoute(std::string from, RouteFn route);
  Graph& SetEntry(std::string node);
  // Every node has exactly one way out, every edge names known nodes, the entry exists.
  Status Validate() const;

  // Folds `update` into `state`; InvalidArgument naming the channel for an undeclared or ill-typed one.
  Status Apply(Json& state, const Json& update) const;
  Json InitialState() const;

  struct Node {
    NodeFn fn;
    StepKind kind;
    CutOffPolicy cut_off;
    std::string edge;  // fixed successor, or empty when routed
    RouteFn route;
  };
  const Node* FindNode(const std::string& name) const;
  const std::string& entry() const { return entry_; }

 private:
  struct Channel {
    Reducer reducer;
    Json initial;
  };
  std::map<std::string, Channel> channels_;
  std::map<std::string, Node> nodes_;
  std::string entry_;
  std::string error_;  // first misuse found while building, reported by Validate
};

struct RunOutcome {
  ThreadStatus status = ThreadStatus::kRunning;
  Json state;
  Json question;       // when interrupted
  std::string reason;  // when stopped or failed
  int64_t checkpoint = 0;
};

struct EngineOptions {
  // Asked before every step; a reason stops the thread there (kStopped, resumable).
  std::function<std::optional<std::string>(const Json& state)> stop_before_step;
  // Test probe, called at "step_started", "node_returned", "step_recorded", "checkpointed".
  std::function<void(std::string_view event, const std::string& node)> probe;
  int64_t owner_pid = 0;  // 0: getpid()
};

class Engine {
 public:
  Engine(const Graph& graph, CheckpointStore& store, EngineOptions options = {});

  // Creates the thread with the initial state plus `input`, then runs it until it asks, stops or ends.
  Result<RunOutcome> Start(const std::string& thread_id, const Json& input);
  // Continues from the head. An interrupted thread needs `answer`; a stopped or failed one takes none.
  Result<RunOutcome> Resume(const std::string& thread_id, const std::optional<Json>& answer);
  // Adds a checkpoint that copies `checkpoint` (with `update` applied) and makes it the head: the thread
  // continues from there on the next Resume. The old branch stays in history.
  Result<int64_t> Fork(const std::string& thread_id, int64_t checkpoint, const Json& update = Json::object());

 private:
  Result<RunOutcome> RunFrom(Checkpoint head, const Json* answer);
  Result<Json> RunStep(const Checkpoint& from, const Graph::Node& node, const Json* answer);
  void Probe(std::string_view event, const std::string& node) const;

  const Graph& graph_;
  CheckpointStore& store_;
  EngineOptions options_;
};

}  // namespace kiln::workflow
