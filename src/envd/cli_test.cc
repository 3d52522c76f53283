#include "kiln/envd/cli.h"

#include <gtest/gtest.h>

namespace kiln::envd {
namespace {

TEST(CommandLineTest, Serve) {
  auto cl = ParseCommandLine({"serve", "--listen-fd", "3", "--root=/tmp/r", "--default-user", "bob", "--env",
                              "A=1", "--env=B=x=y", "--access-token", "t", "--workdir", "/w"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->mode, CommandLine::Mode::kServe);
  EXPECT_EQ(cl->serve.listen_fd, 3);
  const EnvdConfig& c = cl->serve.config;
  EXPECT_EQ(c.root_dir, "/tmp/r");
  EXPECT_EQ(c.default_user, "bob");
  EXPECT_EQ(*c.workdir, "/w");
  EXPECT_EQ(c.access_token, "t");
  ASSERT_EQ(c.env.size(), 2u);
  EXPECT_EQ(c.env[1], std::make_pair(std::string("B"), std::string("x=y")));
}

TEST(CommandLineTest, ServeDefaults) {
  auto cl = ParseCommandLine({"serve", "--listen", "/tmp/s.sock"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->serve.listen_path, "/tmp/s.sock");
  EXPECT_EQ(cl->serve.config.root_dir, "/");
  EXPECT_EQ(cl->serve.config.default_user, "user");
  EXPECT_FALSE(cl->serve.config.workdir);
  EXPECT_EQ(cl->serve.config.kernel_bridge, "");
  auto bridged = ParseCommandLine({"serve", "--listen-fd", "3", "--kernel-bridge", "/opt/kiln/bin/b"});
  ASSERT_TRUE(bridged.ok());
  EXPECT_EQ(bridged->serve.config.kernel_bridge, "/opt/kiln/bin/b");
}

TEST(CommandLineTest, ServeLimits) {
  auto cl =
      ParseCommandLine({"serve", "--listen-fd", "3", "--max-request-kib", "512", "--max-connections=9"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->serve.config.max_request_body_bytes, 512u * 1024);
  EXPECT_EQ(cl->serve.config.max_connections, 9u);
  auto defaults = ParseCommandLine({"serve", "--listen-fd", "3"});
  EXPECT_EQ(defaults->serve.config.max_request_body_bytes, 4u << 20);
  for (const char* bad : {"0", "-1", "x", "12k", "99999999999999999"})
    EXPECT_FALSE(ParseCommandLine({"serve", "--listen-fd", "3", "--max-connections", bad}).ok()) << bad;
}

TEST(CommandLineTest, Exec) {
  auto cl = ParseCommandLine({"exec", "--user", "root", "--status-fd", "4", "--", "ls", "--all", "-l"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->mode, CommandLine::Mode::kExec);
  EXPECT_EQ(*cl->exec.user, "root");
  EXPECT_EQ(cl->exec.status_fd, 4);
  EXPECT_EQ(cl->exec.argv, (std::vector<std::string>{"ls", "--all", "-l"}));
}

TEST(CommandLineTest, Errors) {
  EXPECT_FALSE(ParseCommandLine({}).ok());
  EXPECT_FALSE(ParseCommandLine({"bogus"}).ok());
  EXPECT_FALSE(ParseCommandLine({"serve"}).ok());  // no listener
  EXPECT_FALSE(ParseCommandLine({"serve", "--listen-fd", "3", "--listen", "/x"}).ok());
  EXPECT_FALSE(ParseCommandLine({"serve", "--listen-fd", "x"}).ok());
  EXPECT_FALSE(ParseCommandLine({"serve", "--listen-fd"}).ok());
  EXPECT_FALSE(ParseCommandLine({"serve", "--listen-fd", "3", "--nope", "1"}).ok());
  EXPECT_FALSE(ParseCommandLine({"serve", "--listen-fd", "3", "--env", "NOEQUALS"}).ok());
  EXPECT_FALSE(ParseCommandLine({"exec", "ls"}).ok());  // no --
  EXPECT_FALSE(ParseCommandLine({"exec", "--"}).ok());  // no program
}

}  // namespace
}  // namespace kiln::envd
