// Helpers shared by the agent module's command bodies (commands.cc, thread_commands.cc).
#include "command_util.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "kiln/base/strings.h"

namespace kiln::agent {
namespace {

constexpr std::string_view kDemoCommand =
    "kiln agent \"Print the first 10 prime numbers\" --model script:examples/agent/demo.script";

// With no model named, a key in the environment picks that provider's inexpensive default.
constexpr std::pair<std::string_view, std::string_view> kDefaultModelByKey[] = {
    {"OPENAI_API_KEY", "openai:gpt-4o-mini"},
    {"ANTHROPIC_API_KEY", "anthropic:claude-haiku-4-5"},
    {"GEMINI_API_KEY", "gemini:gemini-2.5-flash"},
};

}  // namespace

std::optional<std::string> Env(const llm::EnvLookup& env, const std::string& name) {
  if (env) return env(name);
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string Seconds(int64_t ms) {
  return ms < 1000 ? std::to_string(ms) + " ms" : Fixed(static_cast<double>(ms) / 1000.0, 1) + " s";
}

std::string CostText(double usd, bool known) {
  return known ? "$" + Fixed(usd, 4) : "$" + Fixed(usd, 4) + " (model not in the price table)";
}

// Resolves the model string: the flag, else $KILN_MODEL, else a default for an available key.
Result<std::string> ResolveModel(const std::string& flag, const llm::EnvLookup& env, std::ostream& err) {
  if (!flag.empty()) return flag;
  if (auto m = Env(env, "KILN_MODEL")) return *m;
  for (const auto& [key, model] : kDefaultModelByKey) {
    if (Env(env, std::string(key))) {
      err << "kiln: no model named; using " << model << " because " << key
          << " is set (choose with --model or KILN_MODEL)\n";
      return std::string(model);
    }
  }
  return FailedPrecondition(
      "no model: pass --model M or set KILN_MODEL (e.g. openai:gpt-4o with OPENAI_API_KEY set).\n"
      "No API key is set either. To try Kiln offline with the scripted demo model, run:\n  " +
      std::string(kDemoCommand));
}

Result<std::unique_ptr<llm::Provider>> MakeModel(const std::string& model, const llm::EnvLookup& env) {
  llm::ProviderOptions po;
  po.env = env;
  auto provider = llm::MakeProvider(model, po);
  if (!provider.ok() && provider.status().code() == Code::kFailedPrecondition) {
    return Status(provider.status().code(),
                  provider.status().message() +
                      "\nTo try Kiln offline with the scripted demo model, run:\n  " +
                      std::string(kDemoCommand));
  }
  return provider;
}

bool IsScripted(const llm::Provider& p) {
  return p.provider_name() == "script";
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ProgressPrinter::OnRunStart(const Task&, const AgentOptions& options, std::string_view model) {
  err_ << "kiln agent: model " << model << (scripted_ ? " " + std::string(kScriptedNote) : "") << ", up to "
       << options.max_attempts << " attempt(s)\n";
}

void ProgressPrinter::OnAttemptStart(int attempt, int max_attempts) {
  prefix_ = "[attempt " + std::to_string(attempt) + "/" + std::to_string(max_attempts) + "] ";
}

void ProgressPrinter::OnModelCallStart(int, const llm::ChatRequest&) {
  err_ << prefix_ << "generating...\n";
}

void ProgressPrinter::OnExecutionStart(int, const ExecRequest&) {
  err_ << prefix_ << "running the code...\n";
}

void ProgressPrinter::OnAttemptEnd(const Attempt& a) {
  err_ << prefix_ << VerdictName(a.verdict.kind)
       << (a.verdict.passed() ? std::string() : ": " + a.verdict.summary) << " (model " << Seconds(a.model_ms)
       << ", run " << Seconds(a.execution_ms) << ")\n";
}

void PrintAgentText(const AgentResult& r, bool scripted, std::ostream& out) {
  const std::string note = scripted ? " " + std::string(kScriptedNote) : "";
  if (!r.final_code.empty()) {
    out << "=== code (attempt " << r.attempts << "/" << r.max_attempts << ")" << note << " ===\n"
        << r.final_code << (r.final_code.back() == '\n' ? "" : "\n");
    out << "=== output ===\n"
        << r.final_stdout << (r.final_stdout.empty() || r.final_stdout.back() == '\n' ? "" : "\n");
  }
  if (r.success) {
    out << "=== solved at attempt " << r.attempts << " of " << r.max_attempts;
  } else {
    out << "=== NOT solved after " << r.attempts << " attempt(s)";
    if (const Attempt* last = r.last()) out << "; last verdict: " << last->verdict.summary;
  }
  out << " | tokens " << r.usage.input_tokens << " in / " << r.usage.output_tokens << " out | cost "
      << (scripted ? "$0" : CostText(r.cost_usd, r.cost_known)) << " | " << Seconds(r.duration_ms) << note
      << " ===\n";
}

int Fail(std::ostream& err, std::string_view command, const Status& st) {
  err << "kiln " << command << ": error: " << st.message() << "\n";
  return kExitKilnError;
}

}  // namespace kiln::agent
