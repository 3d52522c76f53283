// Black-box tests of the `kiln` binary: what a user types, what they see, which exit code they get.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shell_test_util.h"

namespace {

using kiln::cli::testing::Outcome;
using kiln::cli::testing::Shell;

const std::string kKiln = KILN_BINARY;

TEST(KilnRunCli, StreamsOutputAndReturnsExitCode) {
  Outcome o = Shell(kKiln + " run -c 'import sys; print(\"out\"); sys.exit(4)' 2>&1");
  EXPECT_EQ(o.exit_code, 4);
  EXPECT_EQ(o.out, "out\n");
}

// `kiln run --template` starts the template's start command and runs the program only once its ready
// command passes: the start command writes its file after a pause, so a program started at once would not
// see it. A ready command that never passes: exit 125, a message naming it, and the program never runs.
TEST(KilnRunCli, TemplateStartCommandIsReadyBeforeTheProgram) {
  if (geteuid() != 0) GTEST_SKIP() << "template builds need root";
  char dir[] = "/tmp/kiln-run-template-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string home = std::string(dir), env = "KILN_HOME=" + home + " ";
  Shell(
      "printf 'FROM host\\n# kiln: start-cmd sleep 0.5; echo up > /tmp/started\\n# kiln: ready-cmd test -f "
      "/tmp/started\\n' > " +
      home +
      "/Dockerfile.ok && printf 'FROM host\\n# kiln: start-cmd echo starting\\n"
      "# kiln: ready-cmd echo not yet; false\\n# kiln: ready-timeout 1\\n' > " +
      home + "/Dockerfile.never");
  for (const char* name : {"ok", "never"}) {
    Outcome built =
        Shell(env + kKiln + " template build " + name + " -f " + home + "/Dockerfile." + name + " 2>&1");
    ASSERT_EQ(built.exit_code, 0) << built.out;
  }
  Outcome o = Shell(env + kKiln + " run --template ok --lang sh -c 'cat /tmp/started' 2>&1");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "up\n");
  o = Shell(env + kKiln + " run --template never --lang sh -c 'echo program ran' 2>&1");
  EXPECT_EQ(o.exit_code, 125) << o.out;
  EXPECT_EQ(o.out.find("program ran"), std::string::npos) << o.out;
  EXPECT_NE(
      o.out.find("template 'never': the sandbox was not ready within 1 s: the ready command `echo not yet; "
                 "false` never exited 0 (its output: not yet"),
      std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("printed: starting"), std::string::npos) << o.out;
  Shell("rm -rf " + home);
}

TEST(KilnRunCli, JsonReportsEveryField) {
  Outcome o = Shell(kKiln + " run --json --timeout 1 -c 'print(1)\nwhile True: pass' 2>/dev/null");
  nlohmann::json j = nlohmann::json::parse(o.out);
  EXPECT_TRUE(j["timed_out"].get<bool>());
  EXPECT_EQ(j["stdout"], "1\n");
  for (const char* key :
       {"exit_code", "stdout", "stderr", "duration_ms", "timed_out", "oom_killed", "truncated"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_NE(o.exit_code, 0);
}

// A flood on stderr alone is cut at the per-stream cap (16 MiB) and reported, like one on stdout.
TEST(KilnRunCli, StderrFloodIsCappedAndReported) {
  Outcome o = Shell(kKiln +
                    " run --json -c 'import sys\nfor _ in range(40): sys.stderr.write(\"e\" * (1 << 20))' "
                    "2>/dev/null");
  nlohmann::json j = nlohmann::json::parse(o.out);
  EXPECT_TRUE(j["truncated"].get<bool>());
  EXPECT_EQ(j["stderr"].get<std::string>().size(), 16u << 20);
  EXPECT_EQ(j["exit_code"], 0);
}

TEST(KilnRunCli, ArgumentsStdinAndEnvReachTheProgram) {
  Outcome o = Shell(
      "echo piped | " + kKiln +
      " run --stdin - --env GREETING=hi -c 'import os, sys; print(os.environ[\"GREETING\"], sys.argv[1:], "
      "sys.stdin.read().strip())' -- a 'b c' 2>&1");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, "hi ['a', 'b c'] piped\n");
}

TEST(KilnRunCli, OtherLanguagesByFlagAndExtension) {
  EXPECT_EQ(Shell(kKiln + " run --lang bash -c 'echo $((6*7))'").out, "42\n");
  EXPECT_EQ(Shell(kKiln + " run --lang node -c 'console.log(6*7)'").out, "42\n");
  std::string file = testing::TempDir() + "/kiln_cli_test.sh";
  FILE* f = fopen(file.c_str(), "w");
  fputs("echo from-file\n", f);
  fclose(f);
  EXPECT_EQ(Shell(kKiln + " run " + file).out, "from-file\n");
}

TEST(KilnRunCli, KilnErrorsExit125AndNameTheCause) {
  Outcome o = Shell(kKiln + " run --lang cobol -c x 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("unknown language 'cobol'"), std::string::npos) << o.out;
  o = Shell(kKiln + " run /nonexistent/file.py 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("/nonexistent/file.py"), std::string::npos) << o.out;
  o = Shell(kKiln + " run --memory 1 -c 'print(1)' 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("limits.memory_bytes"), std::string::npos) << o.out;
  o = Shell("KILN_ENVD=/nonexistent " + kKiln + " run -c 'print(1)' 2>&1");
  EXPECT_EQ(o.exit_code, 0) << o.out;  // falls back to the kiln-envd next to kiln
  o = Shell(kKiln + " run --env NOEQUALS -c 'print(1)' 2>&1");
  EXPECT_EQ(o.exit_code, 125);
}

TEST(KilnRunCli, WorksForAnUnprivilegedUserAndSaysWhatItCannotLimit) {
  if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs root and setpriv";
  std::string as_nobody =
      "cd / && env -u XDG_RUNTIME_DIR setpriv --reuid=65534 --regid=65534 --clear-groups ";
  if (Shell(as_nobody + "test -x " + kKiln).exit_code != 0)
    GTEST_SKIP() << "the build tree is not reachable by nobody";
  Outcome o = Shell(as_nobody + kKiln +
                    " run -c 'import os; print(os.getuid(), sorted(os.listdir(\"/home\")))' 2>&1");
  if (o.out.find("cannot create the sandbox's namespaces") != std::string::npos) {
    GTEST_SKIP() << "unprivileged user namespaces are disabled here";
  }
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("1000 ['user']"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("cgroup limits (memory, pids, CPU) are not applied"), std::string::npos) << o.out;
  // The fork-bomb bound still holds without cgroups (RLIMIT_NPROC per user namespace).
  o = Shell(as_nobody + kKiln +
            " run --timeout 3 --lang bash -c 'bomb() { bomb | bomb & }; bomb; sleep 1; echo alive' 2>&1");
  EXPECT_NE(o.exit_code, 125) << o.out;
}

// Polls `done` every 20 ms for up to `ms`.
bool Eventually(int ms, const std::function<bool()>& done) {
  for (int waited = 0; waited < ms; waited += 20) {
    if (done()) return true;
    usleep(20'000);
  }
  return done();
}

// A one-shot run belongs to the kiln process that started it: SIGKILL kiln (no cleanup code runs) and
// the sandbox, with everything in it, goes too.
TEST(KilnRunCli, KilledKilnTakesItsSandboxWithIt) {
  const std::string sleeper = "sleep 300." + std::to_string(getpid());
  pid_t kiln = fork();
  ASSERT_GE(kiln, 0);
  if (kiln == 0) {
    execl(kKiln.c_str(), "kiln", "run", "--lang", "sh", "-c", sleeper.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto sleeper_alive = [&] { return Shell("pgrep -xf '" + sleeper + "' >/dev/null").exit_code == 0; };
  EXPECT_TRUE(Eventually(10'000, sleeper_alive)) << "the sandboxed program never started";
  kill(kiln, SIGKILL);
  waitpid(kiln, nullptr, 0);
  EXPECT_TRUE(Eventually(5'000, [&] { return !sleeper_alive(); })) << "the sandbox outlived kiln";
}

TEST(KilnCli, VersionNamesTheReleaseAndTheCommit) {
  Outcome o = Shell(kKiln + " --version 2>&1");
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out.rfind("kiln 0.", 0), 0u) << o.out;
  EXPECT_NE(o.out.find("(commit "), std::string::npos) << o.out;
}

TEST(KilnCli, AnUnknownCommandIsNamedWithTheClosestOne) {
  Outcome o = Shell(kKiln + " frobnicate 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("unknown command 'frobnicate'"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("A subcommand is required"), std::string::npos) << o.out;
  o = Shell(kKiln + " runn -c 'print(1)' 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("did you mean 'run'?"), std::string::npos) << o.out;
}

// --help after a command that does not exist must not print the top-level help and succeed.
TEST(KilnCli, HelpOfAnUnknownCommandIsAnError) {
  Outcome o = Shell(kKiln + " frobnicate build --help 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("unknown command 'frobnicate'"), std::string::npos) << o.out;
  o = Shell(kKiln + " notebook frob 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("kiln notebook: unknown command 'frob'"), std::string::npos) << o.out;
}

TEST(KilnCli, AnUnknownOptionIsNamedWithTheClosestOne) {
  Outcome o = Shell(kKiln + " run --langg bash -c 'echo hi' 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("kiln run: unknown option '--langg' (did you mean '--lang'?)"), std::string::npos)
      << o.out;
}

// `kiln` runs `kiln run` itself and becomes kiln-commands for the rest: the full command set, and a clear
// error when kiln-commands is missing.
TEST(KilnCli, TheFrontHandsEveryOtherCommandToKilnCommands) {
  Outcome o = Shell(kKiln + " --help 2>&1");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  for (const char* command : {"run", "serve", "template", "agent"})
    EXPECT_NE(o.out.find(command), std::string::npos) << command << " missing from\n" << o.out;
  std::string alone = ::testing::TempDir() + "kiln-front-alone";
  ASSERT_EQ(Shell("rm -rf " + alone + " && mkdir -p " + alone + " && cp " + kKiln + " " + alone).exit_code,
            0);
  o = Shell("env -u KILN_COMMANDS " + alone + "/kiln doctor 2>&1");
  EXPECT_EQ(o.exit_code, 125);
  EXPECT_NE(o.out.find("cannot start kiln-commands"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(alone + "/kiln-commands"), std::string::npos) << o.out;
  o = Shell("KILN_COMMANDS=" + std::string(KILN_COMMANDS_BINARY) + " " + alone + "/kiln --version 2>&1");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out.rfind("kiln 0.", 0), 0u) << o.out;
  Shell("rm -rf " + alone);
}

}  // namespace
