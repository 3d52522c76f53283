// McpServer: the Model Context Protocol (JSON-RPC 2.0) server core behind `kiln mcp`, independent of the
// transport. It serves a registry's tools: initialize, ping, tools/list and tools/call, and answers
// notifications (notifications/initialized, notifications/cancelled) with nothing.
//
// Protocol versions: 2025-11-25, 2025-06-18 and 2025-03-26. initialize answers with the client's version
// when it is one of these, else with the newest (the client then decides whether to go on).
//
// Errors follow the MCP specification: a message that is not JSON is -32700; not a JSON-RPC 2.0 request
// (or a batch, which 2025-06-18 removed) -32600; an unknown method -32601; bad params or an unknown tool
// -32602; tools/* before initialize -32002. Arguments that fail the tool's schema, and every failure of
// the tool itself, are a successful response with `isError: true` and the reason as text, so the model
// can correct itself. Images from tools are image content ({type:"image", data, mimeType}).
//
// Cancellation (notifications/cancelled): a transport that reads messages while a tools/call runs hands
// the notification to Cancel() from another thread; the call's running process or cell is then stopped and
// the call answers with an error result saying so. Through Handle() the notification does nothing (over
// stdio it can only arrive after the call ended).
//
// One McpServer is one MCP session: its ToolRunner's sandbox is that session's sandbox.
// Thread-safety: Handle() is called from one thread at a time; Cancel() from any thread at any time.
#pragma once

#include <istream>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kiln/base/status.h"
#include "kiln/tools/runner.h"

namespace kiln::tools {

inline constexpr const char* kMcpLatestProtocolVersion = "2025-11-25";

// Whether `version` is one of the protocol versions above; those versions, newest first, comma-separated.
bool McpProtocolVersionSupported(std::string_view version);
std::string McpSupportedProtocolVersions();

struct McpServerInfo {
  std::string name = "kiln";
  std::string version;
  std::string instructions;  // sent in the initialize result when not empty
};

class McpServer {
 public:
  // `runner` must outlive the server.
  McpServer(ToolRunner* runner, McpServerInfo info);
  McpServer(const McpServer&) = delete;
  McpServer& operator=(const McpServer&) = delete;

  // One message in; the response to send, or nullopt when none is due (notifications, responses).
  std::optional<nlohmann::json> Handle(const nlohmann::json& message);
  // One line of the stdio transport in; the line to write back (without the newline), or nullopt.
  std::optional<std::string> HandleLine(std::string_view line);

  // notifications/cancelled's params ({requestId, reason?}): stops the tools/call with that id if it is the
  // one running, else nothing (it ended, or never came).
  void Cancel(const nlohmann::json& params);

  bool initialized() const { return initialized_; }
  const std::string& protocol_version() const { return protocol_version_; }

 private:
  nlohmann::json Initialize(const nlohmann::json& params);
  nlohmann::json ListTools() const;
  nlohmann::json CallTool(const nlohmann::json& id, const nlohmann::json& params);

  ToolRunner* runner_;
  McpServerInfo info_;
  std::mutex running_mu_;
  nlohmann::json running_id_;  // the running tools/call's id; null when none runs
  bool running_cancelled_ = false;
  bool initialized_ = false;
  std::string protocol_version_;
};

// The stdio transport: reads newline-delimited JSON-RPC messages from `in` until EOF and writes each
// response as one line to `out`, flushed. Returns when `in` ends.
void ServeMcpStdio(McpServer& server, std::istream& in, std::ostream& out);

// A tool result as MCP `CallToolResult` ({content:[...], isError}).
nlohmann::json ToMcpResult(const ToolResult& result);

}  // namespace kiln::tools
