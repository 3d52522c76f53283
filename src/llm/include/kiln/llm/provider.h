// llm::Provider: one interface to every language-model backend Kiln talks to, chosen by a model string.
//
// Model strings (MakeProvider):
//   openai:MODEL               OpenAI Responses API      POST {base}/responses          base: OPENAI_BASE_URL
//   or
//                                                                                       https://api.openai.com/v1
//   openai-chat:MODEL          OpenAI Chat Completions   POST {base}/chat/completions   same base and key
//   compat:MODEL@BASE_URL      any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter):
//                              POST BASE_URL/chat/completions, BASE_URL like http://localhost:11434/v1;
//                              optional key from KILN_COMPAT_API_KEY, else OPENAI_API_KEY (sent to BASE_URL!)
//   gemini:MODEL               Gemini generateContent    POST {base}/v1beta/models/MODEL:generateContent
//                                                        base: GEMINI_BASE_URL or
//                                                        https://generativelanguage.googleapis.com
//   anthropic:MODEL            Anthropic Messages        POST {base}/v1/messages
//                                                        base: ANTHROPIC_BASE_URL or
//                                                        https://api.anthropic.com
//   script:FILE                replays scripted responses from FILE (format in script.h), offline
// An empty model string means $KILN_MODEL. Keys come from OPENAI_API_KEY, GEMINI_API_KEY, ANTHROPIC_API_KEY
// (or ProviderOptions::api_key); they are sent only in headers and are redacted ("[REDACTED]") from every
// error message and log line this module produces.
//
// Thread-safety: a Provider is safe to call from several threads at once (each call is independent; the
// script provider serialises its cursor). Providers are not copyable; own them by unique_ptr.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"
#include "kiln/llm/http.h"
#include "kiln/llm/retry.h"

namespace kiln::llm {

enum class Role { kSystem, kUser, kAssistant, kTool };

// A tool invocation requested by the model.
struct ToolCall {
  std::string id;    // provider's call id; echo it back in the tool result (Message::tool_call_id)
  std::string name;  // tool name, one of ChatRequest::tools
  // The arguments as JSON text, exactly as the model produced them: usually an object, but a model can write
  // broken JSON, so check before use (the tool's result should say what was wrong). Sent back in a history,
  // such a call keeps its text where the format carries text (OpenAI) and becomes {} where it carries an
  // object (Anthropic input, Gemini args), so the request itself never fails on it.
  std::string arguments_json;
};

// One turn of the conversation.
//   kSystem:    text is an extra system instruction (appended after ChatRequest::system).
//   kUser:      text from the user.
//   kAssistant: a previous model reply: text and/or tool_calls (copy them from ChatResponse).
//   kTool:      the result of one tool call: text is the output, tool_call_id and tool_name identify the
//               call (both required: Gemini matches by name, the others by id); tool_error marks a failure.
struct Message {
  Role role = Role::kUser;
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::string tool_call_id;
  std::string tool_name;
  bool tool_error = false;
};

// A tool the model may call. `parameters` is a JSON Schema object, e.g.
// {"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}.
struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::json parameters = nlohmann::json::object();
};

// Receives assistant text as it is generated (streamed calls). Called on the calling thread, in order.
using TextSink = std::function<void(std::string_view delta)>;

struct ChatRequest {
  std::string system;  // system instructions; may be empty
  std::vector<Message> messages;
  std::vector<ToolSpec> tools;
  // Whether the model may ask for several tool calls in one turn (OpenAI parallel_tool_calls, Anthropic
  // disable_parallel_tool_use); unset: the provider's default (allowed). Gemini has no switch and ignores it.
  std::optional<bool> parallel_tool_calls;
  // When set, the call is streamed (server-sent events) and on_text receives each text delta; the returned
  // ChatResponse is the same as without streaming (text, tool calls assembled from their deltas, usage).
  // A streamed call is retried only if it fails before its first byte of response body arrives.
  TextSink on_text;
  // Checked before a call starts and as each piece of a streamed response arrives; returning true abandons
  // the call, which then fails with kFailedPrecondition "...: cancelled" (the text handed out so far stays
  // handed out). An unstreamed call is only checked before it starts.
  std::function<bool()> cancelled;
  int max_output_tokens = 0;  // 0: provider default (Anthropic requires one: 4096 is sent)
  std::optional<double> temperature;
};

// Token counts as reported by the provider (0 when not reported). Follows the OpenTelemetry GenAI meaning:
// input_tokens includes cached input (for Anthropic: input + cache read + cache creation); output_tokens
// includes reasoning tokens (for Gemini: candidates + thoughts).
struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_read_input_tokens = 0;      // gen_ai.usage.cache_read.input_tokens
  int64_t cache_creation_input_tokens = 0;  // gen_ai.usage.cache_creation.input_tokens
  int64_t reasoning_output_tokens = 0;      // gen_ai.usage.reasoning.output_tokens
  Usage& operator+=(const Usage& o);
};

// Provider-independent reading of the finish reason.
enum class Finish { kStop, kLength, kToolCalls, kContentFilter, kOther };
std::string_view FinishName(Finish f);  // "stop", "length", "tool_calls", "content_filter", "other"

// Per-call facts for tracing (OpenTelemetry GenAI span attributes), filled on success and on error.
struct CallInfo {
  std::string operation_name;  // gen_ai.operation.name: "chat" ("generate_content" for Gemini)
  std::string provider_name;   // gen_ai.provider.name
  std::string request_model;   // gen_ai.request.model (model string without scheme)
  std::string server_address;  // server.address (empty for script)
  int server_port = 0;         // server.port (0 for script)
  int attempts = 0;            // HTTP attempts made (1 + retries); 1 for script
  int http_status = 0;         // status of the last HTTP response, 0 if none
  std::string error_type;      // error.type; empty on success. Provider error type/code ("rate_limit_error",
                               // "invalid_api_key"), else the HTTP status ("503"), else "timeout",
                               // "connection_error", "malformed_response", or the Status code name.
  std::chrono::nanoseconds duration{0};  // wall time of the whole call including retries
};

struct ChatResponse {
  std::string text;  // concatenated assistant text (may be empty when only tool calls are returned)
  std::vector<ToolCall> tool_calls;
  Usage usage;
  std::string finish_reason;  // the provider's own value (gen_ai.response.finish_reasons), e.g. "end_turn"
  Finish finish = Finish::kOther;
  std::string response_model;  // gen_ai.response.model
  std::string response_id;     // gen_ai.response.id
  CallInfo call;
};

// The abstract model. Chat() is the public entry point: it times the call, fills CallInfo, and calls the
// backend's ChatImpl(). Success: the reply. Failure codes:
//   kInvalidArgument (400/413/422, bad request contents), kPermissionDenied (401/403), kNotFound (404),
//   kResourceExhausted (429 after retries; script exhausted), kUnavailable (5xx/529/network after retries),
//   kDeadlineExceeded (timeout), kInternal (malformed response body), each with the provider's own message,
//   e.g. "openai: 401 invalid_api_key: Incorrect API key provided".
class Provider {
 public:
  virtual ~Provider() = default;
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;

  // `info` (optional, caller-owned) receives the call facts on both success and failure.
  Result<ChatResponse> Chat(const ChatRequest& request, CallInfo* info = nullptr);

  // gen_ai.provider.name: "openai" (also openai-chat and compat), "anthropic", "gcp.gemini", "script".
  std::string_view provider_name() const { return provider_name_; }
  // The model string this provider was made from, e.g. "openai:gpt-4o" or "script:demo.jsonl".
  const std::string& model() const { return model_string_; }
  // The model name sent to the server (without scheme or base URL), e.g. "gpt-4o".
  const std::string& request_model() const { return request_model_; }

 protected:
  Provider(std::string provider_name, std::string model_string, std::string request_model);
  // Fills everything in the response and in `info` except duration, operation/provider/model names.
  virtual Result<ChatResponse> ChatImpl(const ChatRequest& request, CallInfo& info) = 0;
  virtual std::string_view operation_name() const { return "chat"; }

 private:
  std::string provider_name_;
  std::string model_string_;
  std::string request_model_;
};

// Looks up an environment variable; returns nullopt when unset or empty.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

struct ProviderOptions {
  std::string api_key;   // overrides the key environment variable when non-empty
  std::string base_url;  // overrides the base URL environment variable / default when non-empty
  std::chrono::milliseconds connect_timeout{5'000};  // per attempt
  std::chrono::milliseconds total_timeout{600'000};  // per attempt (whole request + response)
  RetryPolicy retry;
  std::shared_ptr<HttpTransport> transport;  // null: libcurl (MakeCurlTransport)
  EnvLookup env;                             // null: getenv
  std::string anthropic_version = "2023-06-01";
};

// Creates the provider named by `model_string` (empty: $KILN_MODEL). Errors:
//   kInvalidArgument: no scheme matches (the message lists the accepted forms), empty model, bad compat URL;
//   kFailedPrecondition: a required API key is missing (the message names the variable to set), or an HTTP
//     provider without options.transport cannot load libcurl.so.4 (the message names the package libcurl4);
//   kNotFound / kInvalidArgument: script file missing or malformed.
Result<std::unique_ptr<Provider>> MakeProvider(std::string_view model_string,
                                               const ProviderOptions& options = {});

// The accepted model-string forms, one per line (used in error messages and --help texts).
std::string_view ModelStringHelp();

}  // namespace kiln::llm
