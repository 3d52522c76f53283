// GenAI helpers: spans following the OpenTelemetry GenAI semantic conventions (semconv v1.41, Development)
// for the three operations Kiln performs: invoking an agent, a chat call to an LLM, and executing a tool
// (running code in a sandbox). They take plain values so the llm and agent modules can call them without this
// module depending on them.
//
//   trace::ScopedSpan agent(genai::StartInvokeAgent({.agent_name = "coder"}));
//   trace::ScopedSpan chat(genai::StartChat({.provider = "openai", .model = "gpt-4o",
//                                            .server_address = "api.openai.com", .server_port = 443}));
//   ... call the model ...
//   genai::EndChat(chat.span(), {.response_model = "gpt-4o-2024-08-06", .input_tokens = 812,
//                                .output_tokens = 230, .finish_reasons = {"stop"}, .cost_usd = 0.0043});
//
// Contents (prompts, completions, code, tool output) are recorded only when the provider captures content
// (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true); otherwise those fields are ignored.
//
// Kiln attributes (not in the conventions), stable names:
//   kiln.usage.cost_usd (double, US dollars for this call), kiln.sandbox.id (string),
//   kiln.execution.exit_code (int), kiln.execution.timed_out (bool), kiln.execution.oom (bool),
//   kiln.execution.duration_ms (int, wall time inside the sandbox), kiln.execution.language (string).
//
// Threading: the functions are thread-safe; the Span they act on follows span.h's rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/trace/provider.h"
#include "kiln/trace/span.h"

namespace kiln::trace::genai {

inline constexpr char kCostUsd[] = "kiln.usage.cost_usd";
inline constexpr char kSandboxId[] = "kiln.sandbox.id";
inline constexpr char kExitCode[] = "kiln.execution.exit_code";
inline constexpr char kTimedOut[] = "kiln.execution.timed_out";
inline constexpr char kOom[] = "kiln.execution.oom";
inline constexpr char kDurationMs[] = "kiln.execution.duration_ms";
inline constexpr char kLanguage[] = "kiln.execution.language";

// --- invoke_agent ---------------------------------------------------------------------------------------
struct AgentInvocation {
  std::string agent_name;       // gen_ai.agent.name; span name "invoke_agent {agent_name}"
  std::string agent_id;         // gen_ai.agent.id (optional)
  std::string description;      // gen_ai.agent.description (optional)
  std::string conversation_id;  // gen_ai.conversation.id (optional)
  std::string provider;         // gen_ai.provider.name (optional)
  std::string model;            // gen_ai.request.model (optional)
};
// INTERNAL span (the agent runs in-process) with gen_ai.operation.name=invoke_agent.
Span StartInvokeAgent(const AgentInvocation& agent, SpanOptions options = {}, Tracer tracer = GlobalTracer());

// --- chat
// ---------------------------------------------------------------------------------------------------
struct ChatRequest {
  std::string provider;               // gen_ai.provider.name: "openai", "anthropic", "gcp.gemini", ...
  std::string model;                  // gen_ai.request.model; span name "chat {model}"
  std::string server_address;         // server.address (omitted if empty)
  int server_port = 0;                // server.port (omitted if 0)
  std::optional<int64_t> max_tokens;  // gen_ai.request.max_tokens
  std::optional<double> temperature;  // gen_ai.request.temperature
  std::optional<bool> stream;         // gen_ai.request.stream
  std::string conversation_id;        // gen_ai.conversation.id (omitted if empty)
  // Content (captured only when enabled): JSON strings in the GenAI message schema (see MessagesJson).
  std::string input_messages_json;       // gen_ai.input.messages
  std::string system_instructions_json;  // gen_ai.system_instructions
};
// CLIENT span with gen_ai.operation.name=chat and the request attributes set at start.
Span StartChat(const ChatRequest& request, SpanOptions options = {}, Tracer tracer = GlobalTracer());

struct ChatResult {
  std::string response_model;                      // gen_ai.response.model
  std::string response_id;                         // gen_ai.response.id
  std::optional<int64_t> input_tokens;             // gen_ai.usage.input_tokens (includes cached)
  std::optional<int64_t> output_tokens;            // gen_ai.usage.output_tokens
  std::optional<int64_t> cache_read_input_tokens;  // gen_ai.usage.cache_read.input_tokens
  std::vector<std::string> finish_reasons;         // gen_ai.response.finish_reasons
  std::optional<double> cost_usd;                  // kiln.usage.cost_usd
  std::string output_messages_json;                // gen_ai.output.messages (captured only when enabled)
  // Failure: non-empty error_type sets error.type (e.g. "timeout", "rate_limited", "500") and status ERROR.
  std::string error_type;
  std::string error_message;
};
// Sets the response attributes and ends the span.
void EndChat(Span& span, const ChatResult& result);

// --- execute_tool ---------------------------------------------------------------------------------------
struct ToolCall {
  std::string tool_name;               // gen_ai.tool.name; span name "execute_tool {tool_name}"
  std::string call_id;                 // gen_ai.tool.call.id (optional)
  std::string tool_type = "function";  // gen_ai.tool.type
  std::string description;             // gen_ai.tool.description (optional)
  std::string sandbox_id;              // kiln.sandbox.id (may also be given in ToolResult)
  std::string language;                // kiln.execution.language (optional)
  std::string arguments;  // gen_ai.tool.call.arguments, e.g. the code (captured only when enabled)
};
// INTERNAL span with gen_ai.operation.name=execute_tool.
Span StartExecuteTool(const ToolCall& call, SpanOptions options = {}, Tracer tracer = GlobalTracer());

struct ToolResult {
  std::string sandbox_id;              // kiln.sandbox.id (if not known at start)
  std::optional<int> exit_code;        // kiln.execution.exit_code
  bool timed_out = false;              // kiln.execution.timed_out; also error.type=timeout, status ERROR
  bool oom = false;                    // kiln.execution.oom; also error.type=oom, status ERROR
  std::optional<int64_t> duration_ms;  // kiln.execution.duration_ms
  std::string result;                  // gen_ai.tool.call.result, e.g. stdout (captured only when enabled)
  // Infrastructure failure (sandbox could not start, ...): error.type + status ERROR. A non-zero exit code
  // alone is not a span error: the tool worked, the code failed; read kiln.execution.exit_code.
  std::string error_type;
  std::string error_message;
};
// Sets the result attributes and ends the span.
void EndExecuteTool(Span& span, const ToolResult& result);

// --- message content
// -----------------------------------------------------------------------------------------
struct Message {
  std::string role;           // "system", "user", "assistant", "tool"
  std::string content;        // one text part
  std::string finish_reason;  // output messages only (stop|length|content_filter|tool_call|error)
};
// [{"role":..., "parts":[{"type":"text","content":...}], "finish_reason":...}] as a JSON string.
std::string MessagesJson(const std::vector<Message>& messages);

}  // namespace kiln::trace::genai
