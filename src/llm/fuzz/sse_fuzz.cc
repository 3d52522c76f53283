// Fuzz target: the SSE parser and every provider's stream reader on arbitrary event bytes, and every
// provider's (unstreamed) response-body reader when the bytes are JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "../sse.h"
#include "../wire.h"

namespace {

// The parsed reply goes back as history (its tool calls and a result for each) to every provider's request
// builder, which must accept whatever arguments text the model wrote.
template <typename Wires>
void ReplayToEveryWire(const kiln::llm::ChatResponse& reply, const Wires& wires) {
  using namespace kiln;
  using namespace kiln::llm;
  ChatRequest next;
  next.messages.push_back({Role::kUser, "go", {}, "", "", false});
  next.messages.push_back({Role::kAssistant, reply.text, reply.tool_calls, "", "", false});
  for (const ToolCall& call : reply.tool_calls)
    next.messages.push_back({Role::kTool, "result", {}, call.id, call.name, false});
  for (const auto& wire : wires) {
    Result<nlohmann::json> request = wire->BuildBody("model", next);
    if (request.ok()) (void)request->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  using namespace kiln::llm;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  static const std::unique_ptr<WireFormat> wires[] = {MakeOpenAiChatWire(false), MakeOpenAiResponsesWire(),
                                                      MakeAnthropicWire("2023-06-01"), MakeGeminiWire()};
  for (const auto& wire : wires) {
    SseParser parser(1 << 16);
    std::vector<SseEvent> events;
    // Feed in two halves so chunk boundaries land mid-line.
    (void)parser.Feed(bytes.substr(0, size / 2), events);
    (void)parser.Feed(bytes.substr(size / 2), events);
    for (SseEvent& e : parser.Finish()) events.push_back(std::move(e));
    std::unique_ptr<StreamReader> reader = wire->NewStreamReader();
    size_t text = 0;
    TextSink sink = [&](std::string_view d) { text += d.size(); };
    bool ok = true;
    for (const SseEvent& e : events) {
      try {
        if (!reader->OnEvent(e, sink).ok()) ok = false;
      } catch (const nlohmann::json::exception&) {
        ok = false;
      } catch (const MalformedResponse&) {
        ok = false;
      }
      if (!ok) break;
    }
    if (ok) (void)reader->Finish();
    nlohmann::json body = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) continue;
    Result<ChatResponse> parsed = Internal("not parsed");
    try {
      parsed = wire->ParseBody(body);
    } catch (const nlohmann::json::exception&) {
    } catch (const MalformedResponse&) {
    }
    if (parsed.ok()) ReplayToEveryWire(*parsed, wires);
  }
  return 0;
}
