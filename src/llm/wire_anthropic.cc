// Anthropic Messages: POST {base}/v1/messages with x-api-key and anthropic-version.
#include <string>
#include <utility>

#include "wire.h"

namespace kiln::llm {
namespace {

using nlohmann::json;

constexpr int kDefaultMaxTokens = 4096;  // max_tokens is required by the API

Result<json> AssistantMessage(const Message& m) {
  json blocks = json::array();
  if (!m.text.empty()) blocks.push_back({{"type", "text"}, {"text", m.text}});
  for (const ToolCall& c : m.tool_calls) {
    KILN_ASSIGN_OR_RETURN(json input, ArgumentsObject(c));
    blocks.push_back({{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", std::move(input)}});
  }
  return json{{"role", "assistant"}, {"content", std::move(blocks)}};
}

// Tool results go back in a user message; all results of one assistant turn share that message.
void AddToolResult(const Message& m, json& messages) {
  json block = {{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}, {"content", m.text}};
  if (m.tool_error) block["is_error"] = true;
  if (!messages.empty()) {
    json& last = messages.back();
    if (last["role"] == "user" && last["content"].is_array() && !last["content"].empty() &&
        last["content"].back().value("type", "") == "tool_result") {
      last["content"].push_back(std::move(block));
      return;
    }
  }
  messages.push_back({{"role", "user"}, {"content", json::array({std::move(block)})}});
}

Result<json> Messages(const ChatRequest& req) {
  json messages = json::array();
  for (const Message& m : req.messages) {
    if (m.role == Role::kUser) messages.push_back({{"role", "user"}, {"content", m.text}});
    if (m.role == Role::kTool) AddToolResult(m, messages);
    if (m.role == Role::kAssistant) {
      KILN_ASSIGN_OR_RETURN(json msg, AssistantMessage(m));
      messages.push_back(std::move(msg));
    }
  }
  return messages;
}

Usage AnthropicUsage(const json& body) {
  Usage u;
  if (!body.contains("usage") || !body["usage"].is_object()) return u;
  const json& j = body["usage"];
  u.cache_read_input_tokens = IntOr0(j, "cache_read_input_tokens");
  u.cache_creation_input_tokens = IntOr0(j, "cache_creation_input_tokens");
  // Anthropic's input_tokens excludes cache reads and writes; ours includes them (OpenTelemetry meaning).
  u.input_tokens = IntOr0(j, "input_tokens") + u.cache_read_input_tokens + u.cache_creation_input_tokens;
  u.output_tokens = IntOr0(j, "output_tokens");
  return u;
}

class AnthropicWire final : public WireFormat {
 public:
  explicit AnthropicWire(std::string version) : version_(std::move(version)) {}

  std::string Url(const std::string& base, const std::string&) const override {
    return base + "/v1/messages";
  }

  void AddHeaders(const std::string& key, HttpHeaders& headers) const override {
    if (!key.empty()) headers.emplace_back("x-api-key", key);
    headers.emplace_back("anthropic-version", version_);
  }

  Result<json> BuildBody(const std::string& model, const ChatRequest& req) const override {
    KILN_ASSIGN_OR_RETURN(json messages, Messages(req));
    json body = {{"model", model},
                 {"max_tokens", req.max_output_tokens > 0 ? req.max_output_tokens : kDefaultMaxTokens},
                 {"messages", std::move(messages)}};
    if (std::string system = JoinedSystem(req); !system.empty()) body["system"] = system;
    for (const ToolSpec& t : req.tools) {
      body["tools"].push_back(
          {{"name", t.name}, {"description", t.description}, {"input_schema", ToolSchema(t)}});
    }
    if (req.temperature) body["temperature"] = *req.temperature;
    return body;
  }

  Result<ChatResponse> ParseBody(const json& body) const override {
    ChatResponse r;
    for (const json& block : ArrayAt(body, "content")) {
      std::string type = StrOr(block, "type");
      if (type == "text") r.text += StrOr(block, "text");
      if (type == "tool_use") {
        r.tool_calls.push_back({StrOr(block, "id"), block.at("name").get<std::string>(),
                                block.value("input", json::object()).dump()});
      }
    }
    r.finish_reason = StrOr(body, "stop_reason");
    r.finish = NormalizeFinish(r.finish_reason, !r.tool_calls.empty());
    r.usage = AnthropicUsage(body);
    r.response_id = StrOr(body, "id");
    r.response_model = StrOr(body, "model");
    return r;
  }

 private:
  std::string version_;
};

}  // namespace

std::unique_ptr<WireFormat> MakeAnthropicWire(std::string version) {
  return std::make_unique<AnthropicWire>(std::move(version));
}

}  // namespace kiln::llm
