// Black-box tests of `kiln agent --review` and `kiln threads` on the built binary: the scripted model, real
// sandboxes, a private KILN_HOME per test. Each review answer, a kill -9 at the review prompt (a
// terminal, through a pty), two resumes at once, forks, budgets and the no-code step. ctest label
// "sandbox".
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shell_test_util.h"

namespace {

using nlohmann::json;

using kiln::cli::testing::Outcome;
using kiln::cli::testing::Shell;

const std::string kKiln = KILN_BINARY;

std::string Fenced(const std::string& code) {
  return "Here is the program:\n\n```python\n" + code + "\n```\n";
}

class ThreadsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln-threads-cli-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) const { std::ofstream(Path(name)) << text; }
  // A plain-text script with these responses.
  std::string Script(const std::vector<std::string>& responses) const {
    std::string text;
    for (const std::string& r : responses) text += (text.empty() ? "" : "\n--- response ---\n") + r;
    Write("model.script", text);
    return "script:" + Path("model.script");
  }
  std::string Env() const {
    return "env -u KILN_MODEL -u OTEL_TRACES_EXPORTER KILN_HOME=" + dir_.string() + " ";
  }
  // `kiln ARGS`, stdin not a terminal, stderr merged.
  Outcome Kiln(const std::string& args) const {
    return Shell(Env() + kKiln + " " + args + " 2>&1 </dev/null");
  }
  // The same, stdout only, parsed as JSON.
  json KilnJson(const std::string& args) const {
    return json::parse(Shell(Env() + kKiln + " " + args + " 2>/dev/null </dev/null").out, nullptr, false);
  }
  json Show(const std::string& id) const {
    json j = KilnJson("threads show " + id + " --json");
    return j.is_object() ? j : json::object();
  }
  static std::string ThreadId(const std::string& out) {
    std::smatch m;
    std::regex re("thread (th[a-z0-9]+)");
    return std::regex_search(out, m, re) ? m[1].str() : "";
  }
  // Runs of each journaled step kind.
  static std::map<std::string, int> Runs(const json& shown) {
    std::map<std::string, int> runs;
    for (const json& s : shown["steps"]) runs[s["node"].get<std::string>()] += s["runs"].get<int>();
    return runs;
  }
  std::filesystem::path dir_;
};

TEST_F(ThreadsCli, AfterRunStopsWithTheThreadIdAndApproveFinishesIt) {
  const std::string model = Script({Fenced("print('hello')")});
  Outcome o = Kiln("agent --model " + model + " --review after-run --out " + Path("proj") + " 'Print hello'");
  ASSERT_EQ(o.exit_code, 3) << o.out;
  const std::string id = ThreadId(o.out);
  ASSERT_FALSE(id.empty()) << o.out;
  EXPECT_NE(o.out.find("kiln threads resume " + id + " --approve"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("print('hello')"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("verdict: passed"), std::string::npos) << o.out;
  json shown = Show(id);
  ASSERT_FALSE(shown.is_discarded());
  EXPECT_EQ(shown["status"], "interrupted");
  EXPECT_EQ(shown["question"]["at"], "after-run");
  EXPECT_EQ(shown["question"]["stdout"], "hello\n");

  json result = KilnJson("threads resume " + id + " --approve --json");
  ASSERT_TRUE(result.is_object()) << result;
  EXPECT_EQ(result["outcome"], "solved");
  EXPECT_EQ(result["reviews"][0]["action"], "approve");
  // The project records the decision.
  std::ifstream meta(Path("proj/metadata.json"));
  json metadata = json::parse(meta, nullptr, false);
  ASSERT_FALSE(metadata.is_discarded());
  EXPECT_EQ(metadata["reviews"][0]["action"], "approve");

  json list = KilnJson("threads list --json");
  ASSERT_EQ(list.size(), 1u) << list;
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(list[0]["status"], "done");
  EXPECT_EQ(list[0]["outcome"], "solved");
  o = Kiln("threads list");
  EXPECT_NE(o.out.find(id), std::string::npos) << o.out;
  json history = KilnJson("threads history " + id + " --json");
  ASSERT_GE(history.size(), 5u) << history;
  for (size_t i = 0; i + 1 < history.size(); ++i)
    EXPECT_EQ(history[i]["parent"], history[i + 1]["checkpoint"]);
  EXPECT_EQ(Kiln("threads resume " + id + " --approve").exit_code, 125);  // done: nothing to answer
}

TEST_F(ThreadsCli, EditRunsTheReviewersFile) {
  const std::string model = Script({Fenced("print('from the model')")});
  Outcome o = Kiln("agent --model " + model + " --review before-run 'Print something'");
  ASSERT_EQ(o.exit_code, 3) << o.out;
  EXPECT_EQ(o.out.find("running the code"), std::string::npos) << "nothing runs before the review: " << o.out;
  const std::string id = ThreadId(o.out);
  Write("mine.py", "print('from the reviewer')\n");
  o = Kiln("threads resume " + id + " --edit " + Path("mine.py"));
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("from the reviewer\n"), std::string::npos) << o.out;
  EXPECT_EQ(Runs(Show(id))["execute"], 1);
  // A missing file is a clear error, and the thread still waits.
  Outcome again = Kiln("agent --model " + model + " --review before-run 'Print something'");
  const std::string id2 = ThreadId(again.out);
  o = Kiln("threads resume " + id2 + " --edit " + Path("nope.py"));
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("nope.py"), std::string::npos) << o.out;
  EXPECT_EQ(Show(id2)["status"], "interrupted");
}

TEST_F(ThreadsCli, RejectEndsTheThreadRejected) {
  const std::string model = Script({Fenced("import os\nprint(os.listdir('/'))")});
  Outcome o = Kiln("agent --model " + model + " --review before-run 'List the root'");
  ASSERT_EQ(o.exit_code, 3) << o.out;
  const std::string id = ThreadId(o.out);
  o = Kiln("threads resume " + id + " --reject 'no file system snooping'");
  EXPECT_EQ(o.exit_code, 4) << o.out;
  EXPECT_NE(o.out.find("rejected by the reviewer: no file system snooping"), std::string::npos) << o.out;
  json shown = Show(id);
  EXPECT_EQ(shown["outcome"], "rejected");
  EXPECT_EQ(shown["reason"], "no file system snooping");
  EXPECT_EQ(Runs(shown).count("execute"), 0u);
}

TEST_F(ThreadsCli, FeedbackGivesTheModelAnotherAttemptThenAsksAgain) {
  const std::string model = Script({Fenced("print('hello')"), Fenced("print('HELLO')")});
  Outcome o = Kiln("agent --model " + model + " --review after-run 'Print hello'");
  ASSERT_EQ(o.exit_code, 3) << o.out;
  const std::string id = ThreadId(o.out);
  o = Kiln("threads resume " + id + " --feedback 'in capitals please'");
  ASSERT_EQ(o.exit_code, 3) << o.out;
  EXPECT_NE(o.out.find("attempt 2/3"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("+ print('HELLO')"), std::string::npos) << "the diff: " << o.out;
  json shown = Show(id);
  EXPECT_EQ(shown["question"]["stdout"], "HELLO\n");
  EXPECT_EQ(Runs(shown)["generate"], 2);
  const json messages = shown["state"]["messages"];
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_NE(messages[2]["text"].get<std::string>().find("in capitals please"), std::string::npos);
}

// Reads the pty until `needle` shows up (or 120 s pass).
std::string ReadUntil(int fd, const std::string& needle) {
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (seen.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 500) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<size_t>(n));
  }
  return seen;
}

TEST_F(ThreadsCli, KillNineAtTheReviewPromptThenResumeRerunsNothing) {
  const std::string model = Script({Fenced("print('first answer')"), Fenced("print('second answer')")});
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("KILN_HOME", dir_.c_str(), 1);
    unsetenv("KILN_MODEL");
    execl(kKiln.c_str(), kKiln.c_str(), "agent", "--model", model.c_str(), "--review", "after-run",
          "Print it", static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string seen = ReadUntil(master, "Answer:");
  ASSERT_NE(seen.find("Answer:"), std::string::npos) << seen;
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(master);
  ASSERT_TRUE(WIFSIGNALED(status));
  const std::string id = ThreadId(seen);
  ASSERT_FALSE(id.empty()) << seen;

  json shown = Show(id);
  EXPECT_EQ(shown["status"], "interrupted");
  EXPECT_EQ((Runs(shown)), (std::map<std::string, int>{{"generate", 1}, {"execute", 1}}));
  Outcome o = Kiln("threads resume " + id + " --approve");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("first answer"), std::string::npos) << "the model was not asked again: " << o.out;
  EXPECT_EQ(o.out.find("generating"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("running the code"), std::string::npos) << o.out;
  shown = Show(id);
  EXPECT_EQ(shown["outcome"], "solved");
  EXPECT_EQ((Runs(shown)), (std::map<std::string, int>{{"generate", 1}, {"execute", 1}, {"package", 1}}));
}

TEST_F(ThreadsCli, ASecondResumeAtTheSameTimeGetsAConflict) {
  const std::string model = Script({Fenced("import time\ntime.sleep(8)\nprint('slept')")});
  Outcome o = Kiln("agent --model " + model + " --review before-run --timeout 60 'Sleep'");
  ASSERT_EQ(o.exit_code, 3) << o.out;
  const std::string id = ThreadId(o.out);
  const pid_t first = fork();
  ASSERT_GE(first, 0);
  if (first == 0) {
    setenv("KILN_HOME", dir_.c_str(), 1);
    const int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execl(kKiln.c_str(), kKiln.c_str(), "threads", "resume", id.c_str(), "--approve",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  bool claimed = false;
  for (int i = 0; i < 600 && !claimed; ++i) {
    claimed = Show(id).value("owner_pid", 0) == first;
    if (!claimed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(claimed);
  o = Kiln("threads resume " + id + " --approve");
  EXPECT_EQ(o.exit_code, 125) << o.out;
  EXPECT_NE(o.out.find("conflict: thread " + id + " is being run by process " + std::to_string(first)),
            std::string::npos)
      << o.out;
  int status = 0;
  ASSERT_EQ(waitpid(first, &status, 0), first);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  json shown = Show(id);
  EXPECT_EQ(shown["outcome"], "solved");
  EXPECT_EQ(Runs(shown)["execute"], 1);
}

TEST_F(ThreadsCli, ForkGoesBackToAnEarlierCheckpoint) {
  const std::string model = Script({Fenced("print('hello')")});
  Outcome o = Kiln("agent --model " + model + " --review after-run 'Print hello'");
  const std::string id = ThreadId(o.out);
  ASSERT_EQ(Kiln("threads resume " + id + " --approve").exit_code, 0);
  json history = KilnJson("threads history " + id + " --json");
  int64_t review = 0;
  for (const json& cp : history) {
    if (cp["status"] == "interrupted") review = cp["checkpoint"];
  }
  ASSERT_GT(review, 0) << history;
  o = Kiln("threads fork " + id + " --checkpoint " + std::to_string(review));
  ASSERT_EQ(o.exit_code, 0) << o.out;
  json shown = Show(id);
  EXPECT_EQ(shown["status"], "interrupted");  // asking again, as at that checkpoint
  o = Kiln("threads resume " + id + " --reject 'changed my mind'");
  EXPECT_EQ(o.exit_code, 4) << o.out;
  history = KilnJson("threads history " + id + " --json");
  bool forked = false;
  for (const json& cp : history) forked |= cp["parent"] == review && cp["status"] == "interrupted";
  EXPECT_TRUE(forked) << history;
  EXPECT_EQ(Kiln("threads fork " + id + " --checkpoint 999").exit_code, 125);
  EXPECT_EQ(Kiln("threads rm " + id).exit_code, 0);
  EXPECT_EQ(Kiln("threads show " + id).exit_code, 125);
}

TEST_F(ThreadsCli, ATokenBudgetStopsTheThreadAndAHigherOneResumesIt) {
  Write("model.jsonl",
        json{{"text", "print(x)"}, {"usage", {{"input_tokens", 400}, {"output_tokens", 200}}}}.dump() + "\n" +
            json{{"text", Fenced("print('ok')")}, {"usage", {{"input_tokens", 400}, {"output_tokens", 200}}}}
                .dump() +
            "\n");
  Outcome o = Kiln("agent --model script:" + Path("model.jsonl") + " --max-tokens 1000 'Print ok'");
  EXPECT_EQ(o.exit_code, 5) << o.out;
  EXPECT_NE(o.out.find("budget: 1200 tokens used, the limit is 1000"), std::string::npos) << o.out;
  const std::string id = ThreadId(o.out);
  EXPECT_EQ(Show(id)["status"], "stopped");
  o = Kiln("threads resume " + id + " --max-tokens 5000");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("solved at attempt 2"), std::string::npos) << o.out;
}

TEST_F(ThreadsCli, AReplyWithoutCodeRunsNothingAndCountsAsAnAttempt) {
  const std::string model =
      Script({"I am sorry, but I would rather not write this one.", Fenced("print('ok')")});
  Outcome o = Kiln("agent --model " + model + " 'Print ok'");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out.find("SyntaxError"), std::string::npos) << o.out;
  json r = KilnJson("agent --model " + model + " --json 'Print ok'");
  ASSERT_TRUE(r.is_object()) << r;
  EXPECT_EQ(r["attempts"], 2);
  EXPECT_EQ(r["history"][0]["verdict"]["verdict"], "no_code");
  EXPECT_TRUE(r["history"][0]["execution"].is_null());
  // The same through the workflow: the no_code step, one execution.
  const std::string model2 =
      Script({"I am sorry, but I would rather not write this one.", Fenced("print('ok')")});
  o = Kiln("agent --model " + model2 + " --review after-run 'Print ok'");
  ASSERT_EQ(o.exit_code, 3) << o.out;
  json shown = Show(ThreadId(o.out));
  EXPECT_EQ((Runs(shown)), (std::map<std::string, int>{{"generate", 2}, {"execute", 1}}));
  EXPECT_EQ(shown["state"]["attempts"][0]["verdict"]["verdict"], "no_code");
}

TEST_F(ThreadsCli, BadFlagsAreClearErrors) {
  Outcome o = Kiln("agent --model script:x --review sometimes 'x'");
  EXPECT_EQ(o.exit_code, 125) << o.out;
  o = Kiln("threads show nosuchthread");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("no thread nosuchthread"), std::string::npos) << o.out;
  const std::string model = Script({Fenced("print('hello')")});
  const std::string id = ThreadId(Kiln("agent --model " + model + " --review before-run 'x'").out);
  o = Kiln("threads resume " + id);
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("waits for a review"), std::string::npos) << o.out;
  o = Kiln("threads resume " + id + " --approve --reject no");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("give one answer"), std::string::npos) << o.out;
}

}  // namespace
