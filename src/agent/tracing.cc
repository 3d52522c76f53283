#include "kiln/agent/tracing.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "kiln/llm/pricing.h"
#include "kiln/trace/exporter.h"
#include "kiln/trace/genai.h"

namespace kiln::agent {
namespace {

namespace genai = trace::genai;

constexpr char kAttempt[] = "kiln.agent.attempt";

std::string_view RoleName(llm::Role role) {
  switch (role) {
    case llm::Role::kSystem:
      return "system";
    case llm::Role::kUser:
      return "user";
    case llm::Role::kAssistant:
      return "assistant";
    case llm::Role::kTool:
      return "tool";
  }
  return "user";
}

std::string InputMessagesJson(const llm::ChatRequest& request) {
  std::vector<genai::Message> messages;
  messages.reserve(request.messages.size());
  for (const llm::Message& m : request.messages)
    messages.push_back({std::string(RoleName(m.role)), m.text, {}});
  return genai::MessagesJson(messages);
}

// gen_ai.system_instructions: an array of parts.
std::string SystemInstructionsJson(const std::string& system) {
  if (system.empty()) return {};
  return nlohmann::json::array({{{"type", "text"}, {"content", system}}}).dump();
}

// The response's cost by the request model, else by the response model; nullopt if neither is priced.
std::optional<double> CostOf(const llm::PriceTable& prices, const std::string& request_model,
                             const llm::ChatResponse& r) {
  llm::Cost cost = prices.CostOf(request_model, r.usage);
  if (!cost.known && !r.response_model.empty()) cost = prices.CostOf(r.response_model, r.usage);
  if (!cost.known) return std::nullopt;
  return cost.usd;
}

genai::ChatResult ChatResultOf(const llm::ChatResponse& r, const std::optional<double>& cost, bool capture) {
  genai::ChatResult out;
  out.response_model = r.response_model;
  out.response_id = r.response_id;
  out.input_tokens = r.usage.input_tokens;
  out.output_tokens = r.usage.output_tokens;
  if (r.usage.cache_read_input_tokens > 0) out.cache_read_input_tokens = r.usage.cache_read_input_tokens;
  std::string finish = r.finish_reason.empty() ? std::string(llm::FinishName(r.finish)) : r.finish_reason;
  out.finish_reasons.push_back(std::move(finish));
  out.cost_usd = cost;
  if (capture) out.output_messages_json = genai::MessagesJson({{"assistant", r.text, out.finish_reasons[0]}});
  return out;
}

genai::ToolResult ToolResultOf(const Result<Execution>& execution, bool capture) {
  genai::ToolResult out;
  if (!execution.ok()) {
    out.error_type = std::string(CodeName(execution.status().code()));
    out.error_message = execution.status().message();
    return out;
  }
  const Execution& e = *execution;
  out.sandbox_id = e.sandbox_id;
  out.exit_code = e.exit_code;
  out.timed_out = e.timed_out;
  out.oom = e.oom_killed;
  out.duration_ms = e.duration_ms;
  if (capture) {
    out.result =
        nlohmann::json{{"exit_code", e.exit_code}, {"stdout", e.stdout_data}, {"stderr", e.stderr_data}}
            .dump();
  }
  return out;
}

}  // namespace

TracingInfo TracingInfoFor(const llm::Provider& provider) {
  TracingInfo info;
  info.provider_name = std::string(provider.provider_name());
  info.request_model = provider.request_model();
  return info;
}

TracingObserver::TracingObserver(trace::Tracer tracer, TracingInfo info)
    : tracer_(std::move(tracer)), info_(std::move(info)) {}

TracingObserver::~TracingObserver() {
  current_.reset();
}

void TracingObserver::OnRunStart(const Task& task, const AgentOptions& options, std::string_view model) {
  if (!tracer_.enabled()) return;
  prices_ = options.prices ? options.prices : &llm::PriceTable::Builtin();
  trace::SpanOptions so;
  so.attributes.push_back({"kiln.agent.model", std::string(model)});
  so.attributes.push_back({"kiln.agent.max_attempts", int64_t{options.max_attempts}});
  if (!task.id.empty()) so.attributes.push_back({"kiln.task.id", task.id});
  run_ = genai::StartInvokeAgent(
      {.agent_name = info_.agent_name, .provider = info_.provider_name, .model = info_.request_model},
      std::move(so), tracer_);
  current_.emplace(run_.context());
}

void TracingObserver::OnModelCallStart(int attempt, const llm::ChatRequest& request) {
  if (!run_.recording()) return;
  genai::ChatRequest req{.provider = info_.provider_name, .model = info_.request_model};
  if (request.max_output_tokens > 0) req.max_tokens = request.max_output_tokens;
  req.temperature = request.temperature;
  if (tracer_.capture_content()) {
    req.input_messages_json = InputMessagesJson(request);
    req.system_instructions_json = SystemInstructionsJson(request.system);
  }
  trace::SpanOptions so{.parent = run_.context()};
  so.attributes.push_back({kAttempt, int64_t{attempt}});
  chat_ = genai::StartChat(req, std::move(so), tracer_);
}

void TracingObserver::OnModelCallEnd(int, const Result<llm::ChatResponse>& response,
                                     const llm::CallInfo& info) {
  if (!chat_.recording()) return;
  // The call facts are authoritative (the provider may report a different operation or model).
  const std::string& model = info.request_model.empty() ? info_.request_model : info.request_model;
  const std::string op = info.operation_name.empty() ? "chat" : info.operation_name;
  chat_.SetName(model.empty() ? op : op + " " + model);
  chat_.SetAttribute("gen_ai.operation.name", op);
  if (!info.provider_name.empty()) chat_.SetAttribute("gen_ai.provider.name", info.provider_name);
  if (!model.empty()) chat_.SetAttribute("gen_ai.request.model", model);
  if (!info.server_address.empty()) chat_.SetAttribute("server.address", info.server_address);
  if (info.server_port > 0) chat_.SetAttribute("server.port", info.server_port);
  if (info.attempts > 1) chat_.SetAttribute("kiln.llm.http_attempts", info.attempts);
  if (info.http_status > 0) chat_.SetAttribute("http.response.status_code", info.http_status);
  if (!response.ok()) {
    genai::ChatResult failed;
    failed.error_type =
        info.error_type.empty() ? std::string(CodeName(response.status().code())) : info.error_type;
    failed.error_message = response.status().message();
    genai::EndChat(chat_, failed);
    return;
  }
  genai::EndChat(chat_,
                 ChatResultOf(*response, CostOf(*prices_, model, *response), chat_.captures_content()));
}

void TracingObserver::OnExecutionStart(int attempt, const ExecRequest& request) {
  if (!run_.recording()) return;
  genai::ToolCall call{.tool_name = kRunCodeTool,
                       .description = "Run a program in a fresh sandbox",
                       .language = request.language};
  if (tracer_.capture_content()) call.arguments = request.code;
  trace::SpanOptions so{.parent = run_.context()};
  so.attributes.push_back({kAttempt, int64_t{attempt}});
  if (request.timeout_ms > 0) so.attributes.push_back({"kiln.execution.timeout_ms", request.timeout_ms});
  if (request.memory_mb > 0) so.attributes.push_back({"kiln.execution.memory_mb", request.memory_mb});
  exec_ = genai::StartExecuteTool(call, std::move(so), tracer_);
}

void TracingObserver::OnExecutionEnd(int, const Result<Execution>& execution) {
  if (!exec_.recording()) return;
  genai::EndExecuteTool(exec_, ToolResultOf(execution, exec_.captures_content()));
}

void TracingObserver::OnAttemptEnd(const Attempt& a) {
  if (!run_.recording()) return;
  trace::Attributes attrs;
  attrs.push_back({"kiln.attempt.number", int64_t{a.number}});
  attrs.push_back({"kiln.attempt.verdict", std::string(VerdictName(a.verdict.kind))});
  attrs.push_back({"kiln.attempt.passed", a.verdict.passed()});
  attrs.push_back({"kiln.attempt.code_source", std::string(SourceName(a.code_source))});
  if (!a.verdict.summary.empty()) attrs.push_back({"kiln.attempt.summary", a.verdict.summary});
  if (!a.verdict.error_name.empty()) attrs.push_back({"kiln.attempt.error_name", a.verdict.error_name});
  run_.AddEvent("kiln.attempt", std::move(attrs));
}

void TracingObserver::OnRunEnd(const Result<AgentResult>& result) {
  if (!run_.recording()) return;
  chat_.End();  // no-ops unless a callback pair was broken
  exec_.End();
  if (result.ok()) {
    run_.SetAttribute("kiln.agent.success", result->success);
    run_.SetAttribute("kiln.agent.attempts", result->attempts);
    run_.SetAttribute("gen_ai.usage.input_tokens", result->usage.input_tokens);
    run_.SetAttribute("gen_ai.usage.output_tokens", result->usage.output_tokens);
    if (result->cost_known) run_.SetAttribute(genai::kCostUsd, result->cost_usd);
  } else {
    run_.RecordError(result.status());
  }
  current_.reset();
  run_.End();
}

// --- ObserverList ------------------------------------------------------------------------------------------

ObserverList::ObserverList(std::vector<AgentObserver*> observers) {
  for (AgentObserver* o : observers) {
    if (o != nullptr) observers_.push_back(o);
  }
}
void ObserverList::OnRunStart(const Task& task, const AgentOptions& options, std::string_view model) {
  for (AgentObserver* o : observers_) o->OnRunStart(task, options, model);
}
void ObserverList::OnAttemptStart(int attempt, int max_attempts) {
  for (AgentObserver* o : observers_) o->OnAttemptStart(attempt, max_attempts);
}
void ObserverList::OnModelCallStart(int attempt, const llm::ChatRequest& request) {
  for (AgentObserver* o : observers_) o->OnModelCallStart(attempt, request);
}
void ObserverList::OnModelCallEnd(int attempt, const Result<llm::ChatResponse>& response,
                                  const llm::CallInfo& info) {
  for (AgentObserver* o : observers_) o->OnModelCallEnd(attempt, response, info);
}
void ObserverList::OnExecutionStart(int attempt, const ExecRequest& request) {
  for (AgentObserver* o : observers_) o->OnExecutionStart(attempt, request);
}
void ObserverList::OnExecutionEnd(int attempt, const Result<Execution>& execution) {
  for (AgentObserver* o : observers_) o->OnExecutionEnd(attempt, execution);
}
void ObserverList::OnAttemptEnd(const Attempt& attempt) {
  for (AgentObserver* o : observers_) o->OnAttemptEnd(attempt);
}
void ObserverList::OnRunEnd(const Result<AgentResult>& result) {
  for (AgentObserver* o : observers_) o->OnRunEnd(result);
}

// --- TraceSession ------------------------------------------------------------------------------------------

TraceSession::TraceSession(const llm::EnvLookup& env, bool force_console, FILE* console, std::ostream& err,
                           std::chrono::milliseconds shutdown_timeout)
    : shutdown_timeout_(shutdown_timeout) {
  std::shared_ptr<trace::Provider> current = trace::GlobalProvider();
  if (current->enabled() && !force_console) return;  // an embedder's provider: use it as is
  trace::EnvLookup lookup = trace::ProcessEnv();
  if (env) lookup = [env](std::string_view name) { return env(std::string(name)); };
  if (console == nullptr) console = stderr;
  Status st = trace::InstallFromEnvironment(lookup, force_console, console);
  if (!st.ok()) {
    err << "kiln: warning: tracing disabled: " << st.message() << "\n";
    if (!force_console) return;
    trace::ProviderOptions po;
    po.exporters.push_back(trace::MakeConsoleExporter(console));
    trace::SetGlobalProvider(trace::Provider::Create(std::move(po)));
  }
  previous_ = std::move(current);
  installed_ = true;
}

TraceSession::~TraceSession() {
  if (!installed_) return;
  (void)trace::ShutdownGlobal(shutdown_timeout_);  // logs dropped spans itself
  trace::SetGlobalProvider(std::move(previous_));
}

}  // namespace kiln::agent
