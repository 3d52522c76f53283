// OpenAI's two wire formats: Chat Completions (also every OpenAI-compatible server) and Responses.
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
    return body;
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
    return body;
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
