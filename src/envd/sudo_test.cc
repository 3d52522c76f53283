// The pure parts of sudo: option parsing, the wire format and the environment policy.
#include "kiln/envd/sudo.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kiln/envd/spawn.h"

namespace kiln::envd {
namespace {

SudoInvocation Parse(std::vector<std::string> args) {
  Result<SudoInvocation> r = ParseSudoArgs(args);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SudoInvocation{};
}

TEST(SudoArgsTest, CommandAfterOptions) {
  SudoInvocation inv = Parse({"-n", "-u", "user", "--", "-x", "y"});
  EXPECT_EQ(inv.user, "user");
  EXPECT_TRUE(inv.non_interactive);
  EXPECT_EQ(inv.command, (std::vector<std::string>{"-x", "y"}));
  EXPECT_EQ(Parse({"-uuser", "id"}).user, "user");
  EXPECT_EQ(Parse({"--user=bob", "id"}).user, "bob");
  EXPECT_EQ(Parse({"--user", "bob", "id"}).user, "bob");
  EXPECT_EQ(Parse({"id", "-u"}).command,
            (std::vector<std::string>{"id", "-u"}));  // options end at the command
}

TEST(SudoArgsTest, FlagsAndBundles) {
  SudoInvocation inv = Parse({"-nEi"});
  EXPECT_TRUE(inv.non_interactive && inv.preserve_env && inv.login);
  EXPECT_TRUE(Parse({"-s"}).shell);
  EXPECT_EQ(Parse({"--preserve-env=A,B", "env"}).preserve_vars, (std::vector<std::string>{"A", "B"}));
  EXPECT_TRUE(Parse({"--preserve-env", "env"}).preserve_env);
  EXPECT_EQ(Parse({"-v"}).action, SudoInvocation::Action::kNothing);
  EXPECT_EQ(Parse({"-k"}).action, SudoInvocation::Action::kNothing);
  EXPECT_EQ(Parse({"-k", "id"}).action, SudoInvocation::Action::kRun);
  EXPECT_EQ(Parse({"-h"}).action, SudoInvocation::Action::kHelp);
}

TEST(SudoArgsTest, AssignmentsBeforeTheCommand) {
  SudoInvocation inv = Parse({"A=1", "B_2=x=y", "env", "C=3"});
  EXPECT_EQ(inv.assignments, (EnvList{{"A", "1"}, {"B_2", "x=y"}}));
  EXPECT_EQ(inv.command, (std::vector<std::string>{"env", "C=3"}));
  EXPECT_EQ(Parse({"=x", "env"}).command[0], "=x");  // not a NAME=value
}

TEST(SudoArgsTest, ErrorsNameTheProblem) {
  EXPECT_EQ(ParseSudoArgs({}).status().message(), "a command is required");
  EXPECT_EQ(ParseSudoArgs({"-n"}).status().message(), "a command is required");
  EXPECT_EQ(ParseSudoArgs({"-Z", "id"}).status().message(), "invalid option -- 'Z'");
  EXPECT_EQ(ParseSudoArgs({"--frobnicate", "id"}).status().message(), "unrecognized option '--frobnicate'");
  EXPECT_EQ(ParseSudoArgs({"-u"}).status().message(), "option requires an argument -- 'u'");
  EXPECT_EQ(ParseSudoArgs({"--login=x"}).status().message(), "option '--login' takes no value");
}

TEST(SudoWireTest, RequestRoundTrips) {
  SudoRequest r;
  r.invocation = Parse({"-E", "-u", "user", "A=1", "printf", "%s\n", "x y"});
  r.env = {{"TERM", "xterm"}, {"X", "a=b"}};
  Result<SudoRequest> back = ParseSudoRequest(EncodeSudoRequest(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->invocation.command, r.invocation.command);
  EXPECT_EQ(back->invocation.assignments, r.invocation.assignments);
  EXPECT_EQ(back->invocation.user, "user");
  EXPECT_TRUE(back->invocation.preserve_env);
  EXPECT_EQ(back->env, r.env);
}

TEST(SudoWireTest, BadRequestsAreRefused) {
  EXPECT_FALSE(ParseSudoRequest("not json").ok());
  EXPECT_FALSE(ParseSudoRequest("[1]").ok());
  EXPECT_EQ(ParseSudoRequest(R"({"argv":[]})").status().message(),
            "argv is empty and neither login nor shell is set");
  EXPECT_FALSE(ParseSudoRequest(R"({"argv":"id"})").ok());
  EXPECT_FALSE(ParseSudoRequest(R"({"argv":["id"],"env":["NOEQUALS"]})").ok());
  EXPECT_FALSE(ParseSudoRequest(std::string(kMaxSudoRequestBytes + 1, ' ')).ok());
  Result<SudoReply> reply = ParseSudoReply(EncodeSudoReply({7, 0, std::nullopt}));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->exit_code, 7);
}

std::vector<std::string> EnvOf(const std::vector<std::string>& args, const EnvList& caller_env) {
  SudoRequest r{Parse(args), caller_env};
  UserInfo root{"root", 0, 0, "/root", "/bin/bash"};
  UserInfo user{"user", 1000, 1000, "/home/user", "/bin/bash"};
  return BuildSudoCommand(r, r.invocation.user == "user" ? user : root, user).env;
}

bool Has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

TEST(SudoEnvTest, EnvResetKeepsTheTerminalAndDropsTheRest) {
  std::vector<std::string> env =
      EnvOf({"env"}, {{"TERM", "xterm"}, {"X", "1"}, {"PATH", "/evil"}, {"HOME", "/h"}});
  EXPECT_TRUE(Has(env, "TERM=xterm"));
  EXPECT_FALSE(Has(env, "X=1"));
  EXPECT_TRUE(Has(env, std::string("PATH=") + kDefaultPath));
  EXPECT_TRUE(Has(env, "HOME=/root"));
  EXPECT_TRUE(Has(env, "USER=root"));
  EXPECT_TRUE(Has(env, "LOGNAME=root"));
  EXPECT_TRUE(Has(env, "SUDO_USER=user"));
  EXPECT_TRUE(Has(env, "SUDO_UID=1000"));
  EXPECT_TRUE(Has(env, "SUDO_GID=1000"));
  EXPECT_TRUE(Has(env, "SUDO_COMMAND=env"));
}

TEST(SudoEnvTest, PreserveEnvAndAssignments) {
  EXPECT_TRUE(Has(EnvOf({"-E", "env"}, {{"X", "1"}}), "X=1"));
  EXPECT_TRUE(Has(EnvOf({"--preserve-env=X", "env"}, {{"X", "1"}, {"Y", "2"}}), "X=1"));
  EXPECT_FALSE(Has(EnvOf({"--preserve-env=X", "env"}, {{"X", "1"}, {"Y", "2"}}), "Y=2"));
  EXPECT_TRUE(Has(EnvOf({"X=2", "env"}, {{"X", "1"}}), "X=2"));
  EXPECT_TRUE(Has(EnvOf({"-u", "user", "env"}, {}), "HOME=/home/user"));
}

TEST(SudoEnvTest, LoginAndShellCommands) {
  SudoRequest r{Parse({"-i"}), {{"SHELL", "/bin/zsh"}}};
  UserInfo root{"root", 0, 0, "/root", "/bin/bash"};
  SudoCommand login = BuildSudoCommand(r, root, root);
  EXPECT_EQ(login.program, "/bin/bash");
  EXPECT_EQ(login.argv, (std::vector<std::string>{"-bash"}));
  EXPECT_TRUE(login.in_home);
  r.invocation = Parse({"-s", "echo", "it's"});
  SudoCommand shell = BuildSudoCommand(r, root, root);
  EXPECT_EQ(shell.program, "/bin/zsh");  // -s runs the caller's $SHELL
  EXPECT_EQ(shell.argv, (std::vector<std::string>{"zsh", "-c", "'echo' 'it'\\''s'"}));
  EXPECT_FALSE(shell.in_home);
}

}  // namespace
}  // namespace kiln::envd
