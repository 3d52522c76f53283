// Internal: the per-provider wire formats behind HttpProvider, and helpers they share.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kiln/llm/provider.h"
#include "sse.h"

namespace kiln::llm {

// Reads one streamed response, event by event, into the ChatResponse the non-streamed call would return.
class StreamReader {
 public:
  virtual ~StreamReader() = default;
  // One event; text deltas go to `on_text` as they come. Thrown nlohmann::json exceptions and
  // MalformedResponse mean a malformed stream; a returned error (e.g. an "error" event) ends the call.
  virtual Status OnEvent(const SseEvent& event, const TextSink& on_text) = 0;
  // After the last event: the assembled response, or kInternal if the stream ended early.
  virtual Result<ChatResponse> Finish() = 0;
};

// One provider's request/response JSON shapes. Implementations are stateless apart from configuration.
class WireFormat {
 public:
  virtual ~WireFormat() = default;
  // Full endpoint URL from the base URL (no trailing slash) and the model name.
  virtual std::string Url(const std::string& base_url, const std::string& model) const = 0;
  // Auth and version headers; `key` may be empty for keyless compat servers.
  virtual void AddHeaders(const std::string& key, HttpHeaders& headers) const = 0;
  virtual Result<nlohmann::json> BuildBody(const std::string& model, const ChatRequest& request) const = 0;
  // Reads a 2xx body. kInternal errors and thrown nlohmann::json exceptions or MalformedResponse are reported
  // as a malformed response; other codes pass through.
  virtual Result<ChatResponse> ParseBody(const nlohmann::json& body) const = 0;
  virtual std::string_view operation_name() const { return "chat"; }

  // Streaming: the endpoint, the body changes that ask for server-sent events, and a reader for them.
  virtual std::string StreamUrl(const std::string& base_url, const std::string& model) const {
    return Url(base_url, model);
  }
  virtual void EnableStreaming(nlohmann::json& body) const { body["stream"] = true; }
  virtual std::unique_ptr<StreamReader> NewStreamReader() const = 0;
};

std::unique_ptr<WireFormat> MakeOpenAiChatWire(
    bool compat);  // compat: max_tokens instead of max_completion_tokens
std::unique_ptr<WireFormat> MakeOpenAiResponsesWire();
std::unique_ptr<WireFormat> MakeAnthropicWire(std::string anthropic_version);
std::unique_ptr<WireFormat> MakeGeminiWire();

// Thrown by ParseBody helpers when a response lacks a required field; HttpProvider reports it as malformed.
struct MalformedResponse : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// obj[key] if obj is an object and obj[key] an array; throws MalformedResponse otherwise.
const nlohmann::json& ArrayAt(const nlohmann::json& obj, const char* key);

// Shared helpers.
Finish NormalizeFinish(std::string_view raw, bool has_tool_calls);
// Parses tool-call arguments JSON text into an object ({} for empty text). kInvalidArgument otherwise.
Result<nlohmann::json> ArgumentsObject(const ToolCall& call);
// The arguments of a call being sent back in the history, for formats that carry them as an object: a
// model can produce text that is not a JSON object, and its tool result already says so, so such a call is
// replayed with {} rather than failing the whole request.
nlohmann::json ReplayedArguments(const ToolCall& call);
// Integer field or 0.
int64_t IntOr0(const nlohmann::json& obj, const char* key);
// obj[outer][key] if both exist and it is an integer, else 0.
int64_t NestedIntOr0(const nlohmann::json& obj, const char* outer, const char* key);
// String field or "".
std::string StrOr(const nlohmann::json& obj, const char* key);
// ChatRequest::system followed by every kSystem message, joined by blank lines.
std::string JoinedSystem(const ChatRequest& request);
// The JSON Schema for a tool, with an empty object schema defaulted to {"type":"object","properties":{}}.
nlohmann::json ToolSchema(const ToolSpec& tool);

}  // namespace kiln::llm
