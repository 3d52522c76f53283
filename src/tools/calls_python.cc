// Python in the session's code context: run_python and registry tools backed by a Python function.
#include "calls.h"
#include "kiln/client/code_client.h"
#include "kiln/client/envd_client.h"

namespace kiln::tools {
namespace {

using json = nlohmann::json;

constexpr int64_t kClientGraceMs = 30'000;  // beyond the cell timeout, for envd to answer TimeoutError

void AddText(ToolResult& result, const std::string& label, const std::string& text) {
  if (text.empty()) return;
  result.content.push_back({Content::Type::kText, "[" + label + "]\n" + text, "", ""});
}

// Renders an execution for the model: output streams, the cell's value, images, then the error if any.
ToolResult Render(const client::Execution& run, const CappedText& out, const CappedText& err, size_t cap) {
  ToolResult result;
  AddText(result, "stdout", out.Finish());
  AddText(result, "stderr", err.Finish());
  for (const client::ExecutionResult& item : run.results) {
    bool image = false;
    for (const char* format : {"png", "jpeg"}) {
      if (std::string data = item.Get(format); !data.empty()) {
        result.content.push_back({Content::Type::kImage, "", std::string("image/") + format, data});
        image = true;
      }
    }
    if (std::string text = item.Get("text"); !text.empty() && (!image || item.is_main_result)) {
      CappedText capped(cap);
      capped.Append(text);
      AddText(result, item.is_main_result ? "result" : "display", capped.Finish());
    }
  }
  if (run.error) {
    result.is_error = true;
    CappedText trace(cap);
    trace.Append(run.error->traceback);
    AddText(result, "error",
            run.error->name + ": " + run.error->value +
                (run.error->traceback.empty() ? "" : "\n" + trace.Finish()));
  }
  if (result.content.empty()) result.content.push_back({Content::Type::kText, "(no output)", "", ""});
  return result;
}

ToolResult Execute(const CallContext& call, const std::string& code) {
  client::CodeClient client(call.sandbox.socket_path, call.sandbox.access_token);
  client::ExecuteOptions options;
  options.timeout_ms = call.tool.timeout_ms;
  options.request_timeout_ms = call.tool.timeout_ms + kClientGraceMs;
  options.cancelled = call.cancelled;
  CappedText out(call.max_output_bytes);
  CappedText err(call.max_output_bytes);
  client::ExecuteCallbacks callbacks;
  callbacks.on_stdout = [&](const std::string& text) { out.Append(text); };
  callbacks.on_stderr = [&](const std::string& text) { err.Append(text); };
  Result<client::Execution> run = client.Execute(code, options, callbacks);
  if (!run.ok()) {
    std::string why = run.status().code() == Code::kDeadlineExceeded
                          ? "timed out after " + std::to_string(call.tool.timeout_ms / 1000) + " s"
                          : run.status().message();
    ToolResult failed =
        call.cancelled && call.cancelled()
            ? ToolResult::Error(StoppedByTheUser(call.tool, "the cell was interrupted; variables are kept"))
            : ToolResult::Error(call.tool.name + ": " + why);
    AddText(failed, "stdout", out.Finish());
    AddText(failed, "stderr", err.Finish());
    return failed;
  }
  return Render(*run, out, err, call.max_output_bytes);
}

// A JSON text as a Python string literal: JSON's string escapes are all valid in Python source.
std::string PythonLiteral(const json& value) {
  return json(value.dump(-1, ' ', false, json::error_handler_t::replace)).dump();
}

}  // namespace

ToolResult RunPythonCode(const CallContext& call) {
  return Execute(call, call.arguments.at("code").get<std::string>());
}

ToolResult RunPythonFunction(const CallContext& call) {
  std::string path = "/tmp/kiln-tools/" + call.tool.name + ".py";
  client::EnvdClient files(call.sandbox.socket_path, call.sandbox.access_token);
  if (Status s = files.Write(path, call.tool.python_source); !s.ok())
    return ToolResult::Error(call.tool.name + ": cannot upload " + call.tool.python_file + ": " +
                             s.message());
  // Strings are printed as they are and JSON-able values as JSON; anything else (a DataFrame, a figure)
  // is the cell's value, shown in its richest format.
  std::string code =
      "def __kiln_tool_call():\n"
      "    import importlib.util, json\n"
      "    spec = importlib.util.spec_from_file_location(" +
      json("kiln_tool_" + call.tool.name).dump() + ", " + json(path).dump() +
      ")\n"
      "    module = importlib.util.module_from_spec(spec)\n"
      "    spec.loader.exec_module(module)\n"
      "    result = module." +
      call.tool.python_function + "(**json.loads(" + PythonLiteral(call.arguments) +
      "))\n"
      "    if result is None:\n"
      "        return None\n"
      "    if isinstance(result, str):\n"
      "        print(result, end='')\n"
      "        return None\n"
      "    try:\n"
      "        print(json.dumps(result))\n"
      "        return None\n"
      "    except (TypeError, ValueError):\n"
      "        return result\n"
      "__kiln_tool_call()\n";
  return Execute(call, code);
}

}  // namespace kiln::tools
