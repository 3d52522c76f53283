// Internal to kiln_agent: running a coding-workflow thread from the command line (kiln agent --review,
// kiln threads resume): the store under $KILN_HOME, the provider a resumed thread needs, the review
// prompt in the terminal and the report at the end.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "kiln/agent/coding_workflow.h"
#include "kiln/agent/commands.h"
#include "kiln/llm/provider.h"
#include "kiln/workflow/checkpoint_store.h"

namespace kiln::agent {

// Exit codes beyond commands.h's 0 / 1 / 125.
inline constexpr int kExitWaiting = 3;   // the thread waits for a review answer
inline constexpr int kExitRejected = 4;  // the reviewer rejected the code
inline constexpr int kExitStopped = 5;   // a budget stopped the thread (resumable)

struct ThreadIo {
  std::ostream& out;
  std::ostream& err;
  std::istream& in;
  bool interactive = false;  // ask in the terminal at review points (else stop and print how to answer)
  bool json = false;
  bool color = false;  // ANSI colours for code (a terminal, NO_COLOR unset)
  llm::EnvLookup env;  // EDITOR, KILN_HOME
};

// $KILN_HOME/threads.db (KILN_HOME: the variable, else ~/.kiln; created 0700).
Result<std::unique_ptr<workflow::CheckpointStore>> OpenThreadStore(const llm::EnvLookup& env);

// The provider for a thread resumed in this process: the stored model string; a scripted model starts
// after the responses the thread's finished model calls consumed.
Result<std::unique_ptr<llm::Provider>> ProviderForThread(const WorkflowConfig& config,
                                                         workflow::CheckpointStore& store,
                                                         const std::string& thread_id,
                                                         const llm::EnvLookup& env);

// Everything a run of a thread in this process uses.
struct ThreadRunner {
  workflow::CheckpointStore& store;
  llm::Provider* provider = nullptr;
  Executor* executor = nullptr;
  ThreadIo& io;
};

// Starts the thread (input from CodingInput) or resumes it (`answer` for an interrupted one, `budget`
// replacing the stored one first), then asks in the terminal while interactive; prints the result, the
// question and how to answer it, or why it stopped. Returns the exit code.
int StartThread(ThreadRunner& runner, const std::string& thread_id, const nlohmann::json& input);
int ResumeThread(ThreadRunner& runner, const std::string& thread_id,
                 const std::optional<nlohmann::json>& answer, const std::optional<Budget>& budget);

// The question of an interrupted thread, for people: code (numbered, coloured when io.color), the change
// from the previous code, and after a run its output and verdict.
void PrintQuestion(const std::string& thread_id, const nlohmann::json& question, ThreadIo& io);

// `kiln agent --review ...`: the command's task and flags as a new thread, run in this process.
int RunAgentThread(const AgentCommandOptions& options, const Task& task, const std::string& model,
                   llm::Provider& provider, Executor& executor, std::ostream& out, std::ostream& err);

// A line diff ("- old", "+ new", "  same"); empty when the texts are equal.
std::string LineDiff(const std::string& before, const std::string& after);

}  // namespace kiln::agent
