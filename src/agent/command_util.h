// Internal to kiln_agent: helpers shared by the command bodies (commands.cc, thread_commands.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "kiln/agent/agent.h"
#include "kiln/llm/provider.h"

namespace kiln::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUnsolved = 1;
inline constexpr int kExitKilnError = 125;
inline constexpr std::string_view kScriptedNote = "(scripted model, offline demo)";

// `env` when set, else getenv; empty values count as unset.
std::optional<std::string> Env(const llm::EnvLookup& env, const std::string& name);
std::string Fixed(double v, int digits);
std::string Seconds(int64_t ms);  // "850 ms", "2.3 s"
std::string CostText(double usd, bool known);
// The model string: the flag, else $KILN_MODEL, else a default for an available API key (said on `err`).
Result<std::string> ResolveModel(const std::string& flag, const llm::EnvLookup& env, std::ostream& err);
// The provider; a missing key's error points at the offline demo.
Result<std::unique_ptr<llm::Provider>> MakeModel(const std::string& model, const llm::EnvLookup& env);
bool IsScripted(const llm::Provider& p);
Result<std::string> ReadTextFile(const std::string& path);

// Progress on stderr: one line per step of each attempt.
class ProgressPrinter : public AgentObserver {
 public:
  ProgressPrinter(std::ostream& err, bool scripted) : err_(err), scripted_(scripted) {}
  void OnRunStart(const Task&, const AgentOptions& options, std::string_view model) override;
  void OnAttemptStart(int attempt, int max_attempts) override;
  void OnModelCallStart(int, const llm::ChatRequest&) override;
  void OnExecutionStart(int, const ExecRequest&) override;
  void OnAttemptEnd(const Attempt& a) override;

 private:
  std::ostream& err_;
  bool scripted_;
  std::string prefix_;
};

// The final code, its output and a one-line summary.
void PrintAgentText(const AgentResult& r, bool scripted, std::ostream& out);
// Prints "kiln COMMAND: error: ..." and returns kExitKilnError.
int Fail(std::ostream& err, std::string_view command, const Status& st);

}  // namespace kiln::agent
