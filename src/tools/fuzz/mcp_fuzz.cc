// libFuzzer target: the MCP server's stdio transport, which reads whatever the client process writes. The
// input is newline-separated lines fed to one session in order (so initialize can come first and later
// lines reach tools/list and tools/call, whose argument validation runs; no sandbox exists, so a call that
// passes validation fails cleanly). Every answer must be one line of JSON-RPC 2.0 that echoes a request's id.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "kiln/tools/mcp.h"
#include "kiln/tools/registry.h"

namespace {

void CheckAnswer(const std::string& answer) {
  KILN_FUZZ_CHECK(answer.find('\n') == std::string::npos);  // one line on the transport
  nlohmann::json reply = nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
  KILN_FUZZ_CHECK(!reply.is_discarded() && reply.is_object());
  KILN_FUZZ_CHECK(reply.value("jsonrpc", "") == "2.0");
  KILN_FUZZ_CHECK(reply.contains("id"));
  KILN_FUZZ_CHECK(reply.contains("result") != reply.contains("error"));
  if (reply.contains("error")) KILN_FUZZ_CHECK(reply["error"]["code"].is_number_integer());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::tools::ToolRunner runner(&kiln::tools::DefaultRegistry(), [] {
    return kiln::Result<kiln::tools::SandboxEndpoint>(kiln::Unavailable("no sandbox while fuzzing"));
  });
  kiln::tools::McpServer server(&runner, {"kiln", "0", ""});
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (!input.empty()) {
    size_t end = input.find('\n');
    std::string_view line = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    if (std::optional<std::string> answer = server.HandleLine(line)) CheckAnswer(*answer);
  }
  return 0;
}
