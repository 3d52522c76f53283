// The coding agent as a workflow graph (kiln::workflow), with a human review point:
//
//   generate --(no code)--> no_code --(attempts left)--> generate, else end (unsolved)
//      |--(review before-run)--> review
//      '--> execute --> judge --(failed, attempts left)--> generate
//                          |--(review after-run)--> review
//                          '--> package --> end
//   review: approve -> execute (before-run) or package (after-run); edit -> execute (the reviewer's code);
//           reject -> end (rejected, with the reason); feedback -> generate (the text goes to the model).
//
// Every step is checkpointed (see engine.h). Per step kind, what a resume does with a step cut off mid-way:
//   generate (a model call)     side effect, kRerun: a finished call is reused from the journal, never
//                               repeated; a call cut off before its answer was recorded is made again (it
//                               may cost its tokens twice; nothing outside the model changed).
//   execute (a sandbox run)     side effect, kRerun: a finished run is reused; a run cut off is run again in
//                               a fresh sandbox (the first sandbox died with its process; nothing outside
//                               it changed).
//   package (writes --out DIR)  side effect, kRerun: writing the same files again gives the same project.
//   no_code, judge, review      pure: run again from their checkpoint, with the same result.
// A reply without code is its own step (no_code): nothing runs, the model is told no code came back, and
// it counts as an attempt.
//
// The state (a JSON object, schema below in CodingInput) holds the task and the configuration, so a thread
// can be resumed by another process that rebuilds the graph with its own provider and executor.
// Thread-safety: a Graph built here is used by one Engine call at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kiln/agent/agent.h"
#include "kiln/workflow/engine.h"

namespace kiln::agent {

enum class ReviewPoint { kNever, kBeforeRun, kAfterRun };
std::string_view ReviewPointName(ReviewPoint point);  // "never", "before-run", "after-run"
Result<ReviewPoint> ParseReviewPoint(std::string_view name);

// A human's answer at a review point. As JSON: {"action":"approve"}, {"action":"edit","code":"..."},
// {"action":"reject","reason":"..."}, {"action":"feedback","text":"..."}.
struct ReviewAnswer {
  enum class Action { kApprove, kEdit, kReject, kFeedback };
  Action action = Action::kApprove;
  std::string text;  // edit: the new code; reject: the reason; feedback: the message for the model
};
std::string_view ActionName(ReviewAnswer::Action action);
nlohmann::json ToJson(const ReviewAnswer& answer);
// InvalidArgument naming what is wrong (unknown action, missing or empty code/reason/text).
Result<ReviewAnswer> ParseReviewAnswer(const nlohmann::json& answer);

// Stops a thread at the next step boundary when a limit is reached (0: no limit). Stored in the thread;
// a stopped thread resumes with higher limits (WithBudget).
struct Budget {
  int64_t max_tokens = 0;  // input + output tokens of all model calls
  double max_cost_usd = 0;
  int64_t max_time_ms = 0;  // wall time of one run (one Start or Resume: time spent waiting for a review
                            // does not count)
};

struct WorkflowConfig {
  std::string model;  // the model string, to rebuild the provider on resume
  int max_attempts = 3;
  ReviewPoint review = ReviewPoint::kNever;
  int64_t timeout_ms = 30'000;  // per execution
  int64_t memory_mb = 512;
  std::string out_dir;  // package writes the project here and DIR.tar.gz ("" = no files)
  bool scripted = false;
  Budget budget;
};

// What the graph's nodes use; not stored (a resuming process brings its own). All must outlive the graph.
struct WorkflowDeps {
  llm::Provider* provider = nullptr;
  Executor* executor = nullptr;
  AgentObserver* observer = nullptr;        // may be null
  const llm::PriceTable* prices = nullptr;  // null: the built-in table
};

// The graph, validated. A null provider or executor makes generate or execute fail (FailedPrecondition):
// enough for a process that only forks or inspects threads.
Result<workflow::Graph> BuildCodingGraph(const WorkflowDeps& deps);

// The input for Engine::Start: channels task {prompt, tests, show_tests, stub, entry_point, id}, config,
// next_message (the first user message), started_at_ns. Others start empty: messages, attempt, candidate
// {attempt, reply, code, code_source, author}, previous_code, run {execution, sentinel, code_lines,
// has_tests}, verdict, attempts (the Attempt records), input_tokens, output_tokens, cost_usd, cost_known,
// reviews [{at, attempt, action, text}], decision, outcome ("" until the end: "solved", "unsolved",
// "rejected"), reason, package.
Result<nlohmann::json> CodingInput(const Task& task, const WorkflowConfig& config);
Result<WorkflowConfig> ConfigFromState(const nlohmann::json& state);
// The state update that replaces the stored budget (for a resume with higher limits).
nlohmann::json WithBudget(const nlohmann::json& state, const Budget& budget);
// Why the thread must stop before its next step, if a budget is spent (for EngineOptions::stop_before_step);
// `run_elapsed_ms`: how long the current Start or Resume has run.
std::optional<std::string> BudgetExceeded(const nlohmann::json& state, int64_t run_elapsed_ms);

// The run so far as an AgentResult (for printing, --json and the project), with the review decisions.
AgentResult ResultFromState(const nlohmann::json& state);

}  // namespace kiln::agent
