// The scripted model: replays responses from a file (format in kiln/llm/script.h).
#include "kiln/llm/script.h"

#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "kiln/base/strings.h"
#include "wire.h"

namespace kiln::llm {
namespace {

using nlohmann::json;

constexpr std::string_view kSeparator = "--- response ---";

Result<ToolCall> ScriptToolCall(const json& j, size_t index) {
  ToolCall c;
  c.id = j.value("id", "call_" + std::to_string(index));
  c.name = j.at("name").get<std::string>();
  const json args = j.value("arguments", json::object());
  c.arguments_json = args.is_string() ? args.get<std::string>() : args.dump();
  return c;
}

Result<ChatResponse> ScriptLine(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument("not a JSON object");
  ChatResponse r;
  try {
    r.text = j.value("text", "");
    for (const json& c : j.value("tool_calls", json::array())) {
      KILN_ASSIGN_OR_RETURN(ToolCall call, ScriptToolCall(c, r.tool_calls.size()));
      r.tool_calls.push_back(std::move(call));
    }
    const json usage = j.value("usage", json::object());
    r.usage.input_tokens = IntOr0(usage, "input_tokens");
    r.usage.output_tokens = IntOr0(usage, "output_tokens");
    r.finish_reason = j.value("finish_reason", r.tool_calls.empty() ? "stop" : "tool_calls");
  } catch (const json::exception& e) {
    return InvalidArgument(e.what());
  }
  return r;
}

Result<std::vector<ChatResponse>> ParseJsonLines(std::string_view text) {
  std::vector<ChatResponse> out;
  std::vector<std::string> lines = Split(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = Trim(lines[i]);
    if (line.empty() || line[0] == '#') continue;
    Result<ChatResponse> r = ScriptLine(line);
    if (!r.ok()) return InvalidArgument("script line " + std::to_string(i + 1) + ": " + r.status().message());
    out.push_back(std::move(r).value());
  }
  return out;
}

std::string_view TrimNewlines(std::string_view s) {
  while (!s.empty() && (s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<ChatResponse> ParseText(std::string_view text) {
  std::vector<std::string> blocks(1);
  for (const std::string& line : Split(text, '\n')) {
    if (Trim(line) == kSeparator) {
      blocks.emplace_back();
    } else {
      blocks.back() += line + "\n";
    }
  }
  if (Trim(blocks.front()).empty()) blocks.erase(blocks.begin());
  std::vector<ChatResponse> out;
  for (const std::string& b : blocks) {
    ChatResponse r;
    r.text = std::string(TrimNewlines(b));
    r.finish_reason = "stop";
    out.push_back(std::move(r));
  }
  return out;
}

class ScriptProvider final : public Provider {
 public:
  ScriptProvider(const std::string& path, std::vector<ChatResponse> responses, size_t first_response)
      : Provider("script", "script:" + path, "script:" + path),
        responses_(std::move(responses)),
        next_(first_response) {}

 protected:
  Result<ChatResponse> ChatImpl(const ChatRequest& request, CallInfo& info) override {
    Result<ChatResponse> r = Next(info);
    if (r.ok() && request.on_text && !StreamWords(r->text, request)) {
      info.error_type = "cancelled";
      return FailedPrecondition(model() + ": cancelled");
    }
    return r;
  }

 private:
  // Streams scripted text a word at a time (each piece keeps its trailing space), as a model would; false
  // when the caller cancelled midway.
  static bool StreamWords(std::string_view text, const ChatRequest& request) {
    while (!text.empty()) {
      if (request.cancelled && request.cancelled()) return false;
      size_t end = text.find(' ');
      end = end == std::string_view::npos ? text.size() : end + 1;
      request.on_text(text.substr(0, end));
      text.remove_prefix(end);
    }
    return true;
  }

  Result<ChatResponse> Next(CallInfo& info) {
    info.attempts = 1;
    std::lock_guard<std::mutex> lock(mu_);
    if (next_ >= responses_.size()) {
      info.error_type = "script_exhausted";
      return ResourceExhausted(model() + ": all " + std::to_string(responses_.size()) +
                               " scripted responses used; call " + std::to_string(next_ + 1) + " has none");
    }
    ChatResponse r = responses_[next_++];
    r.finish = NormalizeFinish(r.finish_reason, !r.tool_calls.empty());
    r.response_model = model();
    r.response_id = "script-" + std::to_string(next_);
    return r;
  }

  std::mutex mu_;
  std::vector<ChatResponse> responses_;
  size_t next_;
};

}  // namespace

Result<std::vector<ChatResponse>> ParseScript(std::string_view text) {
  std::string_view t = Trim(text);
  if (!t.empty() && t.front() == '{') return ParseJsonLines(text);
  return ParseText(text);
}

Result<std::unique_ptr<Provider>> MakeScriptProvider(const std::string& path, size_t first_response) {
  if (path.empty()) return InvalidArgument("script:FILE names no file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("script:" + path + ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  Result<std::vector<ChatResponse>> responses = ParseScript(ss.str());
  if (!responses.ok()) return responses.status().WithContext("script:" + path);
  return std::unique_ptr<Provider>(
      std::make_unique<ScriptProvider>(path, std::move(responses).value(), first_response));
}

}  // namespace kiln::llm
