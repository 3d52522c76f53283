#include "kiln/trace/genai.h"

#include <nlohmann/json.hpp>

#include "kiln/trace/otlp_json.h"

namespace kiln::trace::genai {
namespace {

void Add(Attributes& attrs, const char* key, AttributeValue value) {
  attrs.push_back(Attribute{key, std::move(value)});
}
void AddIfSet(Attributes& attrs, const char* key, const std::string& value) {
  if (!value.empty()) Add(attrs, key, value);
}

void SetIfSet(Span& span, const char* key, const std::string& value) {
  if (!value.empty()) span.SetAttribute(key, value);
}
template <typename T>
void SetIfSet(Span& span, const char* key, const std::optional<T>& value) {
  if (value) span.SetAttribute(key, *value);
}

void SetError(Span& span, const std::string& type, const std::string& message) {
  if (type.empty()) return;
  span.SetAttribute("error.type", type);
  span.SetStatus(StatusCode::kError, message.empty() ? type : message);
}

Span Start(Tracer& tracer, std::string name, SpanKind kind, Attributes attrs, SpanOptions options) {
  options.kind = kind;
  for (auto& a : attrs) options.attributes.push_back(std::move(a));
  return tracer.StartSpan(name, std::move(options));
}

}  // namespace

Span StartInvokeAgent(const AgentInvocation& agent, SpanOptions options, Tracer tracer) {
  if (!tracer.enabled()) return tracer.StartSpan({}, std::move(options));  // no attribute building
  Attributes attrs;
  Add(attrs, "gen_ai.operation.name", std::string("invoke_agent"));
  AddIfSet(attrs, "gen_ai.agent.name", agent.agent_name);
  AddIfSet(attrs, "gen_ai.agent.id", agent.agent_id);
  AddIfSet(attrs, "gen_ai.agent.description", agent.description);
  AddIfSet(attrs, "gen_ai.conversation.id", agent.conversation_id);
  AddIfSet(attrs, "gen_ai.provider.name", agent.provider);
  AddIfSet(attrs, "gen_ai.request.model", agent.model);
  std::string name = agent.agent_name.empty() ? "invoke_agent" : "invoke_agent " + agent.agent_name;
  return Start(tracer, std::move(name), SpanKind::kInternal, std::move(attrs), std::move(options));
}

Span StartChat(const ChatRequest& req, SpanOptions options, Tracer tracer) {
  if (!tracer.enabled()) return tracer.StartSpan({}, std::move(options));
  Attributes attrs;
  Add(attrs, "gen_ai.operation.name", std::string("chat"));
  AddIfSet(attrs, "gen_ai.provider.name", req.provider);
  AddIfSet(attrs, "gen_ai.request.model", req.model);
  AddIfSet(attrs, "server.address", req.server_address);
  if (req.server_port > 0) Add(attrs, "server.port", int64_t{req.server_port});
  if (req.max_tokens) Add(attrs, "gen_ai.request.max_tokens", *req.max_tokens);
  if (req.temperature) Add(attrs, "gen_ai.request.temperature", *req.temperature);
  if (req.stream) Add(attrs, "gen_ai.request.stream", *req.stream);
  AddIfSet(attrs, "gen_ai.conversation.id", req.conversation_id);
  if (tracer.capture_content()) {
    AddIfSet(attrs, "gen_ai.input.messages", req.input_messages_json);
    AddIfSet(attrs, "gen_ai.system_instructions", req.system_instructions_json);
  }
  std::string name = req.model.empty() ? "chat" : "chat " + req.model;
  return Start(tracer, std::move(name), SpanKind::kClient, std::move(attrs), std::move(options));
}

void EndChat(Span& span, const ChatResult& r) {
  if (!span.recording()) return span.End();
  SetIfSet(span, "gen_ai.response.model", r.response_model);
  SetIfSet(span, "gen_ai.response.id", r.response_id);
  SetIfSet(span, "gen_ai.usage.input_tokens", r.input_tokens);
  SetIfSet(span, "gen_ai.usage.output_tokens", r.output_tokens);
  SetIfSet(span, "gen_ai.usage.cache_read.input_tokens", r.cache_read_input_tokens);
  if (!r.finish_reasons.empty()) span.SetAttribute("gen_ai.response.finish_reasons", r.finish_reasons);
  SetIfSet(span, kCostUsd, r.cost_usd);
  if (span.captures_content()) SetIfSet(span, "gen_ai.output.messages", r.output_messages_json);
  SetError(span, r.error_type, r.error_message);
  span.End();
}

Span StartExecuteTool(const ToolCall& call, SpanOptions options, Tracer tracer) {
  if (!tracer.enabled()) return tracer.StartSpan({}, std::move(options));
  Attributes attrs;
  Add(attrs, "gen_ai.operation.name", std::string("execute_tool"));
  AddIfSet(attrs, "gen_ai.tool.name", call.tool_name);
  AddIfSet(attrs, "gen_ai.tool.call.id", call.call_id);
  AddIfSet(attrs, "gen_ai.tool.type", call.tool_type);
  AddIfSet(attrs, "gen_ai.tool.description", call.description);
  AddIfSet(attrs, kSandboxId, call.sandbox_id);
  AddIfSet(attrs, kLanguage, call.language);
  if (tracer.capture_content()) AddIfSet(attrs, "gen_ai.tool.call.arguments", call.arguments);
  std::string name = call.tool_name.empty() ? "execute_tool" : "execute_tool " + call.tool_name;
  return Start(tracer, std::move(name), SpanKind::kInternal, std::move(attrs), std::move(options));
}

void EndExecuteTool(Span& span, const ToolResult& r) {
  if (!span.recording()) return span.End();
  SetIfSet(span, kSandboxId, r.sandbox_id);
  SetIfSet(span, kExitCode, r.exit_code);
  span.SetAttribute(kTimedOut, r.timed_out);
  span.SetAttribute(kOom, r.oom);
  SetIfSet(span, kDurationMs, r.duration_ms);
  if (span.captures_content()) SetIfSet(span, "gen_ai.tool.call.result", r.result);
  if (!r.error_type.empty()) {
    SetError(span, r.error_type, r.error_message);
  } else if (r.timed_out) {
    SetError(span, "timeout", "execution timed out");
  } else if (r.oom) {
    SetError(span, "oom", "execution ran out of memory");
  }
  span.End();
}

std::string MessagesJson(const std::vector<Message>& messages) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : messages) {
    nlohmann::json j = {{"role", m.role}, {"parts", {{{"type", "text"}, {"content", m.content}}}}};
    if (!m.finish_reason.empty()) j["finish_reason"] = m.finish_reason;
    out.push_back(std::move(j));
  }
  return DumpJson(out);
}

}  // namespace kiln::trace::genai
