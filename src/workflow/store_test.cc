#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "kiln/workflow/engine.h"
#include "test_graph.h"

namespace kiln::workflow {
namespace {

class StoreTest : public ::testing::Test {
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

  // Runs raw SQL on the file behind the store's back (what a bad disk or a newer Kiln leaves).
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  std::string dir_, db_;
  testing::TestGraph tg_;
  std::unique_ptr<CheckpointStore> store_;
};

TEST_F(StoreTest, FutureSchemaVersionIsAClearError) {
  Engine engine(tg_.graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());
  Sql("UPDATE checkpoints SET schema_version=7 WHERE id=(SELECT head FROM threads WHERE id='t')");
  auto resumed = engine.Resume("t", Json("yes"));
  EXPECT_EQ(resumed.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(resumed.status().message().find("schema version 7"), std::string::npos)
      << resumed.status().message();
  EXPECT_NE(resumed.status().message().find("thread t"), std::string::npos);
}

TEST_F(StoreTest, StepsListsTheWholeJournalOldestFirst) {
  Engine engine(tg_.graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());  // runs to the question: effect ran 3 times
  auto steps = store_->Steps("t");
  ASSERT_TRUE(steps.ok()) << steps.status().ToString();
  ASSERT_EQ(steps->size(), 3u);
  for (size_t i = 0; i < steps->size(); ++i) {
    EXPECT_EQ((*steps)[i].node, "effect");
    EXPECT_TRUE((*steps)[i].done);
    EXPECT_EQ((*steps)[i].attempts, 1);
    if (i > 0) {
      EXPECT_LT((*steps)[i - 1].from_checkpoint, (*steps)[i].from_checkpoint);
    }
  }
  EXPECT_EQ(store_->Steps("nope").status().code(), Code::kNotFound);
}

TEST_F(StoreTest, CorruptedStateIsAClearError) {
  Engine engine(tg_.graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());
  Sql("UPDATE checkpoints SET state='{\"log\": [trunc' WHERE id=(SELECT head FROM threads WHERE id='t')");
  auto resumed = engine.Resume("t", Json("yes"));
  EXPECT_EQ(resumed.status().code(), Code::kInternal);
  EXPECT_NE(resumed.status().message().find("is corrupted"), std::string::npos) << resumed.status().message();
  auto history = store_->History("t");
  EXPECT_FALSE(history.ok());
}

TEST_F(StoreTest, ClaimOfADeadOwnerIsTakenOverOfALiveOneIsAConflict) {
  Checkpoint first;
  first.thread_id = "t";
  first.next = "plan";
  ASSERT_TRUE(store_->CreateThread(first, getpid()).ok());
  auto conflict = store_->Claim("t", getpid());
  EXPECT_EQ(conflict.status().code(), Code::kFailedPrecondition);
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  Sql("UPDATE threads SET owner_pid=" + std::to_string(child));
  EXPECT_TRUE(store_->Claim("t", getpid()).ok());
}

TEST_F(StoreTest, PruneDropsIdleThreadsAndOldCheckpointsButKeepsHeads) {
  Engine engine(tg_.graph, *store_);
  ASSERT_TRUE(engine.Start("old", Json::object()).ok());
  ASSERT_TRUE(engine.Start("keep", Json::object()).ok());
  ASSERT_TRUE(engine.Resume("keep", Json("y")).ok());
  Sql("UPDATE threads SET updated_ms=1000 WHERE id='old'");
  auto pruned =
      store_->Prune({.now_ms = 1'000'000'000'000, .max_idle_ms = 86'400'000, .keep_checkpoints = 3});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_GT(*pruned, 0);
  EXPECT_EQ(store_->GetThread("old").status().code(), Code::kNotFound);
  auto history = store_->History("keep");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 3u);
  EXPECT_EQ(history->front().status, ThreadStatus::kDone);
  EXPECT_EQ(history->front().state["answer"], "y");
}

TEST_F(StoreTest, DeleteThreadRemovesEverything) {
  Engine engine(tg_.graph, *store_);
  ASSERT_TRUE(engine.Start("t", Json::object()).ok());
  ASSERT_TRUE(store_->DeleteThread("t").ok());
  EXPECT_EQ(store_->GetThread("t").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->DeleteThread("t").code(), Code::kNotFound);
  auto threads = store_->ListThreads();
  ASSERT_TRUE(threads.ok());
  EXPECT_TRUE(threads->empty());
}

}  // namespace
}  // namespace kiln::workflow
