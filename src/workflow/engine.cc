#include "kiln/workflow/engine.h"

#include <unistd.h>

namespace kiln::workflow {
namespace {

Json OutputToJson(const NodeOutput& out) {
  Json j = {{"update", out.update}};
  if (out.question) j["question"] = *out.question;
  return j;
}

NodeOutput OutputFromJson(const Json& j) {
  NodeOutput out;
  out.update = j.value("update", Json::object());
  if (j.contains("question")) out.question = j["question"];
  return out;
}

}  // namespace

Graph& Graph::AddChannel(std::string name, Reducer reducer, Json initial) {
  if (channels_.count(name) && error_.empty()) error_ = "channel '" + name + "' declared twice";
  channels_[std::move(name)] = {reducer, std::move(initial)};
  return *this;
}

Graph& Graph::AddNode(std::string name, NodeFn fn, StepKind kind, CutOffPolicy cut_off) {
  if ((nodes_.count(name) || name == kEnd || name.empty()) && error_.empty()) {
    error_ = "node name '" + name + "' is taken, reserved or empty";
  }
  nodes_[std::move(name)] = {std::move(fn), kind, cut_off, "", nullptr};
  return *this;
}

Graph& Graph::AddEdge(std::string from, std::string to) {
  auto it = nodes_.find(from);
  if (it == nodes_.end() || it->second.route || !it->second.edge.empty()) {
    if (error_.empty()) error_ = "edge from '" + from + "': unknown node or it already has a way out";
    return *this;
  }
  it->second.edge = std::move(to);
  return *this;
}

Graph& Graph::AddRoute(std::string from, RouteFn route) {
  auto it = nodes_.find(from);
  if (it == nodes_.end() || it->second.route || !it->second.edge.empty()) {
    if (error_.empty()) error_ = "route from '" + from + "': unknown node or it already has a way out";
    return *this;
  }
  it->second.route = std::move(route);
  return *this;
}

Graph& Graph::SetEntry(std::string node) {
  entry_ = std::move(node);
  return *this;
}

Status Graph::Validate() const {
  if (!error_.empty()) return InvalidArgument("graph: " + error_);
  if (!nodes_.count(entry_)) return InvalidArgument("graph: entry node '" + entry_ + "' does not exist");
  for (const auto& [name, node] : nodes_) {
    if (!node.route && node.edge.empty()) return InvalidArgument("graph: node '" + name + "' has no way out");
    if (!node.edge.empty() && node.edge != kEnd && !nodes_.count(node.edge)) {
      return InvalidArgument("graph: edge " + name + " -> '" + node.edge + "' names no node");
    }
  }
  return Status::Ok();
}

const Graph::Node* Graph::FindNode(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

Json Graph::InitialState() const {
  Json state = Json::object();
  for (const auto& [name, channel] : channels_) {
    if (!channel.initial.is_null()) {
      state[name] = channel.initial;
    } else if (channel.reducer == Reducer::kAppend) {
      state[name] = Json::array();
    } else if (channel.reducer == Reducer::kSum) {
      state[name] = 0;
    }
  }
  return state;
}

Status Graph::Apply(Json& state, const Json& update) const {
  if (!update.is_object()) return InvalidArgument("state update is not a JSON object: " + update.dump());
  for (const auto& [key, value] : update.items()) {
    auto it = channels_.find(key);
    if (it == channels_.end()) return InvalidArgument("state update writes undeclared channel '" + key + "'");
    switch (it->second.reducer) {
      case Reducer::kReplace:
        state[key] = value;
        break;
      case Reducer::kAppend: {
        Json& list = state[key];
        if (!list.is_array()) list = Json::array();
        if (value.is_array()) {
          for (const auto& item : value) list.push_back(item);
        } else {
          list.push_back(value);
        }
        break;
      }
      case Reducer::kSum: {
        if (!value.is_number())
          return InvalidArgument("channel '" + key + "' sums numbers, got " + value.dump());
        const Json& old = state.contains(key) ? state[key] : Json(0);
        if (old.is_number_integer() && value.is_number_integer()) {
          state[key] = old.get<int64_t>() + value.get<int64_t>();
        } else {
          state[key] = old.get<double>() + value.get<double>();
        }
        break;
      }
    }
  }
  return Status::Ok();
}

Engine::Engine(const Graph& graph, CheckpointStore& store, EngineOptions options)
    : graph_(graph), store_(store), options_(std::move(options)) {
  if (options_.owner_pid == 0) options_.owner_pid = getpid();
}

void Engine::Probe(std::string_view event, const std::string& node) const {
  if (options_.probe) options_.probe(event, node);
}

Result<RunOutcome> Engine::Start(const std::string& thread_id, const Json& input) {
  KILN_RETURN_IF_ERROR(graph_.Validate());
  Checkpoint first;
  first.thread_id = thread_id;
  first.state = graph_.InitialState();
  KILN_RETURN_IF_ERROR(graph_.Apply(first.state, input).WithContext("input"));
  first.next = graph_.entry();
  KILN_ASSIGN_OR_RETURN(first.id, store_.CreateThread(first, options_.owner_pid));
  Probe("checkpointed", "");
  return RunFrom(std::move(first), nullptr);
}

Result<RunOutcome> Engine::Resume(const std::string& thread_id, const std::optional<Json>& answer) {
  KILN_RETURN_IF_ERROR(graph_.Validate());
  // The claim comes first: a second resume of a running thread is a conflict, whatever it brings.
  KILN_ASSIGN_OR_RETURN(ThreadInfo info, store_.Claim(thread_id, options_.owner_pid));
  Result<Checkpoint> head = store_.GetCheckpoint(thread_id, info.head);
  Status refused;
  if (!head.ok()) {
    refused = head.status();
  } else if (head->status == ThreadStatus::kDone) {
    refused = FailedPrecondition("thread " + thread_id + " is done");
  } else if (head->status == ThreadStatus::kInterrupted && !answer) {
    refused = InvalidArgument("thread " + thread_id + " waits for an answer to: " + head->interrupt.dump());
  } else if (head->status != ThreadStatus::kInterrupted && answer) {
    refused = InvalidArgument("thread " + thread_id + " is " + std::string(ThreadStatusName(head->status)) +
                              ", not waiting for an answer");
  }
  if (!refused.ok()) {
    (void)store_.Release(thread_id, options_.owner_pid);
    return refused;
  }
  return RunFrom(std::move(*head), answer ? &*answer : nullptr);
}

Result<int64_t> Engine::Fork(const std::string& thread_id, int64_t checkpoint, const Json& update) {
  KILN_ASSIGN_OR_RETURN(Checkpoint from, store_.GetCheckpoint(thread_id, checkpoint));
  KILN_ASSIGN_OR_RETURN(ThreadInfo info, store_.Claim(thread_id, options_.owner_pid));
  Checkpoint fork = from;
  fork.parent_id = from.id;
  Status applied = graph_.Apply(fork.state, update);
  if (fork.status != ThreadStatus::kInterrupted && fork.next != kEnd) {
    fork.status = ThreadStatus::kStopped;
    fork.reason = "forked from checkpoint " + std::to_string(from.id);
  }
  Result<int64_t> id =
      applied.ok() ? store_.Append(fork, info.head, options_.owner_pid) : Result<int64_t>(applied);
  (void)store_.Release(thread_id, options_.owner_pid);
  return id;
}

Result<Json> Engine::RunStep(const Checkpoint& from, const Graph::Node& node, const Json* answer) {
  NodeContext ctx{from.thread_id, from.state, answer, from.step};
  if (node.kind == StepKind::kPure) {
    KILN_ASSIGN_OR_RETURN(NodeOutput out, node.fn(ctx));
    Probe("node_returned", from.next);
    return OutputToJson(out);
  }
  KILN_ASSIGN_OR_RETURN(std::optional<StepRecord> record, store_.GetStep(from.thread_id, from.id));
  if (record && record->done) {
    Probe("step_reused", from.next);
    return record->output;
  }
  if (record && node.cut_off == CutOffPolicy::kFail) {
    return FailedPrecondition("step '" + from.next + "' was cut off mid-way " +
                              std::to_string(record->attempts) +
                              " time(s) and may not run again on its own: its effect is unknown");
  }
  KILN_RETURN_IF_ERROR(store_.StartStep(from.thread_id, from.id, from.next));
  Probe("step_started", from.next);
  KILN_ASSIGN_OR_RETURN(NodeOutput out, node.fn(ctx));
  Probe("node_returned", from.next);
  Json output = OutputToJson(out);
  KILN_RETURN_IF_ERROR(store_.FinishStep(from.thread_id, from.id, output));
  Probe("step_recorded", from.next);
  return output;
}

Result<RunOutcome> Engine::RunFrom(Checkpoint head, const Json* answer) {
  const std::string thread_id = head.thread_id;
  auto finish = [&](const Checkpoint& cp) -> RunOutcome {
    (void)store_.Release(thread_id, options_.owner_pid);
    return {cp.status, cp.state, cp.interrupt, cp.reason, cp.id};
  };
  // Appends `next` after `head` and makes it the new head.
  auto append = [&](Checkpoint next) -> Status {
    next.parent_id = head.id;
    next.interrupt = next.status == ThreadStatus::kInterrupted ? next.interrupt : Json();
    KILN_ASSIGN_OR_RETURN(next.id, store_.Append(next, head.id, options_.owner_pid));
    head = std::move(next);
    Probe("checkpointed", "");
    return Status::Ok();
  };
  while (true) {
    if (head.next == kEnd) return finish(head);
    Checkpoint next = head;
    next.reason.clear();
    std::optional<std::string> stop =
        options_.stop_before_step ? options_.stop_before_step(head.state) : std::nullopt;
    if (stop) {
      next.status = ThreadStatus::kStopped;
      next.reason = *stop;
      KILN_RETURN_IF_ERROR(append(std::move(next)));
      return finish(head);
    }
    const Graph::Node* node = graph_.FindNode(head.next);
    Result<Json> output = node ? RunStep(head, *node, answer)
                               : Result<Json>(Internal("checkpoint names unknown node '" + head.next + "'"));
    answer = nullptr;
    if (!output.ok()) {
      next.status = ThreadStatus::kFailed;
      next.reason = "step '" + head.next + "': " + output.status().ToString();
      KILN_RETURN_IF_ERROR(append(std::move(next)));
      return finish(head);
    }
    NodeOutput out = OutputFromJson(*output);
    if (out.question) {
      next.status = ThreadStatus::kInterrupted;
      next.interrupt = *out.question;
      KILN_RETURN_IF_ERROR(append(std::move(next)));
      return finish(head);
    }
    Status applied = graph_.Apply(next.state, out.update);
    next.step = head.step + 1;
    if (applied.ok()) {
      next.next = node->route ? node->route(next.state) : node->edge;
      if (next.next != kEnd && !graph_.FindNode(next.next)) {
        applied = Internal("route from '" + head.next + "' chose unknown node '" + next.next + "'");
      }
    }
    if (!applied.ok()) {
      next = head;
      next.status = ThreadStatus::kFailed;
      next.reason = "step '" + head.next + "': " + applied.ToString();
      KILN_RETURN_IF_ERROR(append(std::move(next)));
      return finish(head);
    }
    next.status = next.next == kEnd ? ThreadStatus::kDone : ThreadStatus::kRunning;
    KILN_RETURN_IF_ERROR(append(std::move(next)));
  }
}

}  // namespace kiln::workflow
