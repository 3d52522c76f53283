// Sandboxes from built templates through Control, as `kiln serve` makes them: the template's USER and
// WORKDIR are the defaults of envd's processes, and its start command runs before the create returns,
// which waits for the ready command. Real templates (FROM host), real sandboxes; needs root.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "control_test_util.h"
#include "kiln/client/envd_client.h"
#include "kiln/control/control.h"
#include "kiln/protocol/http_client.h"
#include "kiln/template/builder.h"

namespace kiln::control {
namespace {
namespace fs = std::filesystem;

class ControlTemplateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "template builds need root";
    char dir[] = "/tmp/kiln-control-template-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    home_ = dir;
    ControlOptions options;
    options.home = home_;
    auto opened = Control::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    control_ = std::move(*opened);
    auto key = control_->keys().Create("alice", false);
    ASSERT_TRUE(key.ok());
    alice_ = Principal{key->key.id, false};
  }
  void TearDown() override {
    control_.reset();
    if (!home_.empty()) fs::remove_all(home_);
  }

  void Build(const std::string& name, const std::string& dockerfile) {
    fs::create_directories(home_ + "/ctx");
    std::string path = home_ + "/ctx/Dockerfile." + name;
    std::ofstream(path) << dockerfile;
    tmpl::BuildRequest build;
    build.name = name;
    build.dockerfile = path;
    build.home = home_;
    build.step_timeout_ms = 60'000;
    Result<tmpl::TemplateInfo> built = tmpl::BuildTemplate(build);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
  }

  Result<SandboxRecord> Create(const std::string& template_id) {
    CreateRequest request;
    request.template_id = template_id;
    return control_->Create(alice_, request);
  }

  client::EnvdClient Envd(const SandboxRecord& sandbox) {
    auto route = control_->Resolve(sandbox.id);
    EXPECT_TRUE(route.ok()) << route.status().ToString();
    return client::EnvdClient(route.ok() ? route->socket_path : "", sandbox.access_token);
  }

  // `script` through `bash -l -c` as the SDK runs it, naming no user: envd's defaults apply.
  std::string Shell(const SandboxRecord& sandbox, const std::string& script) {
    std::string out;
    client::ProcessConfig config{"/bin/bash", {"-l", "-c", script}, {}, std::nullopt};
    client::StartOptions options;
    options.timeout_ms = 20'000;
    auto keep = [&out](std::string_view b) { out.append(b); };
    Result<client::ProcessExit> r = Envd(sandbox).Start(config, options, {nullptr, keep, keep, nullptr});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return out;
  }

  std::string home_;
  std::unique_ptr<Control> control_;
  Principal alice_;
};

// `# kiln: code-context python` in a built template (as in templates/code-interpreter-v1): its sandboxes
// start the default Python code context, and a template FROM it inherits that.
TEST_F(ControlTemplateTest, CodeContextDirectiveStartsPythonAndIsInherited) {
  Build("py", "FROM host\n# kiln: description python ready\n# kiln: code-context python\n");
  Build("py-child", "FROM kiln:py\nRUN mkdir -p /opt/x\n");
  Build("plain", "FROM host\n");
  std::vector<Template> listed = Templates(home_);
  auto find = [&](const std::string& id) {
    return *std::find_if(listed.begin(), listed.end(), [&](const Template& t) { return t.id == id; });
  };
  EXPECT_TRUE(find("py").python_context);
  EXPECT_EQ(find("py").description, "python ready");
  EXPECT_TRUE(find("py-child").python_context);
  EXPECT_FALSE(find("plain").python_context);
  Result<SandboxRecord> sandbox = Create("py-child");
  ASSERT_TRUE(sandbox.ok()) << sandbox.status().ToString();
  ExpectDefaultContextComputes(*control_, sandbox->id);
}

TEST_F(ControlTemplateTest, UserAndWorkdirOfTheTemplateAreTheDefaults) {
  Build("as-root", "FROM host\nUSER root\nWORKDIR /srv/app\nRUN id -un > /srv/app/built-as\n");
  Build("as-user", "FROM kiln:as-root\nUSER user\n");
  Result<SandboxRecord> root = Create("as-root");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(Shell(*root, "id -un; id -u; pwd; cat built-as"), "root\n0\n/srv/app\nroot\n");
  // File calls without a user act as the default user too (envd creates what they write as that user).
  EXPECT_TRUE(Envd(*root).Write("/srv/app/by-default-user", "x").ok());
  EXPECT_EQ(Shell(*root, "stat -c %U /srv/app/by-default-user"), "root\n");

  Result<SandboxRecord> user = Create("as-user");
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  EXPECT_EQ(Shell(*user, "id -un; id -u; pwd"), "user\n1000\n/srv/app\n");
  EXPECT_TRUE(Envd(*user).Write("/srv/app/by-default-user", "x").ok());
  EXPECT_EQ(Shell(*user, "stat -c %U /srv/app/by-default-user"), "user\n");
  // Naming a user still works.
  client::EnvdClient as_root = Envd(*user);
  as_root.set_user("root");
  EXPECT_TRUE(as_root.Write("/srv/app/named-root", "x").ok());
  EXPECT_EQ(Shell(*user, "stat -c %U /srv/app/named-root"), "root\n");
}

// The start command serves a page a second after it starts; the create returns only once the ready command
// fetched it, so the first command after the create finds the server up.
TEST_F(ControlTemplateTest, CreateReturnsOnceTheReadyCommandPasses) {
  Build("web",
        "FROM host\n"
        "RUN mkdir -p /srv/site && echo served-by-the-start-command > /srv/site/index.html\n"
        "# kiln: start-cmd sleep 1; echo starting; exec python3 -m http.server 8000 --bind 127.0.0.1 "
        "--directory /srv/site\n"
        "# kiln: ready-cmd python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8000/', "
        "timeout=2)\"\n");
  Result<SandboxRecord> web = Create("web");
  ASSERT_TRUE(web.ok()) << web.status().ToString();
  EXPECT_EQ(
      Shell(*web,
            "python3 -c \"import urllib.request as u; "
            "print(u.urlopen('http://127.0.0.1:8000/index.html', timeout=5).read().decode(), end='')\""),
      "served-by-the-start-command\n");
  // It runs in the background as the default user, its output in the log.
  EXPECT_EQ(Shell(*web, "ps -o user= -C python3 | sort -u; cat /tmp/kiln-start-cmd.log | head -1"),
            "user\nstarting\n");
  EXPECT_EQ(control_->Get(alice_, web->id)->state, "running");
}

TEST_F(ControlTemplateTest, ReadyTimeoutNamesTheTemplateAndTheOutputsAndEndsTheSandbox) {
  Build("never-ready",
        "FROM host\n"
        "# kiln: start-cmd echo start-marker; sleep 1000\n"
        "# kiln: ready-cmd echo ready-marker >&2; exit 3\n"
        "# kiln: ready-timeout 2\n");
  Result<SandboxRecord> created = Create("never-ready");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), Code::kDeadlineExceeded);
  const std::string& m = created.status().message();
  for (const char* part :
       {"template 'never-ready'", "not ready within 2 s", "`echo ready-marker >&2; exit 3`", "exit status 3",
        "ready-marker", "start-marker"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
  Result<ListPage> live = control_->List(alice_, {});
  ASSERT_TRUE(live.ok());
  EXPECT_TRUE(live->sandboxes.empty());
}

// A start command that cannot run is not an error by itself (only the ready command decides); the timeout's
// error then shows what the start command printed.
TEST_F(ControlTemplateTest, StartCommandThatFailsIsReportedThroughTheReadyCommand) {
  Build("broken-start",
        "FROM host\n"
        "# kiln: start-cmd no-such-program-kiln --serve\n"
        "# kiln: ready-cmd test -e /tmp/never\n"
        "# kiln: ready-timeout 1\n");
  Result<SandboxRecord> created = Create("broken-start");
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("no-such-program-kiln: command not found"), std::string::npos)
      << created.status().message();
}

}  // namespace
}  // namespace kiln::control
