#include "kiln/template/dockerfile.h"

#include <gtest/gtest.h>

namespace kiln::tmpl {
namespace {

Dockerfile Parse(const std::string& text, const std::map<std::string, std::string>& args = {}) {
  Result<Dockerfile> d = ParseDockerfile(text, "Dockerfile", args);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : Dockerfile{};
}

std::string Error(const std::string& text) {
  Result<Dockerfile> d = ParseDockerfile(text, "Dockerfile");
  EXPECT_FALSE(d.ok()) << "parsed: " << text;
  return d.ok() ? "" : d.status().message();
}

TEST(DockerfileTest, ParsesTheSubsetWithLinesAndState) {
  Dockerfile d = Parse(
      "# a comment\n"
      "ARG SUITE=bookworm\n"
      "FROM debian:${SUITE}\n"
      "ENV A=1 B=\"two words\"\n"
      "ENV LEGACY value with spaces\n"
      "RUN apt-get update && \\\n"
      "    apt-get install -y python3\n"
      "RUN [\"/bin/echo\", \"exec form\"]\n"
      "COPY --chown=user src/ /opt/app/\n"
      "ADD data.tar.gz /srv/\n"
      "WORKDIR /opt/$A\n"
      "USER user\n"
      "# kiln: start-cmd python3 -m http.server 8000\n"
      "# kiln: ready-cmd curl -s localhost:8000\n"
      "# kiln: ready-timeout 90\n"
      "# kiln: cpu-count 2\n"
      "# kiln: memory-mb 1024\n");
  EXPECT_EQ(d.from, "debian:bookworm");
  EXPECT_EQ(d.from_line, 3);
  ASSERT_EQ(d.steps.size(), 8u);
  EXPECT_EQ(d.steps[0].op, Op::kEnv);
  EXPECT_EQ(d.steps[0].pairs[1], (std::pair<std::string, std::string>("B", "two words")));
  EXPECT_EQ(d.steps[1].pairs[0].second, "value with spaces");
  EXPECT_EQ(d.steps[2].line, 6);
  EXPECT_EQ(d.steps[2].args,
            (std::vector<std::string>{"/bin/sh", "-c", "apt-get update &&  apt-get install -y python3"}));
  EXPECT_EQ(d.steps[3].args, (std::vector<std::string>{"/bin/echo", "exec form"}));
  EXPECT_EQ(d.steps[4].line, 9);
  EXPECT_EQ(d.steps[4].chown, "user");
  EXPECT_EQ(d.steps[4].args, (std::vector<std::string>{"src/", "/opt/app/"}));
  EXPECT_EQ(d.steps[5].op, Op::kAdd);
  EXPECT_EQ(d.steps[6].args[0], "/opt/1");
  EXPECT_EQ(d.steps[7].args[0], "user");
  EXPECT_EQ(d.start_cmd, "python3 -m http.server 8000");
  EXPECT_EQ(d.ready_cmd, "curl -s localhost:8000");
  EXPECT_EQ(d.ready_timeout_s, 90);
  EXPECT_EQ(d.cpu_count, 2);
  EXPECT_EQ(d.memory_mb, 1024);
  EXPECT_EQ(DebianSuite(d.from), "bookworm");
}

TEST(DockerfileTest, BuildArgsOverrideDefaults) {
  Dockerfile d = Parse("FROM host\nARG WHO=nobody\nENV GREETING=hi-$WHO\n", {{"WHO", "kiln"}});
  EXPECT_EQ(d.steps[1].pairs[0].second, "hi-kiln");
}

TEST(DockerfileTest, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(Error("FROM host\n\nCMD [\"python3\"]\n").substr(0, 37), "Dockerfile:3: CMD is not supported (s");
  EXPECT_NE(Error("FROM host\nRUN true\nENTRYPOINT x\n").find("Dockerfile:3: ENTRYPOINT is not supported"),
            std::string::npos);
  EXPECT_NE(Error("FROM host\nEXPOSE 80\n").find("Dockerfile:2:"), std::string::npos);
  EXPECT_NE(Error("RUN true\n").find("Dockerfile:1: RUN before FROM"), std::string::npos);
  EXPECT_NE(Error("FROM host\nFROM host\n").find("Dockerfile:2: a second FROM"), std::string::npos);
  EXPECT_NE(Error("FROM ubuntu:22.04\n").find("Dockerfile:1: FROM ubuntu:22.04: expected host"),
            std::string::npos);
  EXPECT_NE(Error("FROM host\nCOPY only-one\n").find("Dockerfile:2: COPY needs a source and a destination"),
            std::string::npos);
  EXPECT_NE(Error("FROM host\nADD https://example.com/x /x\n")
                .find("Dockerfile:2: ADD https://example.com/x: only "
                      "local files"),
            std::string::npos);
  EXPECT_NE(Error("FROM host\nUSER www-data\n").find("Dockerfile:2: USER www-data"), std::string::npos);
  EXPECT_NE(Error("FROM host\nCOPY 'open /x\n").find("Dockerfile:2: unterminated ' quote"),
            std::string::npos);
  EXPECT_NE(
      Error("FROM host\n# kiln: healthcheck x\n").find("Dockerfile:2: unknown kiln directive 'healthcheck'"),
      std::string::npos);
  EXPECT_NE(
      Error("FROM host\n# kiln: cpu-count many\n").find("Dockerfile:2: cpu-count: expected a whole number"),
      std::string::npos);
  EXPECT_NE(Error("FROM host\n# kiln: ready-cmd true\n")
                .find("Dockerfile: a ready-cmd or ready-timeout needs a "
                      "start-cmd"),
            std::string::npos);
  EXPECT_NE(Error("FROM host\n# kiln: start-cmd x\n# kiln: ready-timeout 0\n")
                .find("Dockerfile:3: ready-timeout: must be between 1 and 3600"),
            std::string::npos);
  EXPECT_NE(Error("FROM host\nRUN --mount=type=cache true\n").find("Dockerfile:2: RUN flags"),
            std::string::npos);
  EXPECT_NE(Error("FROM host\nWORKDIR /a/../b\n").find("Dockerfile:2:"), std::string::npos);
  EXPECT_NE(Error("FROM host\nENV 1BAD=x\n").find("Dockerfile:2: ENV: invalid variable name"),
            std::string::npos);
  EXPECT_NE(Error("# only a comment\n").find("Dockerfile:1: no FROM"), std::string::npos);
}

TEST(DockerfileTest, ContinuationsCrlfAndCommentsInside) {
  Dockerfile d = Parse("FROM host\r\nRUN echo a \\\r\n# skipped\r\n  b\r\n\r\nENV X=1\r\n");
  ASSERT_EQ(d.steps.size(), 2u);
  EXPECT_EQ(d.steps[0].args[2], "echo a  b");
  EXPECT_EQ(d.steps[1].line, 6);
}

TEST(DockerfileTest, Substitute) {
  std::map<std::string, std::string> vars = {{"A", "x"}, {"LONG_NAME", "y"}};
  EXPECT_EQ(Substitute("$A/${LONG_NAME}/$MISSING/\\$A/$", vars), "x/y//$A/$");
  EXPECT_EQ(Substitute("${A", vars), "${A");
}

TEST(DockerfileTest, DebianSuites) {
  EXPECT_EQ(DebianSuite("bookworm"), "bookworm");
  EXPECT_EQ(DebianSuite("debian:12"), "bookworm");
  EXPECT_EQ(DebianSuite("debian:trixie"), "trixie");
  EXPECT_FALSE(DebianSuite("12"));
  EXPECT_FALSE(DebianSuite("ubuntu:jammy"));
}

}  // namespace
}  // namespace kiln::tmpl
