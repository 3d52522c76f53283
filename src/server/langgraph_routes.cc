#include "langgraph_routes.h"

#include <nlohmann/json.hpp>

#include "kiln/base/clock.h"

namespace kiln::server {
namespace {

using agent::RunStatus;
using agent::RunView;
using agent::ThreadView;
using Json = nlohmann::json;
using workflow::Checkpoint;
using workflow::ThreadStatus;

constexpr char kAssistant[] = "coding";

std::string Time(int64_t ms) {
  return Rfc3339(ms * 1'000'000);
}

ApiResponse Reply(int status, const Json& body) {
  return ApiResponse{status, body.dump(), "application/json", {}};
}

ApiResponse Error(const Status& status) {
  return Reply(HttpStatus(status.code()), Json{{"detail", status.message()}});
}

ApiResponse Error(int code, const std::string& message) {
  return Reply(code, Json{{"detail", message}});
}

Json CheckpointRef(const std::string& thread_id, int64_t id) {
  if (id == 0) return nullptr;
  return Json{{"thread_id", thread_id},
              {"checkpoint_ns", ""},
              {"checkpoint_id", std::to_string(id)},
              {"checkpoint_map", nullptr}};
}

Json Interrupts(const Checkpoint& cp) {
  if (cp.status != ThreadStatus::kInterrupted) return Json::array();
  return Json::array({Json{{"value", cp.interrupt}, {"id", "interrupt-" + std::to_string(cp.id)}}});
}

// The values a run returns: the state, plus "__interrupt__" while the thread waits.
Json RunValues(const Checkpoint& cp) {
  Json values = cp.state;
  if (cp.status == ThreadStatus::kInterrupted) values["__interrupt__"] = Interrupts(cp);
  return values;
}

Json StateJson(const Checkpoint& cp) {
  Json next = Json::array();
  if (cp.status != ThreadStatus::kDone && cp.next != workflow::kEnd) next.push_back(cp.next);
  Json tasks = Json::array();
  if (!next.empty()) {
    tasks.push_back(Json{{"id", cp.thread_id + ":" + std::to_string(cp.id)},
                         {"name", cp.next},
                         {"error", cp.status == ThreadStatus::kFailed ? Json(cp.reason) : Json(nullptr)},
                         {"interrupts", Interrupts(cp)},
                         {"checkpoint", nullptr},
                         {"state", nullptr},
                         {"result", nullptr}});
  }
  Json metadata = {{"step", cp.step},
                   {"source", cp.parent_id == 0 ? "input" : "loop"},
                   {"status", ThreadStatusName(cp.status)},
                   {"schema_version", cp.schema_version},
                   {"parents", Json::object()}};
  if (!cp.reason.empty()) metadata["reason"] = cp.reason;
  return Json{{"values", cp.state},
              {"next", next},
              {"tasks", tasks},
              {"interrupts", Interrupts(cp)},
              {"checkpoint", CheckpointRef(cp.thread_id, cp.id)},
              {"parent_checkpoint", CheckpointRef(cp.thread_id, cp.parent_id)},
              {"metadata", metadata},
              {"created_at", Time(cp.created_ms)}};
}

std::string_view ThreadStatusText(const ThreadView& view) {
  if (view.busy) return "busy";
  if (!view.started) return "idle";
  if (view.status == ThreadStatus::kInterrupted) return "interrupted";
  if (view.status == ThreadStatus::kFailed) return "error";
  return "idle";
}

Json ThreadJson(const ThreadView& view) {
  Json interrupts = Json::object();
  if (view.head && view.head->status == ThreadStatus::kInterrupted)
    interrupts[view.id + ":" + std::to_string(view.head->id)] = Interrupts(*view.head);
  return Json{{"thread_id", view.id},
              {"created_at", Time(view.created_ms)},
              {"updated_at", Time(view.updated_ms)},
              {"state_updated_at", Time(view.head ? view.head->created_ms : view.updated_ms)},
              {"metadata", view.metadata},
              {"status", ThreadStatusText(view)},
              {"values", view.head ? view.head->state : Json(nullptr)},
              {"interrupts", interrupts},
              {"config", Json::object()}};
}

Json AssistantJson() {
  return Json{
      {"assistant_id", kAssistant},
      {"graph_id", kAssistant},
      {"name", kAssistant},
      {"description", "Kiln's coding workflow: generate, execute, judge, repair, human review, package"},
      {"config", Json::object()},
      {"context", Json::object()},
      {"metadata", Json::object()},
      {"version", 1},
      {"created_at", Time(0)},
      {"updated_at", Time(0)}};
}

Json RunJson(const RunView& run) {
  return Json{{"run_id", run.run_id},
              {"thread_id", run.thread_id},
              {"assistant_id", kAssistant},
              {"status", agent::RunStatusName(run.status)},
              {"metadata", run.metadata},
              {"multitask_strategy", "reject"},
              {"kwargs", Json::object()},
              {"created_at", Time(run.created_ms)},
              {"updated_at", Time(run.updated_ms)}};
}

Result<Json> ParseBody(const std::string& body) {
  if (body.empty()) return Json::object();
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("request body: expected a JSON object");
  return j;
}

Result<int64_t> ParseCheckpointId(const Json& value) {
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument("checkpoint_id '" + text + "': expected a checkpoint id of this thread (digits)");
  return std::stoll(text);
}

// checkpoint_id, or checkpoint.checkpoint_id; nullopt when neither is given.
Result<std::optional<int64_t>> CheckpointOf(const Json& body) {
  const Json* id = nullptr;
  if (auto it = body.find("checkpoint_id"); it != body.end() && !it->is_null()) id = &*it;
  if (auto it = body.find("checkpoint"); !id && it != body.end() && it->is_object()) {
    if (auto inner = it->find("checkpoint_id"); inner != it->end() && !inner->is_null()) id = &*inner;
  }
  if (!id) return std::optional<int64_t>();
  KILN_ASSIGN_OR_RETURN(int64_t n, ParseCheckpointId(*id));
  return std::optional<int64_t>(n);
}

Result<agent::RunRequest> ParseRun(const Json& body) {
  std::string assistant = body.value("assistant_id", std::string());
  if (assistant != kAssistant)
    return NotFound("assistant '" + assistant + "': this server has one assistant, \"coding\"");
  agent::RunRequest run;
  if (auto it = body.find("input"); it != body.end()) run.input = *it;
  if (auto it = body.find("metadata"); it != body.end() && it->is_object()) run.metadata = *it;
  if (auto it = body.find("command"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgument("command: expected an object");
    for (const auto& [key, value] : it->items()) {
      if (key == "resume") {
        run.resume = value;
      } else if (!value.is_null()) {
        return InvalidArgument("command." + key + ": not supported (only command.resume)");
      }
    }
  }
  KILN_ASSIGN_OR_RETURN(run.checkpoint, CheckpointOf(body));
  for (const char* unsupported : {"interrupt_before", "interrupt_after"}) {
    if (auto it = body.find(unsupported); it != body.end() && !it->is_null())
      return InvalidArgument(std::string(unsupported) + ": not supported (the workflow's review points ask)");
  }
  return run;
}

// The run's values, or {"__error__": {error, message}} as LangGraph answers a failed run.
ApiResponse RunResult(agent::ThreadService& threads, const RunView& run) {
  if (!run.error.ok() && !run.outcome) return Error(run.error);
  Result<Checkpoint> head = threads.State(run.thread_id, std::nullopt);
  if (!head.ok()) return Error(head.status());
  Json values = RunValues(*head);
  if (run.status == RunStatus::kError)
    values["__error__"] = Json{{"error", "WorkflowError"}, {"message", run.error.message()}};
  return Reply(200, values);
}

std::string Event(const std::string& name, const Json& data) {
  return "event: " + name + "\ndata: " + data.dump() + "\n\n";
}

// {node: changed channels} from a checkpoint's parent to it.
Json UpdateOf(const Checkpoint& parent, const Checkpoint& cp) {
  if (cp.status == ThreadStatus::kInterrupted && parent.state == cp.state)
    return Json{{"__interrupt__", Interrupts(cp)}};
  Json changed = Json::object();
  for (const auto& [key, value] : cp.state.items()) {
    auto old = parent.state.find(key);
    if (old == parent.state.end() || *old != value) changed[key] = value;
  }
  return Json{{parent.next, changed}};
}

std::vector<std::string> StreamModes(const Json& body) {
  std::vector<std::string> modes;
  auto it = body.find("stream_mode");
  if (it != body.end() && it->is_string()) modes.push_back(it->get<std::string>());
  if (it != body.end() && it->is_array()) {
    for (const Json& m : *it)
      if (m.is_string()) modes.push_back(m.get<std::string>());
  }
  if (modes.empty()) modes.push_back("values");
  return modes;
}

ApiResponse StreamRun(agent::ThreadService& threads, const std::string& thread_id, const Json& body) {
  Result<agent::RunRequest> request = ParseRun(body);
  if (!request.ok()) return Error(request.status());
  for (const std::string& mode : StreamModes(body)) {
    if (mode != "values" && mode != "updates")
      return Error(400, "stream_mode '" + mode + "': supported are values and updates");
  }
  RunView run = threads.Run(thread_id, *request);
  std::string events = Event("metadata", Json{{"run_id", run.run_id}, {"attempt", 1}});
  Result<std::vector<Checkpoint>> history = threads.History(thread_id);
  if (history.ok()) {
    std::map<int64_t, const Checkpoint*> by_id;
    for (const Checkpoint& cp : *history) by_id[cp.id] = &cp;
    for (const auto& [id, cp] : by_id) {
      if (id <= run.first_checkpoint) continue;
      for (const std::string& mode : StreamModes(body)) {
        if (mode == "values") events += Event("values", RunValues(*cp));
        auto parent = by_id.find(cp->parent_id);
        if (mode == "updates" && parent != by_id.end())
          events += Event("updates", UpdateOf(*parent->second, *cp));
      }
    }
  }
  if (!run.error.ok())
    events += Event("error", Json{{"error", CodeName(run.error.code())}, {"message", run.error.message()}});
  ApiResponse response{200, events, "text/event-stream", {}};
  response.headers.push_back({"Cache-Control", "no-store"});
  response.headers.push_back({"Content-Location", "/threads/" + thread_id + "/runs/" + run.run_id});
  return response;
}

ApiResponse CreateThread(agent::ThreadService& threads, const Json& body) {
  std::string id = body.value("thread_id", std::string());
  Result<ThreadView> view = threads.CreateThread(id, body.value("metadata", Json::object()));
  if (!view.ok() && view.status().code() == Code::kAlreadyExists &&
      body.value("if_exists", "") == "do_nothing")
    view = threads.GetThread(id);
  if (!view.ok()) return Error(view.status());
  return Reply(200, ThreadJson(*view));
}

bool MetadataMatches(const Json& have, const Json& want) {
  if (!want.is_object()) return true;
  for (const auto& [key, value] : want.items()) {
    auto it = have.find(key);
    if (it == have.end() || *it != value) return false;
  }
  return true;
}

ApiResponse SearchThreads(agent::ThreadService& threads, const Json& body) {
  Result<std::vector<ThreadView>> all = threads.ListThreads();
  if (!all.ok()) return Error(all.status());
  std::sort(all->begin(), all->end(),
            [](const ThreadView& a, const ThreadView& b) { return a.created_ms > b.created_ms; });
  const int64_t limit = body.value("limit", 10), offset = body.value("offset", 0);
  const std::string status = body.value("status", std::string());
  Json out = Json::array();
  int64_t seen = 0;
  for (const ThreadView& view : *all) {
    if (!MetadataMatches(view.metadata, body.value("metadata", Json::object()))) continue;
    if (!status.empty() && ThreadStatusText(view) != status) continue;
    if (seen++ < offset) continue;
    if (static_cast<int64_t>(out.size()) >= limit) break;
    out.push_back(ThreadJson(view));
  }
  return Reply(200, out);
}

ApiResponse History(agent::ThreadService& threads, const std::string& thread_id, const Json& body) {
  Result<std::vector<Checkpoint>> history = threads.History(thread_id);
  if (!history.ok()) return Error(history.status());
  const int64_t limit = body.value("limit", 10);
  Result<std::optional<int64_t>> before = std::optional<int64_t>();
  if (auto it = body.find("before"); it != body.end() && it->is_object()) before = CheckpointOf(*it);
  if (!before.ok()) return Error(before.status());
  Json out = Json::array();
  for (const Checkpoint& cp : *history) {
    if (*before && cp.id >= **before) continue;
    if (static_cast<int64_t>(out.size()) >= limit) break;
    out.push_back(StateJson(cp));
  }
  return Reply(200, out);
}

// POST /threads/{id}/state: a fork of checkpoint_id (else the head) with `values` folded in.
ApiResponse UpdateState(agent::ThreadService& threads, const std::string& thread_id, const Json& body) {
  Result<std::optional<int64_t>> at = CheckpointOf(body);
  if (!at.ok()) return Error(at.status());
  int64_t from = at->value_or(0);
  if (from == 0) {
    Result<Checkpoint> head = threads.State(thread_id, std::nullopt);
    if (!head.ok()) return Error(head.status());
    from = head->id;
  }
  Json values = body.value("values", Json::object());
  if (!values.is_object() && !values.is_null()) return Error(400, "values: expected an object of channels");
  Result<int64_t> forked = threads.Fork(thread_id, from, values.is_null() ? Json::object() : values);
  if (!forked.ok()) return Error(forked.status());
  return Reply(200, Json{{"checkpoint", CheckpointRef(thread_id, *forked)}});
}

ApiResponse ThreadRoutes(agent::ThreadService& threads, const std::string& method,
                         const std::vector<std::string>& s, const Json& body) {
  const std::string& id = s[1];
  if (s.size() == 2) {
    if (method == "GET") {
      Result<ThreadView> view = threads.GetThread(id);
      return view.ok() ? Reply(200, ThreadJson(*view)) : Error(view.status());
    }
    if (method == "DELETE") {
      Status deleted = threads.DeleteThread(id);
      return deleted.ok() ? ApiResponse{204, "", "application/json", {}} : Error(deleted);
    }
  } else if (s[2] == "state" && s.size() <= 4) {
    if (method == "POST" && s.size() == 3) return UpdateState(threads, id, body);
    if (method == "GET") {
      Result<std::optional<int64_t>> at = s.size() == 4 ? CheckpointOf(Json{{"checkpoint_id", s[3]}})
                                                        : Result<std::optional<int64_t>>(std::nullopt);
      if (!at.ok()) return Error(at.status());
      Result<Checkpoint> cp = threads.State(id, *at);
      return cp.ok() ? Reply(200, StateJson(*cp)) : Error(cp.status());
    }
  } else if (s[2] == "history" && s.size() == 3 && (method == "POST" || method == "GET")) {
    return History(threads, id, body);
  } else if (s[2] == "runs") {
    return Error(500, "unreachable");  // RunRoutes handles these
  }
  return Error(404, "no route " + method + " /threads/" + id + (s.size() > 2 ? "/" + s[2] : ""));
}

ApiResponse RunRoutes(agent::ThreadService& threads, const std::string& method,
                      const std::vector<std::string>& s, const Json& body) {
  const std::string& id = s[1];
  if (s.size() == 3 && method == "GET") {
    Result<std::vector<RunView>> runs = threads.ListRuns(id);
    if (!runs.ok()) return Error(runs.status());
    Json out = Json::array();
    for (const RunView& run : *runs) out.push_back(RunJson(run));
    return Reply(200, out);
  }
  if (method == "POST" && (s.size() == 3 || s[3] == "wait" || s[3] == "stream") && s.size() <= 4) {
    if (s.size() == 4 && s[3] == "stream") return StreamRun(threads, id, body);
    Result<agent::RunRequest> request = ParseRun(body);
    if (!request.ok()) return Error(request.status());
    if (s.size() == 4) return RunResult(threads, threads.Run(id, *request));
    Result<RunView> run = threads.StartRun(id, *request);
    return run.ok() ? Reply(200, RunJson(*run)) : Error(run.status());
  }
  if (s.size() >= 4 && method == "GET") {
    Result<RunView> run =
        s.size() == 5 && s[4] == "join" ? threads.WaitRun(id, s[3]) : threads.GetRun(id, s[3]);
    if (!run.ok()) return Error(run.status());
    if (s.size() == 4) return Reply(200, RunJson(*run));
    if (s[4] == "join") return RunResult(threads, *run);
  }
  return Error(404, "no route " + method + " for the runs of thread " + id);
}

}  // namespace

bool IsLangGraphPath(const std::string& path) {
  for (const char* prefix : {"/assistants", "/threads", "/runs", "/info"}) {
    const std::string p = prefix;
    if (path == p || path.rfind(p + "/", 0) == 0) return true;
  }
  return false;
}

ApiResponse HandleLangGraph(agent::ThreadService& threads, const ApiRequest& request, const Target& target) {
  std::vector<std::string> s = PathSegments(target.path);
  Result<Json> body = ParseBody(request.body);
  if (!body.ok()) return Error(body.status());
  const std::string& method = request.method;
  if (s.size() == 1 && s[0] == "info")
    return Reply(200, Json{{"version", "kiln"}, {"flags", Json::object()}});
  if (s[0] == "assistants") {
    if (s.size() == 2 && s[1] == "search" && method == "POST")
      return Reply(200, Json::array({AssistantJson()}));
    if (s.size() == 2 && method == "GET") {
      return s[1] == kAssistant ? Reply(200, AssistantJson())
                                : Error(404, "assistant '" + s[1] + "': this server has one, \"coding\"");
    }
  }
  if (s[0] == "threads") {
    if (s.size() == 1 && method == "POST") return CreateThread(threads, *body);
    if (s.size() == 2 && s[1] == "search" && method == "POST") return SearchThreads(threads, *body);
    if (s.size() >= 3 && s[2] == "runs") return RunRoutes(threads, method, s, *body);
    if (s.size() >= 2) return ThreadRoutes(threads, method, s, *body);
  }
  return Error(404, "no route " + method + " " + target.path);
}

}  // namespace kiln::server
