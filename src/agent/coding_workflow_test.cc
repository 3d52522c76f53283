// The coding workflow on the engine, in process: real sandboxes (counted), a recording fake model, a
// SQLite store in a temporary directory. Each review answer, the no-code step, budgets, the journal.
// ctest label "sandbox".
#include "kiln/agent/coding_workflow.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "testing/fakes.h"

namespace kiln::agent {
namespace {

using nlohmann::json;
using workflow::Engine;
using workflow::RunOutcome;
using workflow::ThreadStatus;

// The real sandbox executor, counting the programs it runs.
class CountingExecutor : public Executor {
 public:
  CountingExecutor() : real_(MakeSandboxExecutor()) {}
  Result<Execution> Execute(const ExecRequest& request) override {
    ++runs;
    return real_->Execute(request);
  }
  std::atomic<int> runs{0};

 private:
  std::unique_ptr<Executor> real_;
};

std::string Py(const std::string& code) {
  return "Here it is:\n```python\n" + code + "\n```\n";
}

class CodingWorkflow : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(HaveSandboxRuntime());
    char tmpl[] = "/tmp/kiln-coding-workflow-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = workflow::OpenSqliteCheckpointStore(dir_ + "/threads.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts thread "t" with `replies` from the model.
  Result<RunOutcome> Start(std::vector<std::string> replies, ReviewPoint review, int max_attempts = 3,
                           Budget budget = {}) {
    provider_ = std::make_unique<testing::RecordingProvider>(std::move(replies));
    WorkflowDeps deps{provider_.get(), &executor_, nullptr, nullptr};
    auto graph = BuildCodingGraph(deps);
    if (!graph.ok()) return graph.status();
    graph_ = std::make_unique<workflow::Graph>(std::move(graph).value());
    workflow::EngineOptions options;
    options.stop_before_step = [](const json& state) { return BudgetExceeded(state, 0); };
    engine_ = std::make_unique<Engine>(*graph_, *store_, options);
    WorkflowConfig config;
    config.model = provider_->model();
    config.max_attempts = max_attempts;
    config.review = review;
    config.timeout_ms = 20'000;
    config.budget = budget;
    Task task;
    task.prompt = "Print hello";
    auto input = CodingInput(task, config);
    if (!input.ok()) return input.status();
    return engine_->Start("t", *input);
  }
  Result<RunOutcome> Answer(const ReviewAnswer& answer) { return engine_->Resume("t", ToJson(answer)); }
  int Runs(const std::string& node) {
    int n = 0;
    const std::vector<workflow::StepRecord> steps = store_->Steps("t").value();
    for (const auto& step : steps) n += step.node == node ? step.attempts : 0;
    return n;
  }

  std::string dir_;
  std::unique_ptr<workflow::CheckpointStore> store_;
  std::unique_ptr<testing::RecordingProvider> provider_;
  CountingExecutor executor_;
  std::unique_ptr<workflow::Graph> graph_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(CodingWorkflow, NeverReviewRepairsUntilItPassesAndPackages) {
  auto out = Start({Py("print(hello)"), Py("print('hello')")}, ReviewPoint::kNever);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->status, ThreadStatus::kDone) << out->reason << out->state["attempts"].dump(1);
  EXPECT_EQ(out->state["outcome"], "solved");
  EXPECT_EQ(out->state["attempt"], 2);
  EXPECT_EQ(executor_.runs, 2);
  // The second call carried the NameError back to the model.
  EXPECT_NE(provider_->LastUserText(1).find("NameError"), std::string::npos);
  const AgentResult r = ResultFromState(out->state);
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.final_stdout, "hello\n");
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[0].verdict.kind, VerdictKind::kError);
  EXPECT_EQ(r.usage.input_tokens, 20);
  // Each side-effecting step ran once, journaled.
  EXPECT_EQ(Runs("generate"), 2);
  EXPECT_EQ(Runs("execute"), 2);
}

TEST_F(CodingWorkflow, NoCodeIsAStepOfItsOwnThatRunsNothing) {
  auto out = Start({"Sorry, I am not able to write that program for you.", Py("print('hello')")},
                   ReviewPoint::kNever);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->state["outcome"], "solved");
  EXPECT_EQ(executor_.runs, 1);  // the prose never ran
  EXPECT_EQ(out->state["attempt"], 2);
  EXPECT_EQ(out->state["attempts"][0]["verdict"]["verdict"], "no_code");
  EXPECT_TRUE(out->state["attempts"][0]["execution"].is_null());
  EXPECT_NE(provider_->LastUserText(1).find("no code"), std::string::npos) << provider_->LastUserText(1);
  auto history = store_->History("t").value();
  bool no_code_step = false;
  for (const auto& cp : history) no_code_step |= cp.next == "no_code";
  EXPECT_TRUE(no_code_step);
}

TEST_F(CodingWorkflow, NoCodeOnTheLastAttemptEndsUnsolved) {
  auto out = Start({"I cannot do that, sorry about it."}, ReviewPoint::kAfterRun, 1);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, ThreadStatus::kDone) << out->reason;
  EXPECT_EQ(out->state["outcome"], "unsolved");
  EXPECT_EQ(executor_.runs, 0);
}

TEST_F(CodingWorkflow, BeforeRunAsksBeforeAnythingRunsThenApproveRunsIt) {
  auto out = Start({Py("print('hello')")}, ReviewPoint::kBeforeRun);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->status, ThreadStatus::kInterrupted);
  EXPECT_EQ(out->question["at"], "before-run");
  EXPECT_EQ(out->question["code"], "print('hello')\n");
  EXPECT_EQ(executor_.runs, 0);
  out = Answer({ReviewAnswer::Action::kApprove, ""});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->status, ThreadStatus::kDone) << out->reason;
  EXPECT_EQ(out->state["outcome"], "solved");
  EXPECT_EQ(executor_.runs, 1);
  EXPECT_EQ(out->state["reviews"][0]["action"], "approve");
}

TEST_F(CodingWorkflow, EditRunsTheReviewersCode) {
  auto out = Start({Py("print('hello')")}, ReviewPoint::kBeforeRun);
  ASSERT_TRUE(out.ok());
  out = Answer({ReviewAnswer::Action::kEdit, "print('edited by a human')\n"});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->state["outcome"], "solved");
  const AgentResult r = ResultFromState(out->state);
  EXPECT_EQ(r.final_stdout, "edited by a human\n");
  EXPECT_EQ(out->state["candidate"]["author"], "reviewer");
  EXPECT_EQ(provider_->requests().size(), 1u);
}

TEST_F(CodingWorkflow, RejectEndsTheThreadRejectedWithTheReason) {
  auto out = Start({Py("print('hello')")}, ReviewPoint::kAfterRun);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->status, ThreadStatus::kInterrupted);
  EXPECT_EQ(out->question["stdout"], "hello\n");
  EXPECT_EQ(out->question["verdict"]["verdict"], "passed");
  out = Answer({ReviewAnswer::Action::kReject, "prints to the wrong stream"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, ThreadStatus::kDone) << out->reason;
  EXPECT_EQ(out->state["outcome"], "rejected");
  EXPECT_EQ(out->state["reason"], "prints to the wrong stream");
  EXPECT_FALSE(ResultFromState(out->state).success);
  EXPECT_EQ(executor_.runs, 1);
}

TEST_F(CodingWorkflow, FeedbackGoesToTheModelForAnotherAttempt) {
  auto out = Start({Py("print('hello')"), Py("print('Hello!')")}, ReviewPoint::kAfterRun, 1);
  ASSERT_TRUE(out.ok());
  out = Answer({ReviewAnswer::Action::kFeedback, "capitalise it and add an exclamation mark"});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->status, ThreadStatus::kInterrupted);  // the new attempt is reviewed again
  EXPECT_EQ(out->question["attempt"], 2);
  EXPECT_EQ(out->question["stdout"], "Hello!\n");
  EXPECT_EQ(out->question["previous_code"], "print('hello')\n");
  EXPECT_NE(provider_->LastUserText(1).find("capitalise it"), std::string::npos);
  out = Answer({ReviewAnswer::Action::kApprove, ""});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->state["outcome"], "solved");
  EXPECT_EQ(executor_.runs, 2);
}

TEST_F(CodingWorkflow, ABadAnswerIsRefusedWithTheReason) {
  EXPECT_FALSE(ParseReviewAnswer(json{{"action", "edit"}}).ok());
  EXPECT_FALSE(ParseReviewAnswer(json{{"action", "reject"}, {"reason", "  "}}).ok());
  auto bad = ParseReviewAnswer(json{{"action", "ship"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ship"), std::string::npos);
  EXPECT_FALSE(ParseReviewAnswer(json("approve")).ok());
  EXPECT_TRUE(ParseReviewAnswer(json{{"action", "approve"}}).ok());
}

TEST_F(CodingWorkflow, ATokenBudgetStopsTheThreadResumableWithMore) {
  Budget budget;
  budget.max_tokens = 30;  // the fake model's first call uses 10 + 20
  auto out = Start({Py("print(hello)"), Py("print('hello')")}, ReviewPoint::kNever, 3, budget);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->status, ThreadStatus::kStopped);
  EXPECT_NE(out->reason.find("30 tokens"), std::string::npos) << out->reason;
  EXPECT_EQ(provider_->requests().size(), 1u);
  budget.max_tokens = 1000;
  auto head = store_->GetCheckpoint("t", out->checkpoint).value();
  ASSERT_TRUE(engine_->Fork("t", head.id, WithBudget(head.state, budget)).ok());
  out = engine_->Resume("t", std::nullopt);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->state["outcome"], "solved");
}

TEST(ReviewPoint, NamesRoundTrip) {
  for (auto p : {ReviewPoint::kNever, ReviewPoint::kBeforeRun, ReviewPoint::kAfterRun})
    EXPECT_EQ(ParseReviewPoint(ReviewPointName(p)).value(), p);
  EXPECT_FALSE(ParseReviewPoint("sometimes").ok());
}

}  // namespace
}  // namespace kiln::agent
