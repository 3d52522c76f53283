// POST /v1/execute (Riza's command.exec) with and without a "base" warm pool: with one, each call runs in
// a pooled sandbox that is killed after; both paths answer the same for stdin, args, env, a timeout and
// output past the cap.
#include <chrono>
#include <thread>

#include "kiln/control/database.h"
#include "server_test_util.h"

namespace kiln::server {
namespace {

constexpr int64_t kOutputCap = 16ll << 20;  // sandbox::Limits::max_output_bytes

class ExecuteColdTest : public ServerTest {
 protected:
  virtual bool pooled() const { return false; }

  // The registry's row of a sandbox ("" when it has none, as a cold run has not): "state/end_reason".
  std::string RegistryRow(const std::string& id) {
    auto db = control::Database::Open((home_ / "kiln.db").string());
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return "?";
    auto lock = (*db)->Lock();
    auto query = (*db)->Prepare("SELECT state, end_reason FROM sandboxes WHERE id = ?");
    EXPECT_TRUE(query.ok());
    query->Bind(1, id);
    auto row = query->Step();
    return row.ok() && *row ? query->Text(0) + "/" + query->Text(1) : "";
  }
  bool WaitForPool() {
    for (int i = 0; i < 1200; ++i) {
      if (control_->PoolSizes()["base"] == 1) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // Runs through the Control and checks which path it took: a pooled sandbox is registered (and recorded
  // as ended by the exec), a cold one never is; either way it is gone.
  control::ExecResult Exec(const control::ExecRequest& request) {
    if (pooled()) {
      EXPECT_TRUE(WaitForPool());
    }
    auto caller = control_->keys().Authenticate(alice_);
    EXPECT_TRUE(caller.ok());
    auto ran = control_->Exec(*caller, request);
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    if (!ran.ok()) return {};
    EXPECT_FALSE(ran->sandbox_id.empty());
    EXPECT_EQ(RegistryRow(ran->sandbox_id), pooled() ? "ended/executed" : "");
    EXPECT_EQ(control_->Resolve(ran->sandbox_id).status().code(), Code::kNotFound);
    return *ran;
  }
  void ExpectSameAnswers() {
    control::ExecRequest request;
    request.language = "python";
    request.code = "import os, sys\nprint(sys.argv[1:], os.environ['K'], input())\nsys.exit(4)";
    request.args = {"a", "b c"};
    request.env = {{"K", "v"}};
    request.stdin_data = "from stdin\n";
    control::ExecResult ran = Exec(request);
    EXPECT_EQ(ran.exit_code, 4);
    EXPECT_EQ(ran.stdout_data, "['a', 'b c'] v from stdin\n");
    EXPECT_FALSE(ran.timed_out);

    request = {};
    request.language = "bash";
    request.code = "echo oops >&2; sleep 10";
    request.timeout_s = 1;
    ran = Exec(request);
    EXPECT_TRUE(ran.timed_out);
    EXPECT_EQ(ran.exit_code, 137);
    EXPECT_EQ(ran.stderr_data, "oops\n");

    request = {};
    request.language = "python";
    request.code = "import sys\nsys.stdout.write('x' * (20 << 20))\nprint('done', file=sys.stderr)";
    ran = Exec(request);
    EXPECT_EQ(ran.exit_code, 0);
    EXPECT_TRUE(ran.truncated);
    EXPECT_EQ(static_cast<int64_t>(ran.stdout_data.size()), kOutputCap);
    EXPECT_EQ(ran.stderr_data, "done\n");

    request = {};
    request.language = "sh";
    request.code = "kill -SEGV $$";
    EXPECT_EQ(Exec(request).exit_code, 128 + 11);
  }
};

class ExecutePoolTest : public ExecuteColdTest {
 protected:
  bool pooled() const override { return true; }
  void Configure(control::ControlOptions& options) override { options.pool_sizes = {{"base", 1}}; }
};

TEST_F(ExecuteColdTest, StdinArgsEnvTimeoutAndBigOutput) {
  ExpectSameAnswers();
}

TEST_F(ExecutePoolTest, StdinArgsEnvTimeoutAndBigOutput) {
  ExpectSameAnswers();
}

// Over HTTP: the answer comes from a pooled sandbox, which is not left running.
TEST_F(ExecutePoolTest, HttpExecuteTakesFromThePool) {
  ASSERT_TRUE(WaitForPool());
  http::Response r = Call("POST", "/v1/execute", alice_, R"j({"language":"python","code":"print(1)"})j");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["stdout"], "1\n");
  EXPECT_EQ(Body(r)["exit_code"], 0);
  EXPECT_EQ(Body(r)["truncated"], false);
  EXPECT_EQ(control_->CountByState().running, 0);
  ASSERT_TRUE(WaitForPool());  // refilled
}

}  // namespace
}  // namespace kiln::server
