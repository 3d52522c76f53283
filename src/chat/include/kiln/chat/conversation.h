// chat::Conversation: one `kiln chat` session's turns. A turn takes the person's line, sends the history and
// the registry's tools to the model, runs the tool calls it returns through the ToolRunner (so bad
// arguments, unknown tools and failures go back to the model as error results), and loops until the model
// answers with text. Every message, tool call and result is stored as it happens, with the token and cost
// totals, so a session stopped at any point continues from what was stored.
//
// Cancelling (the `cancel` flag, set by Ctrl-C) stops the turn at the next point it can: a streamed answer
// at its next piece, a running tool call within about 100 ms (its process killed, a Python cell
// interrupted; its result says the user stopped it, with the output so far), and no further model or tool
// call. Calls not run get an error result saying the person interrupted, so the stored history stays well
// formed for every provider.
//
// History condensation: when the last model call's input (as reported, or estimated at 4 characters a token
// when not) exceeds options.condense_at_tokens, every message before the current line is summarised by the
// model, and the summary replaces them in what is sent (the system prompt carries it); the messages stay
// stored.
//
// Tracing (OpenTelemetry GenAI conventions, on the global tracer): an invoke_agent "kiln-chat" span per turn
// (gen_ai.conversation.id = the session), a chat span per model call with tokens and cost, an execute_tool
// span per tool call with the sandbox id.
//
// Thread-safety: one turn at a time; `cancel` may be set from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/chat/store.h"
#include "kiln/llm/pricing.h"
#include "kiln/llm/provider.h"
#include "kiln/tools/runner.h"
#include "kiln/trace/span.h"

namespace kiln::chat {

struct ConversationOptions {
  std::string system;                 // system instructions for every call
  int max_model_calls_per_turn = 25;  // a model that keeps calling tools is stopped there
  bool stream = true;                 // text through on_text as it is generated
  int64_t condense_at_tokens = 0;     // 0: never condense
  double budget_usd = 0;              // 0: none; else no model call once the session's cost reaches it
};

struct TurnCallbacks {
  llm::TextSink on_text;  // assistant text as it arrives (or whole, when not streamed)
  std::function<void(const llm::ToolCall&)> on_tool_call;
  // Returns text to add to what the model sees of the result (e.g. where its images were saved).
  std::function<std::string(const llm::ToolCall&, const tools::ToolResult&)> on_tool_result;
  std::function<void(const std::string& note)> on_note;  // condensation, budget and similar notices
};

struct TurnOutcome {
  std::string text;  // the final answer (what was shown, when interrupted)
  bool interrupted = false;
  int model_calls = 0;
  int tool_calls = 0;
};

class Conversation {
 public:
  // `session` as loaded (or just created); the others must outlive the conversation.
  Conversation(Session session, llm::Provider* model, tools::ToolRunner* runner, SessionStore* store,
               const llm::PriceTable* prices, ConversationOptions options);

  // One turn. Fails (the line and anything done stay stored) when the model call fails, the budget is
  // reached, or the store cannot be written.
  Result<TurnOutcome> Turn(const std::string& line, const std::atomic<bool>& cancel, const TurnCallbacks& cb);

  // Adds a note for the model to the history (stored as a system message), e.g. that the sandbox restarted.
  Status Note(const std::string& text);

  const Session& session() const { return session_; }

 private:
  Status Add(llm::Message message);
  llm::ChatRequest Request() const;
  Status MaybeCondense(const TurnCallbacks& cb);
  Result<llm::ChatResponse> CallModel(const std::atomic<bool>& cancel, const TurnCallbacks& cb,
                                      std::string* streamed);
  Status RunTools(const std::vector<llm::ToolCall>& calls, const std::atomic<bool>& cancel,
                  const TurnCallbacks& cb, TurnOutcome& outcome);
  // Adds the call to the totals; its cost when priced.
  std::optional<double> Account(const llm::ChatResponse& response);
  void EndToolSpan(trace::Span& span, const tools::ToolResult& r) const;

  Session session_;
  llm::Provider* model_;
  tools::ToolRunner* runner_;
  SessionStore* store_;
  const llm::PriceTable* prices_;
  ConversationOptions options_;
  std::vector<llm::ToolSpec> tools_;
  int64_t last_input_tokens_ = 0;
};

// The text of a tool result as the model is sent it: text blocks, and a line per image.
std::string ResultTextForModel(const tools::ToolResult& result);

}  // namespace kiln::chat
