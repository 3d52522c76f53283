// Crash tests: a child process runs the graph and is SIGKILLed at the k-th event (every step boundary, and
// inside the side-effecting step after its effect happened), then this process resumes the thread to the
// end. The final state must equal an uninterrupted run's, and the effect count must be what the step
// policy promises: exactly once, except a kill between the effect and its journal entry, which kRerun
// repeats once, knowingly.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "kiln/workflow/engine.h"
#include "test_graph.h"

namespace kiln::workflow {
namespace {

struct Events {
  std::vector<std::string> names;  // "event:node" in order
};

// Runs the thread to the end from whatever state it is in, answering the question with "yes".
Result<RunOutcome> RunToEnd(CheckpointStore& store, const Graph& graph, const std::string& thread_id,
                            EngineOptions options) {
  Engine engine(graph, store, options);
  auto info = store.GetThread(thread_id);
  Result<RunOutcome> outcome = Internal("not run");
  if (!info.ok()) {
    outcome = engine.Start(thread_id, Json::object());
  } else {
    auto head = store.GetCheckpoint(thread_id, info->head);
    if (!head.ok()) return head.status();
    if (head->status == ThreadStatus::kDone) {
      return RunOutcome{head->status, head->state, head->interrupt, head->reason, head->id};
    }
    outcome = engine.Resume(
        thread_id, head->status == ThreadStatus::kInterrupted ? std::optional<Json>("yes") : std::nullopt);
  }
  while (outcome.ok() && outcome->status != ThreadStatus::kDone) {
    if (outcome->status != ThreadStatus::kInterrupted) return Internal("unexpected stop: " + outcome->reason);
    outcome = engine.Resume(thread_id, Json("yes"));
  }
  return outcome;
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-workflow-crash-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { (void)system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(CrashTest, KillAtEveryEventThenResumeGivesTheUninterruptedResult) {
  // The reference run, recording its events.
  testing::TestGraph reference;
  reference.effects_file = dir_ + "/ref-effects";
  Events events;
  reference.inside_effect = [&] { events.names.push_back("inside:effect"); };
  reference.Build();
  auto ref_store = OpenSqliteCheckpointStore(dir_ + "/ref.db");
  ASSERT_TRUE(ref_store.ok());
  EngineOptions record;
  record.probe = [&](std::string_view e, const std::string& node) {
    events.names.push_back(std::string(e) + ":" + node);
  };
  auto expected = RunToEnd(**ref_store, reference.graph, "t", record);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  const int effects_per_run = testing::CountLines(reference.effects_file);
  ASSERT_EQ(effects_per_run, 3);
  ASSERT_GT(events.names.size(), 30u);

  for (size_t k = 0; k < events.names.size(); ++k) {
    SCOPED_TRACE("killed at event " + std::to_string(k) + " " + events.names[k]);
    std::string db = dir_ + "/t" + std::to_string(k) + ".db";
    std::string effects = dir_ + "/effects" + std::to_string(k);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      size_t seen = 0;
      auto tick = [&] {
        if (seen++ == k) raise(SIGKILL);
      };
      testing::TestGraph graph;
      graph.effects_file = effects;
      graph.inside_effect = tick;
      graph.Build();
      auto store = OpenSqliteCheckpointStore(db);
      if (!store.ok()) _exit(3);
      EngineOptions options;
      options.probe = [&](std::string_view, const std::string&) { tick(); };
      (void)RunToEnd(**store, graph.graph, "t", options);
      _exit(2);  // never reached: the k-th event comes first
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

    testing::TestGraph graph;
    graph.effects_file = effects;
    graph.Build();
    auto store = OpenSqliteCheckpointStore(db);
    ASSERT_TRUE(store.ok());
    auto outcome = RunToEnd(**store, graph.graph, "t", {});
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
    EXPECT_EQ(outcome->state, expected->state);
    const std::string& e = events.names[k];
    bool effect_unrecorded = e == "inside:effect" || e == "node_returned:effect";
    EXPECT_EQ(testing::CountLines(effects), effects_per_run + (effect_unrecorded ? 1 : 0));
  }
}

}  // namespace
}  // namespace kiln::workflow
