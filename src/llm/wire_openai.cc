// OpenAI's two wire formats: Chat Completions (also every OpenAI-compatible server) and Responses.
#include <map>
#include <string>
#include <utility>

#include "wire.h"

namespace kiln::llm {
namespace {

using nlohmann::json;

std::string ArgumentsText(const ToolCall& call) {
  return call.arguments_json.empty() ? "{}" : call.arguments_json;
}

// Tool-call arguments arrive as a JSON string; tolerate servers that send an object.
std::string ArgumentsFrom(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void AddSampling(const ChatRequest& req, const char* max_tokens_field, json& body) {
  if (req.max_output_tokens > 0) body[max_tokens_field] = req.max_output_tokens;
  if (req.temperature) body["temperature"] = *req.temperature;
}

// An error object inside a stream ({"error":{"message","type","code"}}), as some compatible servers send.
Status StreamError(const json& e) {
  if (e.is_string()) return Unavailable("stream error: " + e.get<std::string>());
  std::string kind = StrOr(e, "type");
  if (kind.empty()) kind = StrOr(e, "code");
  return Unavailable("stream error: " + kind + ": " + StrOr(e, "message"));
}

void AddBearer(const std::string& key, HttpHeaders& headers) {
  if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
}

// ---- Chat Completions: POST {base}/chat/completions ----

json ChatMessage(const Message& m) {
  switch (m.role) {
    case Role::kSystem:
      return {{"role", "system"}, {"content", m.text}};
    case Role::kUser:
      return {{"role", "user"}, {"content", m.text}};
    case Role::kTool:
      return {{"role", "tool"}, {"tool_call_id", m.tool_call_id}, {"content", m.text}};
    case Role::kAssistant:
      break;
  }
  json out = {{"role", "assistant"}, {"content", m.text.empty() ? json(nullptr) : json(m.text)}};
  for (const ToolCall& c : m.tool_calls) {
    out["tool_calls"].push_back({{"id", c.id},
                                 {"type", "function"},
                                 {"function", {{"name", c.name}, {"arguments", ArgumentsText(c)}}}});
  }
  return out;
}

Usage ChatUsage(const json& body) {
  Usage u;
  if (!body.contains("usage") || !body["usage"].is_object()) return u;
  const json& j = body["usage"];
  u.input_tokens = IntOr0(j, "prompt_tokens");
  u.output_tokens = IntOr0(j, "completion_tokens");
  u.cache_read_input_tokens = NestedIntOr0(j, "prompt_tokens_details", "cached_tokens");
  u.reasoning_output_tokens = NestedIntOr0(j, "completion_tokens_details", "reasoning_tokens");
  return u;
}

// Streamed Chat Completions: "chat.completion.chunk" objects, tool calls in fragments keyed by index.
class ChatStreamReader final : public StreamReader {
 public:
  Status OnEvent(const SseEvent& e, const TextSink& on_text) override {
    if (e.data == "[DONE]") {
      done_ = true;
      return Status::Ok();
    }
    json chunk = json::parse(e.data);
    if (chunk.contains("error")) return StreamError(chunk["error"]);
    if (chunk.contains("usage") && chunk["usage"].is_object()) r_.usage = ChatUsage(chunk);
    if (r_.response_id.empty()) r_.response_id = StrOr(chunk, "id");
    if (r_.response_model.empty()) r_.response_model = StrOr(chunk, "model");
    for (const json& choice : chunk.value("choices", json::array())) {
      if (choice.value("index", 0) != 0) continue;
      if (std::string f = StrOr(choice, "finish_reason"); !f.empty()) r_.finish_reason = f;
      const json delta = choice.value("delta", json::object());
      if (std::string text = StrOr(delta, "content"); !text.empty()) {
        r_.text += text;
        if (on_text) on_text(text);
      }
      for (const json& d : delta.value("tool_calls", json::array())) AddCallDelta(d);
    }
    return Status::Ok();
  }

  Result<ChatResponse> Finish() override {
    if (!done_ && r_.finish_reason.empty()) return Internal("stream ended before finish_reason or [DONE]");
    for (auto& [index, call] : calls_) r_.tool_calls.push_back(std::move(call));
    r_.finish = NormalizeFinish(r_.finish_reason, !r_.tool_calls.empty());
    return std::move(r_);
  }

 private:
  void AddCallDelta(const json& d) {
    int index = d.value("index", static_cast<int>(calls_.size()));
    ToolCall& c = calls_[index];
    if (std::string id = StrOr(d, "id"); !id.empty()) c.id = id;
    const json f = d.value("function", json::object());
    c.name += StrOr(f, "name");
    c.arguments_json += StrOr(f, "arguments");
  }

  ChatResponse r_;
  std::map<int, ToolCall> calls_;
  bool done_ = false;
};

class OpenAiChatWire final : public WireFormat {
 public:
  explicit OpenAiChatWire(bool compat) : compat_(compat) {}

  std::string Url(const std::string& base, const std::string&) const override {
    return base + "/chat/completions";
  }
  void AddHeaders(const std::string& key, HttpHeaders& headers) const override { AddBearer(key, headers); }

  Result<json> BuildBody(const std::string& model, const ChatRequest& req) const override {
    json messages = json::array();
    if (!req.system.empty()) messages.push_back({{"role", "system"}, {"content", req.system}});
    for (const Message& m : req.messages) messages.push_back(ChatMessage(m));
    json body = {{"model", model}, {"messages", std::move(messages)}};
    for (const ToolSpec& t : req.tools) {
      body["tools"].push_back(
          {{"type", "function"},
           {"function", {{"name", t.name}, {"description", t.description}, {"parameters", ToolSchema(t)}}}});
    }
    // OpenAI deprecated max_tokens (o-series reject it); many compatible servers only know max_tokens.
    AddSampling(req, compat_ ? "max_tokens" : "max_completion_tokens", body);
    if (req.parallel_tool_calls && !req.tools.empty()) body["parallel_tool_calls"] = *req.parallel_tool_calls;
    return body;
  }

  void EnableStreaming(json& body) const override {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};  // else a streamed answer carries no token counts
  }
  std::unique_ptr<StreamReader> NewStreamReader() const override {
    return std::make_unique<ChatStreamReader>();
  }

  Result<ChatResponse> ParseBody(const json& body) const override {
    const json& choices = ArrayAt(body, "choices");
    if (choices.empty()) return Internal("response has no choices");
    const json& choice = choices.at(0);
    const json& msg = choice.at("message");
    ChatResponse r;
    if (msg.contains("content") && msg["content"].is_string()) r.text = msg["content"].get<std::string>();
    if (r.text.empty()) r.text = StrOr(msg, "refusal");
    if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
      for (const json& c : msg["tool_calls"]) {
        const json& f = c.at("function");
        r.tool_calls.push_back(
            {StrOr(c, "id"), f.at("name").get<std::string>(), ArgumentsFrom(f.value("arguments", json("")))});
      }
    }
    r.finish_reason = StrOr(choice, "finish_reason");
    r.finish = NormalizeFinish(r.finish_reason, !r.tool_calls.empty());
    r.usage = ChatUsage(body);
    r.response_id = StrOr(body, "id");
    r.response_model = StrOr(body, "model");
    return r;
  }

 private:
  bool compat_;
};

// ---- Responses: POST {base}/responses ----

void AddResponsesInput(const Message& m, json& input) {
  switch (m.role) {
    case Role::kSystem:
      input.push_back({{"role", "system"}, {"content", m.text}});
      return;
    case Role::kUser:
      input.push_back({{"role", "user"}, {"content", m.text}});
      return;
    case Role::kTool:
      input.push_back({{"type", "function_call_output"}, {"call_id", m.tool_call_id}, {"output", m.text}});
      return;
    case Role::kAssistant:
      break;
  }
  if (!m.text.empty()) input.push_back({{"role", "assistant"}, {"content", m.text}});
  for (const ToolCall& c : m.tool_calls) {
    // No item "id": replaying a function_call id without its reasoning item is rejected by reasoning models.
    input.push_back(
        {{"type", "function_call"}, {"call_id", c.id}, {"name", c.name}, {"arguments", ArgumentsText(c)}});
  }
}

Usage ResponsesUsage(const json& body) {
  Usage u;
  if (!body.contains("usage") || !body["usage"].is_object()) return u;
  const json& j = body["usage"];
  u.input_tokens = IntOr0(j, "input_tokens");
  u.output_tokens = IntOr0(j, "output_tokens");
  u.cache_read_input_tokens = NestedIntOr0(j, "input_tokens_details", "cached_tokens");
  u.reasoning_output_tokens = NestedIntOr0(j, "output_tokens_details", "reasoning_tokens");
  return u;
}

void ReadOutputItem(const json& item, ChatResponse& r) {
  std::string type = StrOr(item, "type");
  if (type == "function_call") {
    r.tool_calls.push_back({StrOr(item, "call_id"), item.at("name").get<std::string>(),
                            ArgumentsFrom(item.value("arguments", json("")))});
  } else if (type == "message" && item.contains("content") && item["content"].is_array()) {
    for (const json& part : item["content"]) {
      std::string ptype = StrOr(part, "type");
      if (ptype == "output_text") r.text += StrOr(part, "text");
      if (ptype == "refusal") r.text += StrOr(part, "refusal");
    }
  }
}

// Streamed Responses: typed events; text from output_text deltas, function calls from output_item.added plus
// function_call_arguments deltas (".done" carries the whole arguments), totals from response.completed.
class ResponsesStreamReader final : public StreamReader {
 public:
  Status OnEvent(const SseEvent& e, const TextSink& on_text) override {
    json ev = json::parse(e.data);
    std::string type = StrOr(ev, "type");
    if (type.empty()) type = e.event;
    if (type == "response.output_text.delta" || type == "response.refusal.delta") {
      std::string delta = StrOr(ev, "delta");
      r_.text += delta;
      if (on_text) on_text(delta);
    } else if (type == "response.output_item.added") {
      const json& item = ev.at("item");
      if (StrOr(item, "type") == "function_call") {
        Call& c = calls_[ev.value("output_index", 0)];
        c.item_id = StrOr(item, "id");
        c.call = {StrOr(item, "call_id"), StrOr(item, "name"), StrOr(item, "arguments")};
      }
    } else if (type == "response.function_call_arguments.delta") {
      FindCall(ev).call.arguments_json += StrOr(ev, "delta");
    } else if (type == "response.function_call_arguments.done") {
      FindCall(ev).call.arguments_json = StrOr(ev, "arguments");
    } else if (type == "response.completed" || type == "response.incomplete" || type == "response.failed") {
      return Completed(ev.at("response"));
    } else if (type == "error") {
      return Unavailable("stream error: " + StrOr(ev, "code") + ": " + StrOr(ev, "message"));
    }
    return Status::Ok();
  }

  Result<ChatResponse> Finish() override {
    if (!completed_) return Internal("stream ended before response.completed");
    for (auto& [index, c] : calls_) r_.tool_calls.push_back(std::move(c.call));
    r_.finish = NormalizeFinish(r_.finish_reason, !r_.tool_calls.empty());
    return std::move(r_);
  }

 private:
  struct Call {
    std::string item_id;
    ToolCall call;
  };

  Call& FindCall(const json& ev) {
    std::string item_id = StrOr(ev, "item_id");
    for (auto& [index, c] : calls_) {
      if (!item_id.empty() && c.item_id == item_id) return c;
    }
    auto it = calls_.find(ev.value("output_index", -1));
    if (it == calls_.end()) throw MalformedResponse("arguments delta for an unknown function_call item");
    return it->second;
  }

  Status Completed(const json& response) {
    std::string status = StrOr(response, "status");
    if (status == "failed") {
      const json e = response.value("error", json::object());
      return Unavailable("response failed: " + StrOr(e, "code") + ": " + StrOr(e, "message"));
    }
    r_.finish_reason = status;
    if (status == "incomplete" && response.contains("incomplete_details") &&
        response["incomplete_details"].is_object()) {
      r_.finish_reason = StrOr(response["incomplete_details"], "reason");
    }
    r_.usage = ResponsesUsage(response);
    r_.response_id = StrOr(response, "id");
    r_.response_model = StrOr(response, "model");
    completed_ = true;
    return Status::Ok();
  }

  ChatResponse r_;
  std::map<int, Call> calls_;
  bool completed_ = false;
};

class OpenAiResponsesWire final : public WireFormat {
 public:
  std::string Url(const std::string& base, const std::string&) const override { return base + "/responses"; }
  void AddHeaders(const std::string& key, HttpHeaders& headers) const override { AddBearer(key, headers); }

  Result<json> BuildBody(const std::string& model, const ChatRequest& req) const override {
    json input = json::array();
    for (const Message& m : req.messages) AddResponsesInput(m, input);
    json body = {{"model", model}, {"input", std::move(input)}};
    if (!req.system.empty()) body["instructions"] = req.system;
    for (const ToolSpec& t : req.tools) {
      // Flat function tool; strict=false because strict mode demands a restricted schema dialect.
      body["tools"].push_back({{"type", "function"},
                               {"name", t.name},
                               {"description", t.description},
                               {"parameters", ToolSchema(t)},
                               {"strict", false}});
    }
    AddSampling(req, "max_output_tokens", body);
    if (req.parallel_tool_calls && !req.tools.empty()) body["parallel_tool_calls"] = *req.parallel_tool_calls;
    return body;
  }

  std::unique_ptr<StreamReader> NewStreamReader() const override {
    return std::make_unique<ResponsesStreamReader>();
  }

  Result<ChatResponse> ParseBody(const json& body) const override {
    std::string status = StrOr(body, "status");
    if (status == "failed") {
      const json& e = body.value("error", json::object());
      return Unavailable("response failed: " + StrOr(e, "code") + ": " + StrOr(e, "message"));
    }
    ChatResponse r;
    for (const json& item : ArrayAt(body, "output")) ReadOutputItem(item, r);
    r.finish_reason = status;
    if (status == "incomplete" && body.contains("incomplete_details") &&
        body["incomplete_details"].is_object()) {
      r.finish_reason = StrOr(body["incomplete_details"], "reason");
    }
    r.finish = NormalizeFinish(r.finish_reason, !r.tool_calls.empty());
    r.usage = ResponsesUsage(body);
    r.response_id = StrOr(body, "id");
    r.response_model = StrOr(body, "model");
    return r;
  }
};

}  // namespace

std::unique_ptr<WireFormat> MakeOpenAiChatWire(bool compat) {
  return std::make_unique<OpenAiChatWire>(compat);
}
std::unique_ptr<WireFormat> MakeOpenAiResponsesWire() {
  return std::make_unique<OpenAiResponsesWire>();
}

}  // namespace kiln::llm
