#include <array>
#include <utility>

#include "wire.h"

namespace kiln::llm {

using nlohmann::json;

Finish NormalizeFinish(std::string_view raw, bool has_tool_calls) {
  // Every provider's values in one table; they do not collide.
  static constexpr std::array<std::pair<std::string_view, Finish>, 20> kTable = {{
      {"stop", Finish::kStop},                 // chat completions
      {"completed", Finish::kStop},            // responses status
      {"end_turn", Finish::kStop},             // anthropic
      {"stop_sequence", Finish::kStop},        // anthropic
      {"STOP", Finish::kStop},                 // gemini
      {"length", Finish::kLength},             // chat completions
      {"max_output_tokens", Finish::kLength},  // responses incomplete_details.reason
      {"max_tokens", Finish::kLength},         // anthropic
      {"model_context_window_exceeded", Finish::kLength},
      {"MAX_TOKENS", Finish::kLength},             // gemini
      {"tool_calls", Finish::kToolCalls},          // chat completions
      {"function_call", Finish::kToolCalls},       // chat completions (legacy)
      {"tool_use", Finish::kToolCalls},            // anthropic
      {"content_filter", Finish::kContentFilter},  // openai
      {"refusal", Finish::kContentFilter},         // anthropic
      {"SAFETY", Finish::kContentFilter},          // gemini ...
      {"RECITATION", Finish::kContentFilter},
      {"BLOCKLIST", Finish::kContentFilter},
      {"PROHIBITED_CONTENT", Finish::kContentFilter},
      {"SPII", Finish::kContentFilter},
  }};
  Finish f = Finish::kOther;
  for (const auto& [name, value] : kTable) {
    if (name == raw) f = value;
  }
  if (has_tool_calls && f == Finish::kStop) f = Finish::kToolCalls;  // Gemini and Responses say "stop"
  return f;
}

std::string_view FinishName(Finish f) {
  switch (f) {
    case Finish::kStop:
      return "stop";
    case Finish::kLength:
      return "length";
    case Finish::kToolCalls:
      return "tool_calls";
    case Finish::kContentFilter:
      return "content_filter";
    case Finish::kOther:
      break;
  }
  return "other";
}

Result<json> ArgumentsObject(const ToolCall& call) {
  if (call.arguments_json.empty()) return json::object();
  json j = json::parse(call.arguments_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return InvalidArgument("tool call " + call.id + " (" + call.name + "): arguments are not a JSON object");
  }
  return j;
}

json ReplayedArguments(const ToolCall& call) {
  Result<json> parsed = ArgumentsObject(call);
  return parsed.ok() ? std::move(parsed).value() : json::object();
}

const json& ArrayAt(const json& obj, const char* key) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  if (it == obj.end() || !it->is_array()) {
    throw MalformedResponse(std::string("\"") + key + "\" is missing or not an array");
  }
  return *it;
}

int64_t IntOr0(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

int64_t NestedIntOr0(const json& obj, const char* outer, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(outer);
  return it != obj.end() && it->is_object() ? IntOr0(*it, key) : 0;
}

std::string StrOr(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

json ToolSchema(const ToolSpec& tool) {
  if (tool.parameters.is_object() && !tool.parameters.empty()) return tool.parameters;
  return json{{"type", "object"}, {"properties", json::object()}};
}

std::string JoinedSystem(const ChatRequest& req) {
  std::string out = req.system;
  for (const Message& m : req.messages) {
    if (m.role != Role::kSystem) continue;
    if (!out.empty()) out += "\n\n";
    out += m.text;
  }
  return out;
}

Usage& Usage::operator+=(const Usage& o) {
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  cache_read_input_tokens += o.cache_read_input_tokens;
  cache_creation_input_tokens += o.cache_creation_input_tokens;
  reasoning_output_tokens += o.reasoning_output_tokens;
  return *this;
}

}  // namespace kiln::llm
