// Builds real templates (FROM host: no mirror, seconds) and runs real sandboxes on them. Needs root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/runtime/run.h"
#include "kiln/template/builder.h"

namespace kiln::tmpl {
namespace {
namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Count(const std::string& text, const std::string& word) {
  int n = 0;
  for (size_t p = text.find(word); p != std::string::npos; p = text.find(word, p + 1)) ++n;
  return n;
}

class TemplateBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "template builds need root";
    char dir[] = "/tmp/kiln-template-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    home_ = dir_ + "/home";
    context_ = dir_ + "/context";
    fs::create_directories(context_ + "/app");
    std::ofstream(context_ + "/app/hello.py") << "print('hello from the template')\n";
    std::ofstream(context_ + "/data.txt") << "copied data\n";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  Result<TemplateInfo> Build(const std::string& name, const std::string& dockerfile) {
    std::ofstream(context_ + "/Dockerfile." + name) << dockerfile;
    BuildRequest req;
    req.name = name;
    req.dockerfile = context_ + "/Dockerfile." + name;
    req.home = home_;
    req.step_timeout_ms = 60'000;
    return BuildTemplate(req);
  }

  runtime::RunResult RunIn(const TemplateInfo& t, const std::string& script,
                           const std::string& user = "user") {
    runtime::RunRequest run;
    EXPECT_TRUE(ApplyTemplate(t, run.spec).ok());
    run.argv = {"/bin/sh", "-c", script};
    run.user = user;
    Result<runtime::RunResult> r = runtime::Run(run);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : runtime::RunResult{};
  }

  std::string dir_, home_, context_;
};

constexpr char kAppDockerfile[] =
    "FROM host\n"
    "ENV GREETING=hello-env\n"
    "WORKDIR /opt/app\n"
    "COPY app/ ./\n"
    "COPY data.txt /srv/data.txt\n"
    "RUN echo built-by-run > /opt/app/built.txt && mkdir -p /var/lib/demo && echo \"$GREETING\" > "
    "/var/lib/demo/state\n"
    "# kiln: start-cmd sleep 1\n";

TEST_F(TemplateBuildTest, SandboxSeesFilesEnvAndWorkdirAndRebuildIsCached) {
  Result<TemplateInfo> t = Build("app", kAppDockerfile);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->base, "host");
  EXPECT_EQ(t->workdir, "/opt/app");
  EXPECT_EQ(t->start_cmd, "sleep 1");
  EXPECT_GT(t->size_bytes, 0);
  EXPECT_EQ(t->layers.size(), 5u);  // base, WORKDIR, two COPY, RUN
  runtime::RunResult r =
      RunIn(*t, "pwd; echo $GREETING; python3 hello.py; cat /srv/data.txt built.txt /var/lib/demo/state");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data,
            "/opt/app\nhello-env\nhello from the template\ncopied data\nbuilt-by-run\nhello-env\n");
  std::string first_log = ReadFile(t->build_log);
  EXPECT_EQ(Count(first_log, "CACHED"), 0) << first_log;
  EXPECT_NE(first_log.find("Dockerfile.app:6 RUN echo built-by-run"), std::string::npos) << first_log;

  Result<TemplateInfo> again = Build("app", kAppDockerfile);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  std::string log = ReadFile(again->build_log);
  EXPECT_EQ(Count(log, "CACHED layer"), 5) << log;
  EXPECT_EQ(again->layers, t->layers);

  // A changed copied file invalidates its layer and those above it, not the ones below.
  std::ofstream(context_ + "/data.txt") << "changed data\n";
  Result<TemplateInfo> changed = Build("app", kAppDockerfile);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  log = ReadFile(changed->build_log);
  EXPECT_EQ(Count(log, "CACHED layer"), 3) << log;
  EXPECT_EQ(RunIn(*changed, "cat /srv/data.txt").stdout_data, "changed data\n");
}

TEST_F(TemplateBuildTest, FailingRunNamesTheStepAndItsOutput) {
  Result<TemplateInfo> t =
      Build("broken", "FROM host\nENV X=1\nRUN echo marker-on-stdout; echo marker-on-stderr >&2; exit 3\n");
  ASSERT_FALSE(t.ok());
  const std::string& m = t.status().message();
  EXPECT_NE(m.find("Dockerfile.broken:3: RUN echo marker-on-stdout"), std::string::npos) << m;
  EXPECT_NE(m.find("exit code 3"), std::string::npos) << m;
  EXPECT_NE(m.find("marker-on-stdout"), std::string::npos) << m;
  EXPECT_NE(m.find("marker-on-stderr"), std::string::npos) << m;
  EXPECT_FALSE(TemplateStore(home_).Get("broken").ok());
  EXPECT_NE(ReadFile(home_ + "/templates/.broken.failed.log").find("marker-on-stderr"), std::string::npos);
}

TEST_F(TemplateBuildTest, UnsupportedInstructionAndEscapingCopyFail) {
  Result<TemplateInfo> t = Build("bad", "FROM host\nRUN true\nEXPOSE 8080\n");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("Dockerfile.bad:3: EXPOSE is not supported"), std::string::npos);
  t = Build("escape", "FROM host\nCOPY ../../etc/shadow /x\n");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("Dockerfile.escape:2: ../../etc/shadow is outside the build context"),
            std::string::npos)
      << t.status().message();
  fs::create_symlink("/etc", context_ + "/link");
  t = Build("escape2", "FROM host\nCOPY link/shadow /x\n");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("outside the build context"), std::string::npos)
      << t.status().message();
}

TEST_F(TemplateBuildTest, SandboxWritesLandInItsPrivateLayerAndRmRemoves) {
  Result<TemplateInfo> t = Build("app", kAppDockerfile);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::string built = t->root + "/opt/app/built.txt";
  runtime::RunResult r = RunIn(*t,
                               "echo overwritten > /opt/app/built.txt && rm /srv/data.txt && "
                               "echo new > /opt/app/new.txt && mkdir /srv/more && cat /opt/app/built.txt",
                               "root");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "overwritten\n");
  EXPECT_EQ(ReadFile(built), "built-by-run\n");
  EXPECT_TRUE(fs::exists(t->root + "/srv/data.txt"));
  EXPECT_FALSE(fs::exists(t->root + "/opt/app/new.txt"));
  EXPECT_FALSE(fs::exists(t->root + "/srv/more"));
  // The unprivileged user cannot write the template's root-owned files at all.
  r = RunIn(*t, "echo x > /opt/app/built.txt");
  EXPECT_NE(r.exit_code, 0);
  r = RunIn(*t, "cat /opt/app/built.txt; ls /srv; ls /opt/app");
  EXPECT_EQ(r.stdout_data, "built-by-run\ndata.txt\nbuilt.txt\nhello.py\n");

  TemplateStore store(home_);
  ASSERT_TRUE(store.Remove("app").ok());
  EXPECT_FALSE(fs::exists(t->root));
  EXPECT_EQ(store.Get("app").status().code(), Code::kNotFound);
  EXPECT_TRUE(store.List().empty());
}

TEST_F(TemplateBuildTest, FromAnotherTemplateKeepsItsFilesAndEnv) {
  ASSERT_TRUE(Build("parent", kAppDockerfile).ok());
  Result<TemplateInfo> t =
      Build("child", "FROM kiln:parent\nENV MORE=yes\nRUN cat /opt/app/built.txt > /srv/seen\n");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  runtime::RunResult r = RunIn(*t, "echo $GREETING $MORE; pwd; cat /srv/seen");
  EXPECT_EQ(r.stdout_data, "hello-env yes\n/opt/app\nbuilt-by-run\n") << r.stderr_data;
  Result<TemplateInfo> missing = Build("orphan", "FROM kiln:nope\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("Dockerfile.orphan:1: template 'nope' not found"),
            std::string::npos)
      << missing.status().message();
}

// A root filesystem's own users and groups (a Debian template's /etc: staff, ...) stay, with Kiln's `user`
// added, and the sandbox's root can chown to a system group (package scripts do: fontconfig's
// `chown root:staff`).
TEST_F(TemplateBuildTest, SandboxKeepsTheRootsSystemGroupsWithKilnsUser) {
  fs::create_directories(dir_ + "/etc");
  std::ofstream(dir_ + "/etc/passwd") << "root:x:0:0:root:/root:/bin/bash\n"
                                         "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                         "user:x:0:0:impostor:/root:/bin/sh\n";
  std::ofstream(dir_ + "/etc/group") << "root:x:0:\nstaff:x:50:\n";
  runtime::RunRequest run;
  run.spec.users_from = dir_ + "/etc";
  run.argv = {
      "/bin/sh", "-c",
      "touch /tmp/f && chown root:staff /tmp/f && stat -c '%U %G' /tmp/f && id -un user && id -u user "
      "&& getent passwd daemon | cut -d: -f1 && getent group staff user | cut -d: -f1,3"};
  run.user = "root";
  Result<runtime::RunResult> r = runtime::Run(run);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "root staff\nuser\n1000\ndaemon\nstaff:50\nuser:1000\n") << r->stderr_data;
}

// The template's passwd is written by code that ran in a build sandbox: a symlink must not make the host
// copy one of its own files (its /etc/shadow) into the next sandbox.
TEST_F(TemplateBuildTest, SymlinkedPasswdInARootIsRefused) {
  fs::create_directories(dir_ + "/etc");
  fs::create_symlink("/etc/shadow", dir_ + "/etc/passwd");
  runtime::RunRequest run;
  run.spec.users_from = dir_ + "/etc";
  run.argv = {"cat", "/etc/passwd"};
  Result<runtime::RunResult> r = runtime::Run(run);
  ASSERT_FALSE(r.ok()) << r->stdout_data;
  EXPECT_NE(r.status().message().find(dir_ + "/etc/passwd"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace kiln::tmpl
