#include "kiln/tools/mcp.h"

#include <array>

#include "kiln/base/json.h"
#include "kiln/tools/export.h"

namespace kiln::tools {
namespace {

using json = nlohmann::json;

constexpr std::array<const char*, 3> kProtocolVersions = {"2025-11-25", "2025-06-18", "2025-03-26"};

// JSON-RPC 2.0 and MCP error codes.
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kNotInitialized = -32002;

json ErrorResponse(const json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

json Response(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

bool IsValidId(const json& id) {
  return id.is_string() || id.is_number_integer() || id.is_number_unsigned();
}

}  // namespace

bool McpProtocolVersionSupported(std::string_view version) {
  for (const char* v : kProtocolVersions)
    if (version == v) return true;
  return false;
}

std::string McpSupportedProtocolVersions() {
  std::string list;
  for (const char* v : kProtocolVersions) list += (list.empty() ? "" : ", ") + std::string(v);
  return list;
}

json ToMcpResult(const ToolResult& result) {
  json content = json::array();
  for (const Content& c : result.content) {
    if (c.type == Content::Type::kImage)
      content.push_back({{"type", "image"}, {"data", c.data}, {"mimeType", c.mime_type}});
    else
      content.push_back({{"type", "text"}, {"text", c.text}});
  }
  return {{"content", std::move(content)}, {"isError", result.is_error}};
}

McpServer::McpServer(ToolRunner* runner, McpServerInfo info) : runner_(runner), info_(std::move(info)) {}

json McpServer::Initialize(const json& params) {
  std::string asked = params.is_object() ? params.value("protocolVersion", "") : "";
  protocol_version_ = kMcpLatestProtocolVersion;
  for (const char* v : kProtocolVersions)
    if (asked == v) protocol_version_ = v;
  initialized_ = true;
  json result = {{"protocolVersion", protocol_version_},
                 {"capabilities", {{"tools", {{"listChanged", false}}}}},
                 {"serverInfo", {{"name", info_.name}, {"version", info_.version}}}};
  if (!info_.instructions.empty()) result["instructions"] = info_.instructions;
  return result;
}

json McpServer::ListTools() const {
  Result<json> listed = ExportTools(runner_->registry(), "mcp");
  return listed.ok() ? *listed : json{{"tools", json::array()}};
}

json McpServer::CallTool(const json& id, const json& params) {
  if (!params.is_object() || !params.contains("name") || !params["name"].is_string())
    return ErrorResponse(id, kInvalidParams, "tools/call needs params.name (a string)");
  const std::string name = params["name"].get<std::string>();
  if (runner_->registry().Find(name) == nullptr)
    return ErrorResponse(id, kInvalidParams, "Unknown tool: " + name);
  json arguments = params.value("arguments", json::object());
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    running_id_ = id;
    running_cancelled_ = false;
  }
  ToolResult result = runner_->Call(name, arguments, [this] {
    std::lock_guard<std::mutex> lock(running_mu_);
    return running_cancelled_;
  });
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    running_id_ = nullptr;
  }
  return Response(id, ToMcpResult(result));
}

void McpServer::Cancel(const json& params) {
  if (!params.is_object() || !params.contains("requestId")) return;
  std::lock_guard<std::mutex> lock(running_mu_);
  if (!running_id_.is_null() && running_id_ == params["requestId"]) running_cancelled_ = true;
}

std::optional<json> McpServer::Handle(const json& message) {
  if (message.is_array())
    return ErrorResponse(nullptr, kInvalidRequest, "batches are not supported (MCP 2025-06-18)");
  if (!message.is_object() || message.value("jsonrpc", "") != "2.0")
    return ErrorResponse(nullptr, kInvalidRequest, "not a JSON-RPC 2.0 message");
  auto method_it = message.find("method");
  auto id_it = message.find("id");
  if (method_it == message.end()) {
    // A response to us is dropped (we send no requests); without result or error it is not one either.
    if (message.contains("result") || message.contains("error")) return std::nullopt;
    return ErrorResponse(nullptr, kInvalidRequest, "no method: not a request, a notification or a response");
  }
  if (!method_it->is_string()) return ErrorResponse(nullptr, kInvalidRequest, "method must be a string");
  const std::string method = method_it->get<std::string>();
  if (id_it == message.end()) return std::nullopt;  // a notification: initialized, cancelled, ...
  const json& id = *id_it;
  if (!IsValidId(id)) return ErrorResponse(nullptr, kInvalidRequest, "id must be a string or an integer");
  json params = message.value("params", json::object());
  if (method == "initialize") return Response(id, Initialize(params));
  if (method == "ping") return Response(id, json::object());
  if (method == "tools/list" || method == "tools/call") {
    if (!initialized_) return ErrorResponse(id, kNotInitialized, "send initialize first");
    if (method == "tools/list") return Response(id, ListTools());
    return CallTool(id, params);
  }
  return ErrorResponse(id, kMethodNotFound, "Method not found: " + method);
}

std::optional<std::string> McpServer::HandleLine(std::string_view line) {
  if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
  json message;
  try {
    message = json::parse(line);
  } catch (const json::exception& e) {
    // The parser's message quotes the line, which may not be UTF-8: DumpJson, since dump() would throw.
    return DumpJson(ErrorResponse(nullptr, kParseError, std::string("Parse error: ") + e.what()));
  }
  std::optional<json> reply = Handle(message);
  if (!reply) return std::nullopt;
  // Tool output may hold bytes that are not UTF-8; they must not break the JSON line.
  return DumpJson(*reply);
}

void ServeMcpStdio(McpServer& server, std::istream& in, std::ostream& out) {
  std::string line;
  while (std::getline(in, line)) {
    if (std::optional<std::string> reply = server.HandleLine(line)) {
      out << *reply << '\n';
      out.flush();
    }
  }
}

}  // namespace kiln::tools
