// The LangGraph Platform API (the subset the official @langchain/langgraph-sdk client uses for threads,
// runs, state and history) over agent::ThreadService, as a function from a buffered request to a response.
// One assistant, "coding" (graph "coding"): the coding workflow. Shapes follow LangGraph's: a thread
// {thread_id, status idle|busy|interrupted|error, values, interrupts, metadata, created_at, updated_at}; a
// state {values, next, checkpoint {thread_id, checkpoint_ns, checkpoint_id}, parent_checkpoint, metadata,
// created_at, tasks, interrupts}; run results are the state's values with "__interrupt__": [{value, id}]
// while the thread waits for an answer. A run's stream (POST .../runs/stream) is server-sent events
// (metadata, then values and/or updates per checkpoint, error), sent when the run stops: the run goes
// to its next question or its end within the request. Errors: {"detail": message} with the status the
// error's code maps to (409 for a conflict). Authentication is the caller's (api.cc).
#pragma once

#include <optional>

#include "api.h"
#include "kiln/agent/thread_service.h"
#include "query.h"

namespace kiln::server {

// Whether `path` belongs to this API (/assistants..., /threads..., /runs..., /info).
bool IsLangGraphPath(const std::string& path);
ApiResponse HandleLangGraph(agent::ThreadService& threads, const ApiRequest& request, const Target& target);

}  // namespace kiln::server
