#include "kiln/workflow/engine.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <future>
#include <thread>

#include "test_graph.h"

namespace kiln::workflow {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-workflow-XXXXXX";
    dir_ = mkdtemp(tmpl);
    db_ = dir_ + "/threads.db";
    tg_.effects_file = dir_ + "/effects";
    tg_.Build();
    auto store = OpenSqliteCheckpointStore(db_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override { (void)system(("rm -rf " + dir_).c_str()); }

  std::string dir_, db_;
  testing::TestGraph tg_;
  std::unique_ptr<CheckpointStore> store_;
};

const Json kFinalLog = {"plan",  "effect", "check",  "plan",  "effect",
                        "check", "plan",   "effect", "check", "ask"};

TEST_F(EngineTest, RunsToTheInterruptThenResumesWithTheAnswer) {
  Engine engine(tg_.graph, *store_);
  auto first = engine.Start("t1", {{"log", "input"}});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->status, ThreadStatus::kInterrupted);
  EXPECT_EQ(first->question["question"], "ship it?");
  EXPECT_EQ(first->state["count"], 3);

  auto without_answer = engine.Resume("t1", std::nullopt);
  EXPECT_EQ(without_answer.status().code(), Code::kInvalidArgument);
  EXPECT_NE(without_answer.status().message().find("waits for an answer"), std::string::npos);

  auto done = engine.Resume("t1", Json("yes"));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->status, ThreadStatus::kDone);
  EXPECT_EQ(done->state["answer"], "yes");
  Json log = {"input"};
  for (const auto& item : kFinalLog) log.push_back(item);
  EXPECT_EQ(done->state["log"], log);
  EXPECT_EQ(testing::CountLines(tg_.effects_file), 3);
  EXPECT_EQ(engine.Resume("t1", Json("again")).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine.Resume("t1", std::nullopt).status().code(), Code::kFailedPrecondition);
}

TEST_F(EngineTest, HistoryLinksEveryCheckpointToItsParent) {
  Engine engine(tg_.graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());
  ASSERT_TRUE(engine.Resume("t", Json("ok")).ok());
  auto history = store_->History("t");
  ASSERT_TRUE(history.ok());
  // Start, 9 steps to the question, the interrupt, the answered step.
  ASSERT_EQ(history->size(), 12u);
  for (size_t i = 0; i + 1 < history->size(); ++i) {
    EXPECT_EQ((*history)[i].parent_id, (*history)[i + 1].id);
    EXPECT_GT((*history)[i].id, (*history)[i + 1].id);
  }
  EXPECT_EQ(history->back().parent_id, 0);
  EXPECT_EQ(history->front().status, ThreadStatus::kDone);
  EXPECT_EQ((*history)[1].status, ThreadStatus::kInterrupted);
}

TEST_F(EngineTest, ForkContinuesFromAnOlderCheckpointAndKeepsTheOldBranch) {
  Engine engine(tg_.graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());
  ASSERT_TRUE(engine.Resume("t", Json("first")).ok());
  // Checkpoint 4: after plan, effect, check once (count 1), next is plan.
  auto cp4 = store_->GetCheckpoint("t", 4);
  ASSERT_TRUE(cp4.ok());
  ASSERT_EQ(cp4->state["count"], 1);
  auto forked = engine.Fork("t", 4, {{"count", 1}});
  ASSERT_TRUE(forked.ok()) << forked.status().ToString();
  auto resumed = engine.Resume("t", std::nullopt);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->status, ThreadStatus::kInterrupted);
  EXPECT_EQ(resumed->state["count"], 3);  // 2 after the fork's update, one more loop
  auto done = engine.Resume("t", Json("second"));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state["answer"], "second");
  EXPECT_EQ(testing::CountLines(tg_.effects_file), 4);
  auto fork_cp = store_->GetCheckpoint("t", *forked);
  ASSERT_TRUE(fork_cp.ok());
  EXPECT_EQ(fork_cp->parent_id, 4);
  auto old_end = store_->GetCheckpoint("t", 12);
  ASSERT_TRUE(old_end.ok());
  EXPECT_EQ(old_end->state["answer"], "first");
  EXPECT_EQ(engine.Fork("t", 99).status().code(), Code::kNotFound);
}

TEST_F(EngineTest, TwoConcurrentResumesOneWinsTheOtherGetsAConflict) {
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  Graph graph;
  graph.AddChannel("answer", Reducer::kReplace)
      .AddNode("ask",
               [](const NodeContext& ctx) -> Result<NodeOutput> {
                 if (!ctx.answer) return NodeOutput::Ask("q");
                 return NodeOutput::Update({{"answer", *ctx.answer}});
               })
      .AddNode("slow",
               [&](const NodeContext&) -> Result<NodeOutput> {
                 entered.set_value();
                 released.wait();
                 return NodeOutput::Update(Json::object());
               })
      .AddEdge("ask", "slow")
      .AddEdge("slow", kEnd)
      .SetEntry("ask");
  Engine engine(graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());
  Result<RunOutcome> winner = Internal("not run");
  std::thread first([&] {
    auto own_store = OpenSqliteCheckpointStore(db_);
    Engine own(graph, **own_store);
    winner = own.Resume("t", Json("a"));
  });
  entered.get_future().wait();
  auto loser = engine.Resume("t", Json("b"));
  release.set_value();
  first.join();
  ASSERT_TRUE(winner.ok()) << winner.status().ToString();
  EXPECT_EQ(winner->state["answer"], "a");
  EXPECT_EQ(loser.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(loser.status().message().find("conflict"), std::string::npos) << loser.status().message();
}

TEST_F(EngineTest, StopsCleanlyAtAStepBoundaryAndResumesWhenAllowed) {
  int64_t budget = 2;
  EngineOptions options;
  options.stop_before_step = [&](const Json& s) -> std::optional<std::string> {
    if (s["count"].get<int64_t>() >= budget) return "budget: count reached " + std::to_string(budget);
    return std::nullopt;
  };
  Engine engine(tg_.graph, *store_, options);
  auto stopped = engine.Start("t", Json::object());
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->status, ThreadStatus::kStopped);
  EXPECT_EQ(stopped->reason, "budget: count reached 2");
  EXPECT_EQ(engine.Resume("t", std::nullopt)->status, ThreadStatus::kStopped);  // same budget: stops again
  budget = 100;
  auto asked = engine.Resume("t", std::nullopt);
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->status, ThreadStatus::kInterrupted);
  EXPECT_EQ(testing::CountLines(tg_.effects_file), 3);
}

TEST_F(EngineTest, BadGraphsAndBadUpdatesGetClearErrors) {
  Graph no_exit;
  no_exit.AddNode("a", [](const NodeContext&) -> Result<NodeOutput> { return NodeOutput{}; }).SetEntry("a");
  Engine e1(no_exit, *store_);
  EXPECT_NE(e1.Start("x", Json::object()).status().message().find("no way out"), std::string::npos);

  Graph writes_unknown;
  writes_unknown
      .AddNode("a",
               [](const NodeContext&) -> Result<NodeOutput> {
                 return NodeOutput::Update({{"nope", 1}});
               })
      .AddEdge("a", kEnd)
      .SetEntry("a");
  Engine e2(writes_unknown, *store_);
  auto failed = e2.Start("y", Json::object());
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->status, ThreadStatus::kFailed);
  EXPECT_NE(failed->reason.find("undeclared channel 'nope'"), std::string::npos) << failed->reason;
  Engine e3(tg_.graph, *store_);
  EXPECT_EQ(e3.Start("y", Json::object()).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(e3.Resume("missing", std::nullopt).status().code(), Code::kNotFound);
}

TEST_F(EngineTest, CutOffStepWithFailPolicyStopsTheResumeWithAClearError) {
  testing::TestGraph strict;
  strict.effects_file = tg_.effects_file;
  strict.effect_policy = CutOffPolicy::kFail;
  strict.Build();
  Engine engine(strict.graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());
  // Simulate a run killed inside `effect` from checkpoint 2 (after plan): journaled, never finished.
  auto cp2 = store_->GetCheckpoint("t", 2);
  ASSERT_TRUE(cp2.ok());
  ASSERT_EQ(cp2->next, "effect");
  auto fork = engine.Fork("t", 2);
  ASSERT_TRUE(fork.ok());
  ASSERT_TRUE(store_->StartStep("t", *fork, "effect").ok());
  auto resumed = engine.Resume("t", std::nullopt);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->status, ThreadStatus::kFailed);
  EXPECT_NE(resumed->reason.find("cut off mid-way"), std::string::npos) << resumed->reason;
}

}  // namespace
}  // namespace kiln::workflow
