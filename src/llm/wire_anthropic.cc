// Anthropic Messages: POST {base}/v1/messages with x-api-key and anthropic-version.
#include <map>
#include <string>
#include <utility>

#include "wire.h"

namespace kiln::llm {
namespace {

using nlohmann::json;

constexpr int kDefaultMaxTokens = 4096;  // max_tokens is required by the API

json AssistantMessage(const Message& m) {
  json blocks = json::array();
  if (!m.text.empty()) blocks.push_back({{"type", "text"}, {"text", m.text}});
  for (const ToolCall& c : m.tool_calls) {
    blocks.push_back({{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", ReplayedArguments(c)}});
  }
  return json{{"role", "assistant"}, {"content", std::move(blocks)}};
}

// Appends a content block to the user turn: tool results, and text that follows them (a person typing
// after an interrupted tool round), share one user message, since the roles must alternate.
void AddUserBlock(json block, json& messages) {
  if (!messages.empty() && messages.back()["role"] == "user") {
    json& content = messages.back()["content"];
    if (content.is_string()) content = json::array({{{"type", "text"}, {"text", content}}});
    content.push_back(std::move(block));
    return;
  }
  messages.push_back({{"role", "user"}, {"content", json::array({std::move(block)})}});
}

void AddUserText(const Message& m, json& messages) {
  if (messages.empty() || messages.back()["role"] != "user") {
    messages.push_back({{"role", "user"}, {"content", m.text}});
    return;
  }
  AddUserBlock({{"type", "text"}, {"text", m.text}}, messages);
}

void AddToolResult(const Message& m, json& messages) {
  json block = {{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}, {"content", m.text}};
  if (m.tool_error) block["is_error"] = true;
  AddUserBlock(std::move(block), messages);
}

json Messages(const ChatRequest& req) {
  json messages = json::array();
  for (const Message& m : req.messages) {
    if (m.role == Role::kUser) AddUserText(m, messages);
    if (m.role == Role::kTool) AddToolResult(m, messages);
    if (m.role == Role::kAssistant) messages.push_back(AssistantMessage(m));
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

// Streamed Messages: message_start, content_block_start/delta/stop (text_delta, input_json_delta),
// message_delta (stop_reason, final usage), message_stop; "error" events end the call.
class AnthropicStreamReader final : public StreamReader {
 public:
  Status OnEvent(const SseEvent& e, const TextSink& on_text) override {
    json ev = json::parse(e.data);
    std::string type = StrOr(ev, "type");
    if (type == "message_start") {
      const json& msg = ev.at("message");
      r_.response_id = StrOr(msg, "id");
      r_.response_model = StrOr(msg, "model");
      usage_ = msg.value("usage", json::object());
    } else if (type == "content_block_start") {
      const json& block = ev.at("content_block");
      Block& b = blocks_[ev.value("index", 0)];
      b.type = StrOr(block, "type");
      b.call.id = StrOr(block, "id");
      b.call.name = StrOr(block, "name");
    } else if (type == "content_block_delta") {
      Delta(ev, on_text);
    } else if (type == "message_delta") {
      if (std::string stop = StrOr(ev.value("delta", json::object()), "stop_reason"); !stop.empty()) {
        r_.finish_reason = stop;
      }
      const json usage = ev.value("usage", json::object());
      for (const auto& [k, v] : usage.items()) usage_[k] = v;  // cumulative counts replace earlier ones
    } else if (type == "message_stop") {
      stopped_ = true;
    } else if (type == "error") {
      const json err = ev.value("error", json::object());
      std::string kind = StrOr(err, "type");
      Code code = kind == "invalid_request_error" ? Code::kInvalidArgument : Code::kUnavailable;
      return Status(code, "stream error: " + kind + ": " + StrOr(err, "message"));
    }
    return Status::Ok();
  }

  Result<ChatResponse> Finish() override {
    if (!stopped_) return Internal("stream ended before message_stop");
    for (auto& [index, b] : blocks_) {
      if (b.type != "tool_use") continue;
      if (b.call.arguments_json.empty()) b.call.arguments_json = "{}";
      r_.tool_calls.push_back(std::move(b.call));
    }
    r_.usage = AnthropicUsage(json{{"usage", usage_}});
    r_.finish = NormalizeFinish(r_.finish_reason, !r_.tool_calls.empty());
    return std::move(r_);
  }

 private:
  struct Block {
    std::string type;
    ToolCall call;
  };

  void Delta(const json& ev, const TextSink& on_text) {
    const json& delta = ev.at("delta");
    std::string dtype = StrOr(delta, "type");
    if (dtype == "text_delta") {
      std::string text = StrOr(delta, "text");
      r_.text += text;
      if (on_text) on_text(text);
    } else if (dtype == "input_json_delta") {
      blocks_[ev.value("index", 0)].call.arguments_json += StrOr(delta, "partial_json");
    }
  }

  ChatResponse r_;
  json usage_ = json::object();
  std::map<int, Block> blocks_;
  bool stopped_ = false;
};

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
    json messages = Messages(req);
    json body = {{"model", model},
                 {"max_tokens", req.max_output_tokens > 0 ? req.max_output_tokens : kDefaultMaxTokens},
                 {"messages", std::move(messages)}};
    if (std::string system = JoinedSystem(req); !system.empty()) body["system"] = system;
    for (const ToolSpec& t : req.tools) {
      body["tools"].push_back(
          {{"name", t.name}, {"description", t.description}, {"input_schema", ToolSchema(t)}});
    }
    if (req.temperature) body["temperature"] = *req.temperature;
    if (req.parallel_tool_calls && !req.tools.empty()) {
      body["tool_choice"] = {{"type", "auto"}, {"disable_parallel_tool_use", !*req.parallel_tool_calls}};
    }
    return body;
  }

  std::unique_ptr<StreamReader> NewStreamReader() const override {
    return std::make_unique<AnthropicStreamReader>();
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
