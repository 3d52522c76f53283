// `kiln chat` on the built binary, driven through pipes with the scripted model (script:FILE) and real
// sandboxes: a tool round trip, a session continued in a second run (history and files), Ctrl-C during an
// answer and during a running tool call, Markdown on a terminal, and the stop signals taking the sandbox
// down.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

const std::string kKiln = KILN_BINARY;

std::string TempDir() {
  std::string dir = testing::TempDir() + "/kiln-chat-cli-XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

// A running `kiln chat` with KILN_HOME set, its stdin and merged stdout/stderr on pipes.
class ChatProcess {
 public:
  ChatProcess(const std::string& home, std::vector<std::string> args, const std::string& trace_file = "") {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      setenv("KILN_HOME", home.c_str(), 1);
      unsetenv("KILN_MODEL");
      if (!trace_file.empty()) setenv("KILN_TRACE_FILE", trace_file.c_str(), 1);
      std::vector<char*> argv = {const_cast<char*>("kiln"), const_cast<char*>("chat")};
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(kKiln.c_str(), argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    input_ = in[1];
    output_ = out[0];
  }
  ~ChatProcess() {
    CloseInput();
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (output_ >= 0) close(output_);
  }

  void Send(const std::string& text) {
    ASSERT_EQ(write(input_, text.data(), text.size()), ssize_t(text.size()));
  }
  void CloseInput() {
    if (input_ >= 0) close(input_);
    input_ = -1;
  }
  // Reads until `marker` is in the output (true) or 120 s pass / the output ends (false).
  bool WaitFor(const std::string& marker) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (output_seen_.find(marker) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline || ReadSome(1000) == Read::kEnd) return false;
    }
    return true;
  }
  // Reads to the end and returns the exit code (-1: not a normal exit).
  int Finish() {
    while (ReadSome(120'000) == Read::kData) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void Signal(int sig) { kill(pid_, sig); }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_seen_; }

 private:
  enum class Read { kData, kQuiet, kEnd };
  // kQuiet: nothing within `timeout_ms`; kEnd: the output is closed.
  Read ReadSome(int timeout_ms) {
    pollfd p{output_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return Read::kQuiet;
    char buf[4096];
    ssize_t n = read(output_, buf, sizeof buf);
    if (n <= 0) return Read::kEnd;
    output_seen_.append(buf, size_t(n));
    return Read::kData;
  }

  pid_t pid_ = -1;
  int input_ = -1, output_ = -1;
  bool waited_ = false;
  std::string output_seen_;
};

std::string WriteScript(const std::string& dir, const std::string& name, const std::string& lines) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << lines;
  return "script:" + path;
}

// The kiln-envd processes whose parent is `parent`.
std::vector<pid_t> EnvdChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line) || line.find("(kiln-envd)") == std::string::npos) continue;
    char state;
    int ppid = 0;
    if (std::sscanf(line.c_str() + line.rfind(')') + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
      out.push_back(pid_t(std::atoi(entry.path().filename().c_str())));
  }
  return out;
}

bool Gone(pid_t pid) {
  for (int i = 0; i < 500; ++i, usleep(10'000))
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  return false;
}

TEST(ChatCli, ToolRoundTripThenTheSessionContinuesWithItsHistoryAndFiles) {
  std::string dir = TempDir();
  std::string first = WriteScript(
      dir, "first.jsonl",
      R"js({"text": "Let me compute.", "tool_calls": [{"id": "c1", "name": "run_python", "arguments": {"code": "open('/home/user/notes.txt', 'w').write('kept across runs')\nanswer = 40 + 2\nprint(answer)"}}], "usage": {"input_tokens": 120, "output_tokens": 30}}
{"text": "The answer is 42.", "usage": {"input_tokens": 160, "output_tokens": 8}}
)js");
  ChatProcess run1(dir, {"--session", "data", "--model", first}, dir + "/trace.jsonl");
  run1.Send("what is 40 + 2?\n");
  run1.CloseInput();
  EXPECT_EQ(run1.Finish(), 0) << run1.output();
  const std::string& out1 = run1.output();
  EXPECT_NE(out1.find("Let me compute."), std::string::npos) << out1;
  EXPECT_NE(out1.find("[run_python] {\"code\""), std::string::npos) << out1;
  EXPECT_NE(out1.find("[result] [stdout] 42"), std::string::npos) << out1;
  EXPECT_NE(out1.find("The answer is 42."), std::string::npos) << out1;
  EXPECT_NE(out1.find("2 model calls, 280 input and 38 output tokens"), std::string::npos) << out1;

  std::ifstream trace_in(dir + "/trace.jsonl");
  std::string trace((std::istreambuf_iterator<char>(trace_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(trace.find("\"invoke_agent kiln-chat\""), std::string::npos) << trace;
  EXPECT_NE(trace.find("\"execute_tool run_python\""), std::string::npos) << trace;
  EXPECT_NE(trace.find("\"gen_ai.conversation.id\""), std::string::npos) << trace;

  // The second run has a new sandbox: the file comes back, the variable does not.
  std::string second = WriteScript(
      dir, "second.jsonl",
      R"js({"tool_calls": [{"id": "c2", "name": "run_python", "arguments": {"code": "print(open('/home/user/notes.txt').read())\nprint('answer' in globals())"}}]}
{"text": "The file is still there."}
)js");
  ChatProcess run2(dir, {"--session", "data", "--model", second});
  run2.Send("is my file still there?\n");
  run2.CloseInput();
  EXPECT_EQ(run2.Finish(), 0) << run2.output();
  EXPECT_NE(run2.output().find("[result] [stdout] kept across runs False"), std::string::npos)
      << run2.output();
  EXPECT_NE(run2.output().find("The file is still there."), std::string::npos) << run2.output();

  ChatProcess list(dir, {"--list"});
  list.CloseInput();
  EXPECT_EQ(list.Finish(), 0);
  // run 1: line, call, result, answer; run 2: the new-sandbox note, line, call, result, answer.
  EXPECT_NE(list.output().find("data "), std::string::npos) << list.output();
  EXPECT_NE(list.output().find(" 9 "), std::string::npos) << list.output();

  ChatProcess rm(dir, {"--rm", "data"});
  EXPECT_EQ(rm.Finish(), 0);
  ChatProcess rm_again(dir, {"--rm", "data"});
  EXPECT_EQ(rm_again.Finish(), 125);
  EXPECT_NE(rm_again.output().find("no chat session named 'data'"), std::string::npos) << rm_again.output();
}

// Ctrl-C during a running tool call stops that call: a Python cell is interrupted (its context and
// variables stay), a process is killed (it is gone from the sandbox), the model is told the user stopped
// it, later calls of the answer do not run, and the session goes on. The sleeps outlast the tools' 60 s
// timeout, so a stop by the timeout would say "timed out" instead.
TEST(ChatCli, CtrlCStopsTheRunningToolCallButNotTheSession) {
  std::string dir = TempDir();
  std::string script =
      WriteScript(dir, "s.jsonl",
                  R"js({"tool_calls": [{"id": "c1", "name": "run_python", "arguments": {"code": "x = 41"}}]}
{"tool_calls": [{"id": "c2", "name": "run_python", "arguments": {"code": "import time\ntime.sleep(600)"}}]}
{"tool_calls": [ {"id": "c3", "name": "run_shell", "arguments": {"command": "sleep 600; echo slept"}}, {"id": "c4", "name": "run_shell", "arguments": {"command": "echo never"}}]}
{"tool_calls": [ {"id": "c5", "name": "run_shell", "arguments": {"command": "echo sleeping: $(for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep -c '^sleep 600')"}}, {"id": "c6", "name": "run_python", "arguments": {"code": "print(x + 1)"}}]}
{"text": "Stopped as you asked."}
)js");
  ChatProcess chat(dir, {"--model", script, "--session", "ctrlc"});
  chat.Send("sleep in python\n");
  ASSERT_TRUE(chat.WaitFor("[run_python] {\"code\":\"import time")) << chat.output();
  chat.Signal(SIGINT);
  ASSERT_TRUE(chat.WaitFor("[error] run_python: stopped by the user")) << chat.output();
  ASSERT_TRUE(chat.WaitFor("[interrupted]")) << chat.output();

  chat.Send("sleep in the shell\n");
  ASSERT_TRUE(chat.WaitFor("[run_shell] {\"command\":\"sleep 600")) << chat.output();
  chat.Signal(SIGINT);
  ASSERT_TRUE(chat.WaitFor("[error] run_shell: stopped by the user")) << chat.output();

  chat.Send("is it gone?\n");
  ASSERT_TRUE(chat.WaitFor("Stopped as you asked.")) << chat.output();
  chat.CloseInput();
  EXPECT_EQ(chat.Finish(), 0) << chat.output();
  const std::string& out = chat.output();
  EXPECT_EQ(out.find("timed out"), std::string::npos) << out;
  EXPECT_EQ(out.find("echo never"), std::string::npos) << "the call after the stopped one ran: " << out;
  EXPECT_NE(out.find("sleeping: 0"), std::string::npos) << "the killed process is still running: " << out;
  EXPECT_NE(out.find("[stdout] 42"), std::string::npos) << "the interrupted cell lost the context: " << out;
}

// Whether the terminal behind pty `master` is out of canonical mode (termios calls on a pty's master act on
// its slave), as libedit puts it while it reads a line.
bool LineEditorHasTheTerminal(int master) {
  termios t{};
  return tcgetattr(master, &t) == 0 && (t.c_lflag & ICANON) == 0;
}

// `kiln chat ARGS` on a pseudo-terminal with `extra_env` set: types `line` at the prompt, waits for
// `answered` to appear, then Ctrl-D; everything it wrote there.
std::string RunOnTerminal(const std::string& home, std::vector<std::string> args,
                          const std::vector<std::pair<std::string, std::string>>& extra_env,
                          const std::string& line, const std::string& answered) {
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    setenv("KILN_HOME", home.c_str(), 1);
    setenv("HOME", home.c_str(), 1);  // the line editor's history file
    setenv("TERM", "xterm", 1);
    unsetenv("NO_COLOR");
    for (const auto& [name, value] : extra_env) setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv = {const_cast<char*>("kiln"), const_cast<char*>("chat")};
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kKiln.c_str(), argv.data());
    _exit(127);
  }
  EXPECT_GT(pid, 0);
  if (pid <= 0) return "";
  std::string seen;
  bool typed = false, ended = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      char buf[4096];
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break;  // EIO: the terminal's last user is gone
      seen.append(buf, size_t(n));
    }
    // Keys go in only once the line editor has the terminal: libedit prints its prompt before it leaves
    // canonical mode, and a Ctrl-D that lands in between is taken by the kernel (then read as a NUL).
    if (!typed && seen.find("you> ") != std::string::npos && LineEditorHasTheTerminal(master)) {
      typed = true;
      EXPECT_EQ(write(master, line.data(), line.size()), ssize_t(line.size()));
    }
    // Ctrl-D at the prompt after the answer.
    size_t answer = seen.find(answered);
    if (!ended && answer != std::string::npos && seen.find("you> ", answer) != std::string::npos &&
        LineEditorHasTheTerminal(master)) {
      ended = true;
      EXPECT_EQ(write(master, "\x04", 1), 1);
    }
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << seen;
  return seen;
}

// On a terminal the answer is rendered from Markdown; with NO_COLOR (and through a pipe, as in every other
// test here) it is printed as the model wrote it.
TEST(ChatCli, AnswersAreStyledOnATerminalUnlessNoColor) {
  std::string dir = TempDir();
  std::string script =
      WriteScript(dir, "s.jsonl", R"js({"text": "# Report\nThe **mean** is `3.5`.\n- one item\n"}
{"text": "# Report\nThe **mean** is `3.5`.\n- one item\n"}
)js");
  std::string styled =
      RunOnTerminal(dir, {"--model", script, "--session", "md"}, {}, "describe it\n", "one item");
  EXPECT_NE(styled.find("\x1b[1m\x1b[4mReport\x1b[0m"), std::string::npos) << styled;
  EXPECT_NE(styled.find("The \x1b[1mmean\x1b[22m is \x1b[36m3.5\x1b[39m."), std::string::npos) << styled;
  EXPECT_NE(styled.find("\u2022 one item"), std::string::npos) << styled;
  EXPECT_EQ(styled.find("**mean**"), std::string::npos) << styled;

  std::string plain =
      RunOnTerminal(dir, {"--model", script, "--session", "md"}, {{"NO_COLOR", "1"}}, "again\n", "one item");
  EXPECT_NE(plain.find("# Report"), std::string::npos) << plain;
  EXPECT_NE(plain.find("The **mean** is `3.5`."), std::string::npos) << plain;
  EXPECT_EQ(plain.find("\x1b[1mmean"), std::string::npos) << plain;
}

class ChatStopSignal : public testing::TestWithParam<int> {};

TEST_P(ChatStopSignal, TakesTheSandboxDown) {
  std::string dir = TempDir();
  std::string script = WriteScript(
      dir, "s.jsonl",
      R"js({"tool_calls": [{"id": "c1", "name": "run_python", "arguments": {"code": "import time\ntime.sleep(60)"}}]}
)js");
  ChatProcess chat(dir, {"--model", script});
  chat.Send("sleep\n");
  ASSERT_TRUE(chat.WaitFor("[run_python]")) << chat.output();
  std::vector<pid_t> envd;
  for (int i = 0; i < 500 && envd.empty(); ++i, usleep(10'000)) envd = EnvdChildrenOf(chat.pid());
  ASSERT_EQ(envd.size(), 1u);
  chat.Signal(GetParam());
  EXPECT_EQ(chat.Finish(), 128 + GetParam()) << chat.output();
  EXPECT_TRUE(Gone(envd[0])) << "kiln-envd outlived kiln chat";
}

INSTANTIATE_TEST_SUITE_P(Signals, ChatStopSignal, testing::Values(SIGTERM, SIGHUP),
                         [](const testing::TestParamInfo<int>& info) {
                           return std::string(sigabbrev_np(info.param));
                         });

TEST(ChatCli, NoModelIsAClearError) {
  std::string dir = TempDir();
  ChatProcess chat(dir, {});
  chat.CloseInput();
  EXPECT_EQ(chat.Finish(), 125);
  EXPECT_NE(chat.output().find("no model: give --model"), std::string::npos) << chat.output();
}

}  // namespace
