// Gemini generateContent: POST {base}/v1beta/models/{model}:generateContent with x-goog-api-key.
#include <string>
#include <utility>

#include "kiln/base/strings.h"
#include "wire.h"

namespace kiln::llm {
namespace {

using nlohmann::json;

// Gemini may omit function-call ids; we synthesize "gemini-call-N" so callers always have one, and never send
// a synthesized id back.
constexpr std::string_view kSyntheticIdPrefix = "gemini-call-";

void SetIdIfReal(const std::string& id, json& part) {
  if (!id.empty() && !StartsWith(id, kSyntheticIdPrefix)) part["id"] = id;
}

// Appends `part` to the last content if it has `role`, else starts a new content.
void AddPart(const char* role, json part, json& contents) {
  if (!contents.empty() && contents.back()["role"] == role) {
    contents.back()["parts"].push_back(std::move(part));
    return;
  }
  contents.push_back({{"role", role}, {"parts", json::array({std::move(part)})}});
}

Status AddMessage(const Message& m, json& contents) {
  switch (m.role) {
    case Role::kSystem:
      return Status::Ok();  // goes to systemInstruction
    case Role::kUser:
      AddPart("user", {{"text", m.text}}, contents);
      return Status::Ok();
    case Role::kTool: {
      json fr = {{"name", m.tool_name}, {"response", {{m.tool_error ? "error" : "output", m.text}}}};
      SetIdIfReal(m.tool_call_id, fr);
      AddPart("user", {{"functionResponse", std::move(fr)}}, contents);
      return Status::Ok();
    }
    case Role::kAssistant:
      break;
  }
  if (!m.text.empty()) AddPart("model", {{"text", m.text}}, contents);
  for (const ToolCall& c : m.tool_calls) {
    json fc = {{"name", c.name}, {"args", ReplayedArguments(c)}};
    SetIdIfReal(c.id, fc);
    AddPart("model", {{"functionCall", std::move(fc)}}, contents);
  }
  if (m.text.empty() && m.tool_calls.empty()) AddPart("model", {{"text", ""}}, contents);
  return Status::Ok();
}

Usage GeminiUsage(const json& body) {
  Usage u;
  if (!body.contains("usageMetadata") || !body["usageMetadata"].is_object()) return u;
  const json& j = body["usageMetadata"];
  u.input_tokens = IntOr0(j, "promptTokenCount") + IntOr0(j, "toolUsePromptTokenCount");
  u.reasoning_output_tokens = IntOr0(j, "thoughtsTokenCount");
  u.output_tokens = IntOr0(j, "candidatesTokenCount") + u.reasoning_output_tokens;  // thoughts bill as output
  u.cache_read_input_tokens = IntOr0(j, "cachedContentTokenCount");
  return u;
}

void ReadPart(const json& part, ChatResponse& r) {
  if (part.contains("functionCall")) {
    const json& fc = part["functionCall"];
    std::string id = StrOr(fc, "id");
    if (id.empty()) id = std::string(kSyntheticIdPrefix) + std::to_string(r.tool_calls.size());
    r.tool_calls.push_back({id, fc.at("name").get<std::string>(), fc.value("args", json::object()).dump()});
  } else if (part.contains("text") && !part.value("thought", false)) {
    r.text += part["text"].get<std::string>();
  }
}

// Streamed generateContent (?alt=sse): every event is a whole GenerateContentResponse holding the next piece;
// text parts are deltas, function calls come whole, usageMetadata and finishReason arrive with the last.
class GeminiStreamReader final : public StreamReader {
 public:
  Status OnEvent(const SseEvent& e, const TextSink& on_text) override {
    json chunk = json::parse(e.data);
    if (chunk.contains("error") && chunk["error"].is_object()) {
      const json& err = chunk["error"];
      return Unavailable("stream error: " + StrOr(err, "status") + ": " + StrOr(err, "message"));
    }
    if (chunk.contains("usageMetadata")) r_.usage = GeminiUsage(chunk);
    if (std::string id = StrOr(chunk, "responseId"); !id.empty()) r_.response_id = id;
    if (std::string m = StrOr(chunk, "modelVersion"); !m.empty()) r_.response_model = m;
    const json candidates = chunk.value("candidates", json::array());
    if (candidates.empty()) {
      std::string blocked = StrOr(chunk.value("promptFeedback", json::object()), "blockReason");
      if (!blocked.empty()) r_.finish_reason = blocked;
      return Status::Ok();
    }
    const json& cand = candidates.at(0);
    for (const json& part : cand.value("content", json::object()).value("parts", json::array())) {
      size_t before = r_.text.size();
      ReadPart(part, r_);
      if (on_text && r_.text.size() > before) on_text(std::string_view(r_.text).substr(before));
    }
    if (std::string f = StrOr(cand, "finishReason"); !f.empty()) r_.finish_reason = f;
    return Status::Ok();
  }

  Result<ChatResponse> Finish() override {
    if (r_.finish_reason.empty()) return Internal("stream ended before a finishReason");
    r_.finish = NormalizeFinish(r_.finish_reason, !r_.tool_calls.empty());
    return std::move(r_);
  }

 private:
  ChatResponse r_;
};

class GeminiWire final : public WireFormat {
 public:
  std::string_view operation_name() const override { return "generate_content"; }

  std::string Url(const std::string& base, const std::string& model) const override {
    std::string_view name = model;
    if (StartsWith(name, "models/")) name.remove_prefix(7);
    return base + "/v1beta/models/" + std::string(name) + ":generateContent";
  }

  void AddHeaders(const std::string& key, HttpHeaders& headers) const override {
    if (!key.empty()) headers.emplace_back("x-goog-api-key", key);
  }

  std::string StreamUrl(const std::string& base, const std::string& model) const override {
    std::string url = Url(base, model);
    return url.substr(0, url.rfind(':')) + ":streamGenerateContent?alt=sse";
  }
  void EnableStreaming(json&) const override {}  // the endpoint, not the body, asks for a stream
  std::unique_ptr<StreamReader> NewStreamReader() const override {
    return std::make_unique<GeminiStreamReader>();
  }

  Result<json> BuildBody(const std::string&, const ChatRequest& req) const override {
    json contents = json::array();
    for (const Message& m : req.messages) KILN_RETURN_IF_ERROR(AddMessage(m, contents));
    json body = {{"contents", std::move(contents)}};
    if (std::string system = JoinedSystem(req); !system.empty()) {
      body["systemInstruction"] = {{"parts", json::array({{{"text", system}}})}};
    }
    json decls = json::array();
    for (const ToolSpec& t : req.tools) {
      // parametersJsonSchema takes plain JSON Schema (parameters takes an OpenAPI subset).
      decls.push_back(
          {{"name", t.name}, {"description", t.description}, {"parametersJsonSchema", ToolSchema(t)}});
    }
    if (!decls.empty()) body["tools"] = json::array({{{"functionDeclarations", std::move(decls)}}});
    json config = json::object();
    if (req.max_output_tokens > 0) config["maxOutputTokens"] = req.max_output_tokens;
    if (req.temperature) config["temperature"] = *req.temperature;
    if (!config.empty()) body["generationConfig"] = std::move(config);
    return body;
  }

  Result<ChatResponse> ParseBody(const json& body) const override {
    ChatResponse r;
    r.usage = GeminiUsage(body);
    r.response_id = StrOr(body, "responseId");
    r.response_model = StrOr(body, "modelVersion");
    const json candidates = body.value("candidates", json::array());
    if (candidates.empty()) {  // the prompt itself was blocked
      r.finish_reason = StrOr(body.value("promptFeedback", json::object()), "blockReason");
      if (r.finish_reason.empty()) return Internal("response has no candidates");
      r.finish = Finish::kContentFilter;
      return r;
    }
    const json& cand = candidates.at(0);
    const json content = cand.value("content", json::object());
    for (const json& part : content.value("parts", json::array())) ReadPart(part, r);
    r.finish_reason = StrOr(cand, "finishReason");
    r.finish = NormalizeFinish(r.finish_reason, !r.tool_calls.empty());
    return r;
  }
};

}  // namespace

std::unique_ptr<WireFormat> MakeGeminiWire() {
  return std::make_unique<GeminiWire>();
}

}  // namespace kiln::llm
