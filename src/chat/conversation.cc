#include "kiln/chat/conversation.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "kiln/trace/genai.h"

namespace kiln::chat {
namespace {

using llm::Message;
using llm::Role;
namespace genai = trace::genai;

constexpr const char* kInterruptedResult = "not run: the person interrupted the answer";

const char* const kCondensePrompt =
    "Summarise the conversation above for your own later use: what the person wants, what was done (tool "
    "calls, files written, results and errors), decisions taken and anything still open. Be complete but "
    "brief; write it as notes, not as an answer to the person.";

int64_t EstimatedTokens(const llm::ChatRequest& req) {
  size_t chars = req.system.size();
  for (const Message& m : req.messages) {
    chars += m.text.size();
    for (const llm::ToolCall& c : m.tool_calls) chars += c.name.size() + c.arguments_json.size();
  }
  return static_cast<int64_t>(chars / 4);
}

// The first message of the current turn: the last person's line.
size_t CurrentTurnStart(const std::vector<StoredMessage>& messages) {
  for (size_t i = messages.size(); i > 0; --i) {
    if (messages[i - 1].message.role == Role::kUser) return i - 1;
  }
  return 0;
}

// gen_ai.input.messages for a captured chat span: each message's text, tool calls as their JSON.
std::string InputMessagesJson(const llm::ChatRequest& req) {
  std::vector<genai::Message> out;
  for (const Message& m : req.messages) {
    std::string content = m.text;
    for (const llm::ToolCall& c : m.tool_calls) content += "\n" + c.name + " " + c.arguments_json;
    out.push_back({std::string(RoleName(m.role)), content, {}});
  }
  return genai::MessagesJson(out);
}

trace::Span StartChatSpan(const llm::Provider& model, const llm::ChatRequest& req,
                          const std::string& session) {
  genai::ChatRequest span{.provider = std::string(model.provider_name()), .model = model.request_model()};
  span.stream = static_cast<bool>(req.on_text);
  span.conversation_id = session;
  if (trace::GlobalTracer().capture_content()) {
    span.input_messages_json = InputMessagesJson(req);
    if (!req.system.empty())
      span.system_instructions_json =
          nlohmann::json::array({{{"type", "text"}, {"content", req.system}}}).dump();
  }
  return genai::StartChat(span);
}

void EndChatSpan(trace::Span& span, const Result<llm::ChatResponse>& r, std::optional<double> cost) {
  genai::ChatResult out;
  if (!r.ok()) {
    out.error_type = std::string(CodeName(r.status().code()));
    out.error_message = r.status().message();
  } else {
    out.response_model = r->response_model;
    out.response_id = r->response_id;
    out.input_tokens = r->usage.input_tokens;
    out.output_tokens = r->usage.output_tokens;
    out.cache_read_input_tokens = r->usage.cache_read_input_tokens;
    out.finish_reasons = {r->finish_reason};
    out.cost_usd = cost;
    if (span.captures_content()) out.output_messages_json = genai::MessagesJson({{"assistant", r->text, {}}});
  }
  genai::EndChat(span, out);
}
}  // namespace

std::string ResultTextForModel(const tools::ToolResult& result) {
  std::string out = result.Text();
  for (const tools::Content& c : result.content) {
    if (c.type != tools::Content::Type::kImage) continue;
    if (!out.empty()) out += "\n";
    out += "[an image (" + c.mime_type + ") was produced and shown to the person]";
  }
  return out;
}

Conversation::Conversation(Session session, llm::Provider* model, tools::ToolRunner* runner,
                           SessionStore* store, const llm::PriceTable* prices, ConversationOptions options)
    : session_(std::move(session)),
      model_(model),
      runner_(runner),
      store_(store),
      prices_(prices),
      options_(std::move(options)) {
  if (runner_ != nullptr) {
    for (const tools::ToolDef& t : runner_->registry().tools()) {
      tools_.push_back({t.name, t.description, t.parameters});
    }
  }
}

Status Conversation::Add(Message message) {
  KILN_ASSIGN_OR_RETURN(int64_t seq, store_->Append(session_.name, message));
  session_.messages.push_back({seq, std::move(message)});
  ++session_.messages_total;
  return Status::Ok();
}

Status Conversation::Note(const std::string& text) {
  return Add({Role::kSystem, text, {}, "", "", false});
}

llm::ChatRequest Conversation::Request() const {
  llm::ChatRequest req;
  req.system = options_.system;
  if (!session_.summary.empty()) {
    if (!req.system.empty()) req.system += "\n\n";
    req.system += "Summary of the earlier part of this conversation:\n" + session_.summary;
  }
  for (const StoredMessage& m : session_.messages) req.messages.push_back(m.message);
  req.tools = tools_;
  return req;
}

std::optional<double> Conversation::Account(const llm::ChatResponse& response) {
  llm::Cost cost = prices_ != nullptr ? prices_->CostOf(model_->model(), response.usage) : llm::Cost{};
  if (!cost.known && prices_ != nullptr && !response.response_model.empty())
    cost = prices_->CostOf(response.response_model, response.usage);
  SessionTotals& t = session_.totals;
  t.usage += response.usage;
  t.calls += 1;
  t.cost_usd += cost.usd;
  t.cost_known = t.cost_known && cost.known;
  // Totals are best kept even if one write fails; the turn's messages carry the real state.
  (void)store_->AddUsage(session_.name, response.usage, cost);
  return cost.known ? std::optional<double>(cost.usd) : std::nullopt;
}

Status Conversation::MaybeCondense(const TurnCallbacks& cb) {
  if (options_.condense_at_tokens <= 0) return Status::Ok();
  llm::ChatRequest req = Request();
  int64_t size = std::max(last_input_tokens_, EstimatedTokens(req));
  if (size <= options_.condense_at_tokens) return Status::Ok();
  size_t keep_from = CurrentTurnStart(session_.messages);
  if (keep_from == 0) return Status::Ok();  // nothing before the current line to condense
  req.messages.resize(keep_from);
  req.tools.clear();  // the summary call must answer in text
  req.messages.push_back({Role::kUser, kCondensePrompt, {}, "", "", false});
  Result<llm::ChatResponse> summary = model_->Chat(req);
  if (!summary.ok()) {  // the turn can still go on with the whole history
    if (cb.on_note) cb.on_note("the history could not be condensed: " + summary.status().message());
    return Status::Ok();
  }
  Account(*summary);
  if (summary->text.empty()) return Status::Ok();  // nothing to stand for the history; keep it whole
  int64_t upto = session_.messages[keep_from - 1].seq;
  // The summary call saw the earlier summary (in the system prompt), so the new one covers everything.
  const std::string& text = summary->text;
  KILN_RETURN_IF_ERROR(store_->SaveSummary(session_.name, text, upto));
  session_.summary = text;
  session_.summary_upto = upto;
  session_.messages.erase(session_.messages.begin(),
                          session_.messages.begin() + static_cast<long>(keep_from));
  last_input_tokens_ = 0;
  if (cb.on_note) {
    cb.on_note("history condensed: " + std::to_string(keep_from) + " earlier messages (about " +
               std::to_string(size) + " tokens) replaced by a summary of " + std::to_string(text.size()) +
               " characters");
  }
  return Status::Ok();
}

Result<llm::ChatResponse> Conversation::CallModel(const std::atomic<bool>& cancel, const TurnCallbacks& cb,
                                                  std::string* streamed) {
  llm::ChatRequest req = Request();
  req.cancelled = [&cancel] { return cancel.load(); };
  if (options_.stream && cb.on_text) {
    req.on_text = [&](std::string_view delta) {
      streamed->append(delta);
      cb.on_text(delta);
    };
  }
  trace::Span span = StartChatSpan(*model_, req, session_.name);
  Result<llm::ChatResponse> r = model_->Chat(req);
  std::optional<double> cost;
  if (r.ok()) {
    last_input_tokens_ = r->usage.input_tokens;
    cost = Account(*r);
    if (!req.on_text && cb.on_text && !r->text.empty()) cb.on_text(r->text);
  }
  EndChatSpan(span, r, cost);
  return r;
}

void Conversation::EndToolSpan(trace::Span& span, const tools::ToolResult& r) const {
  genai::ToolResult out;
  if (std::optional<tools::SandboxEndpoint> sandbox = runner_ ? runner_->sandbox() : std::nullopt)
    out.sandbox_id = sandbox->id;
  if (span.captures_content()) out.result = r.Text();
  if (r.is_error) {
    out.error_type = "tool_error";  // what the model is told; the tool's own text says which
    out.error_message = r.Text().substr(0, 300);
  }
  genai::EndExecuteTool(span, out);
}

Status Conversation::RunTools(const std::vector<llm::ToolCall>& calls, const std::atomic<bool>& cancel,
                              const TurnCallbacks& cb, TurnOutcome& outcome) {
  for (const llm::ToolCall& call : calls) {
    Message result{Role::kTool, kInterruptedResult, {}, call.id, call.name, true};
    if (!cancel.load()) {
      if (cb.on_tool_call) cb.on_tool_call(call);
      trace::Span span = genai::StartExecuteTool(
          {.tool_name = call.name, .call_id = call.id, .arguments = call.arguments_json});
      tools::ToolResult r =
          runner_ != nullptr
              ? runner_->CallWithJsonText(call.name, call.arguments_json, [&cancel] { return cancel.load(); })
              : tools::ToolResult::Error("this session has no tools");
      ++outcome.tool_calls;
      EndToolSpan(span, r);
      result.text = ResultTextForModel(r);
      result.tool_error = r.is_error;
      if (cb.on_tool_result) {
        std::string extra = cb.on_tool_result(call, r);
        if (!extra.empty()) result.text += (result.text.empty() ? "" : "\n") + extra;
      }
    }
    KILN_RETURN_IF_ERROR(Add(std::move(result)));
  }
  return Status::Ok();
}

Result<TurnOutcome> Conversation::Turn(const std::string& line, const std::atomic<bool>& cancel,
                                       const TurnCallbacks& cb) {
  trace::ScopedSpan turn(genai::StartInvokeAgent({.agent_name = "kiln-chat",
                                                  .conversation_id = session_.name,
                                                  .provider = std::string(model_->provider_name()),
                                                  .model = model_->request_model()}));
  KILN_RETURN_IF_ERROR(Add({Role::kUser, line, {}, "", "", false}));
  TurnOutcome outcome;
  for (;;) {
    if (cancel.load()) {
      outcome.interrupted = true;
      return outcome;
    }
    if (outcome.model_calls >= options_.max_model_calls_per_turn) {
      return ResourceExhausted("the model made " + std::to_string(outcome.model_calls) +
                               " calls in this turn without a final answer; stopped");
    }
    if (options_.budget_usd > 0 && session_.totals.cost_usd >= options_.budget_usd) {
      return ResourceExhausted("the session's budget of $" + std::to_string(options_.budget_usd) +
                               " is used up ($" + std::to_string(session_.totals.cost_usd) + " spent)");
    }
    KILN_RETURN_IF_ERROR(MaybeCondense(cb));
    std::string streamed;
    Result<llm::ChatResponse> r = CallModel(cancel, cb, &streamed);
    ++outcome.model_calls;
    if (!r.ok()) {
      if (!cancel.load()) return r.status();
      if (!streamed.empty()) KILN_RETURN_IF_ERROR(Add({Role::kAssistant, streamed, {}, "", "", false}));
      outcome.text = streamed;
      outcome.interrupted = true;
      return outcome;
    }
    KILN_RETURN_IF_ERROR(Add({Role::kAssistant, r->text, r->tool_calls, "", "", false}));
    outcome.text = r->text;
    if (r->tool_calls.empty()) return outcome;
    KILN_RETURN_IF_ERROR(RunTools(r->tool_calls, cancel, cb, outcome));
  }
}

}  // namespace kiln::chat
