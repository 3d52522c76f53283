// Black-box tests of kiln-envd's filesystem service, REST /files, auth and exec mode, through the real
// binary.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "envd_test_util.h"
#include "kiln/protocol/http_client.h"

namespace kiln::envd {
namespace {

using client::EnvdClient;
using Json = nlohmann::json;

class EnvdFilesTest : public ::testing::Test {
 protected:
  testing::EnvdProcess envd_;
  EnvdClient client_{envd_.socket()};

  Result<http::Response> Raw(const std::string& method, const std::string& target,
                             const std::string& body = "", const std::string& content_type = "",
                             const std::string& extra_header = "") {
    auto http = http::Client::Unix(envd_.socket());
    http::Headers h;
    if (!content_type.empty()) h.Set("Content-Type", content_type);
    if (!extra_header.empty())
      h.Set(extra_header.substr(0, extra_header.find(':')), extra_header.substr(extra_header.find(':') + 2));
    return http.Do(method, target, h, body, 10'000);
  }
};

TEST_F(EnvdFilesTest, HealthIs204WithoutBody) {
  auto r = Raw("GET", "/health");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 204);
  EXPECT_TRUE(r->body.empty());
  EXPECT_TRUE(client_.Health().ok());
}

TEST_F(EnvdFilesTest, EnvsListsGlobalVars) {
  auto r = Raw("GET", "/envs");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json::parse(r->body), Json({{"GLOBAL_VAR", "global"}}));
}

TEST_F(EnvdFilesTest, WriteReadRoundTrip) {
  std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(client_.Write("dir/sub/f.bin", binary).ok());
  EXPECT_EQ(*client_.Read("dir/sub/f.bin"), binary);
  EXPECT_EQ(*client_.Read("/home/user/dir/sub/f.bin"), binary);
  EXPECT_EQ(*client_.Read("~/dir/sub/f.bin"), binary);
  ASSERT_TRUE(client_.Write("dir/sub/f.bin", "x").ok());  // truncates
  EXPECT_EQ(*client_.Read("dir/sub/f.bin"), "x");
  ASSERT_TRUE(client_.Write("empty", "").ok());
  auto r = Raw("GET", "/files?path=empty");
  EXPECT_EQ(r->headers.Get("Content-Length").value_or(""), "0");
}

TEST_F(EnvdFilesTest, ReadErrors) {
  auto missing = Raw("GET", "/files?path=nope.txt");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Json::parse(missing->body),
            Json({{"code", 404}, {"message", "path '/home/user/nope.txt' does not exist"}}));
  auto dir = Raw("GET", "/files?path=%2Fhome");
  EXPECT_EQ(dir->status, 400);
  EXPECT_EQ(Json::parse(dir->body)["message"], "path '/home' is a directory");
  EXPECT_EQ(client_.Read("nope").status().code(), Code::kNotFound);
  auto ghost = Raw("GET", "/files?path=x&username=ghost");
  EXPECT_EQ(ghost->status, 401);
}

TEST_F(EnvdFilesTest, PathEscapesStayInsideRoot) {
  // ../ and absolute paths land inside the root; the host's files are never read or written.
  ASSERT_TRUE(client_.Write("../../../../../escape.txt", "x").ok());
  struct stat st;
  EXPECT_EQ(::stat((envd_.root() + "/escape.txt").c_str(), &st), 0);
  EXPECT_NE(::stat((envd_.dir() + "/escape.txt").c_str(), &st), 0);
  EXPECT_NE(client_.Read("/etc/passwd")->find("nobody:x:65534"), std::string::npos);  // the fake one
  std::ofstream(envd_.dir() + "/secret") << "host secret";
  ASSERT_EQ(::symlink((envd_.dir() + "/secret").c_str(), (envd_.root() + "/home/user/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../../../secret", (envd_.root() + "/home/user/rel").c_str()), 0);
  EXPECT_EQ(client_.Read("abs").status().code(), Code::kNotFound);
  EXPECT_EQ(client_.Read("rel").status().code(), Code::kNotFound);
  // Writing through the link resolves it inside the root (where its target's directory does not exist).
  (void)client_.Write("abs", "overwritten?");
  std::ifstream secret(envd_.dir() + "/secret");
  std::string content((std::istreambuf_iterator<char>(secret)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "host secret");
  auto nul = Raw("POST", "/filesystem.Filesystem/Stat", R"({"path":"a\u0000b"})", "application/json");
  EXPECT_EQ(nul->status, 400);
  EXPECT_EQ(Json::parse(nul->body)["code"], "invalid_argument");
}

TEST_F(EnvdFilesTest, StatListDirMakeDirMoveRemove) {
  auto made = client_.MakeDir("a/b/c");
  ASSERT_TRUE(made.ok());
  EXPECT_TRUE(*made);
  EXPECT_FALSE(*client_.MakeDir("a/b/c"));
  ASSERT_TRUE(client_.Write("a/file.txt", "123").ok());
  EXPECT_EQ(client_.MakeDir("a/file.txt").status().code(), Code::kInvalidArgument);
  auto st = client_.Stat("a/file.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->name, "file.txt");
  EXPECT_EQ(st->type, "FILE_TYPE_FILE");
  EXPECT_EQ(st->path, "/home/user/a/file.txt");
  EXPECT_EQ(st->size, 3);
  EXPECT_EQ(st->mode, 0644u);
  EXPECT_EQ(st->permissions, "-rw-r--r--");
  EXPECT_EQ(st->owner, ::geteuid() == 0 ? "root" : "user");  // as root, "user" shares uid 0 with root
  EXPECT_FALSE(st->modified_time.empty());
  EXPECT_EQ(client_.Stat("a/missing").status().code(), Code::kNotFound);
  auto list = client_.ListDir("a", 3);
  ASSERT_TRUE(list.ok());
  std::vector<std::string> paths;
  for (auto& e : *list) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"/home/user/a/b", "/home/user/a/b/c", "/home/user/a/file.txt"}));
  EXPECT_EQ(client_.ListDir("a/file.txt").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(client_.ListDir("zzz").status().code(), Code::kNotFound);
  ASSERT_TRUE(client_.Move("a/file.txt", "moved/here.txt").ok());
  EXPECT_EQ(*client_.Read("moved/here.txt"), "123");
  EXPECT_EQ(client_.Move("a/file.txt", "x").code(), Code::kNotFound);
  ASSERT_TRUE(client_.Remove("a").ok());
  ASSERT_TRUE(client_.Remove("a").ok());  // missing is fine
  EXPECT_EQ(client_.Stat("a").status().code(), Code::kNotFound);
}

TEST_F(EnvdFilesTest, FilesAreChownedToTheUserWhenRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  EnvdClient as_nobody(envd_.socket());
  as_nobody.set_user("nobody");
  ASSERT_TRUE(as_nobody.Write("made/by/nobody.txt", "n").ok());
  struct stat st;
  ASSERT_EQ(::stat((envd_.root() + "/home/nobody/made/by/nobody.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  ASSERT_EQ(::stat((envd_.root() + "/home/nobody/made").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(as_nobody.Stat("made/by/nobody.txt")->owner, "nobody");
  EXPECT_TRUE(*as_nobody.MakeDir("/home/nobody/d"));
  ASSERT_EQ(::stat((envd_.root() + "/home/nobody/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 65534u);
}

TEST_F(EnvdFilesTest, MultipartUploadWithTwoFiles) {
  std::string body =
      "--BOUND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up/one.txt\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\nfirst\r\n"
      "--BOUND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"/tmp/two.txt\"\r\n\r\nsecond\r\n"
      "--BOUND--\r\n";
  auto r = Raw("POST", "/files", body, "multipart/form-data; boundary=BOUND");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  Json want = Json::array({{{"path", "/home/user/up/one.txt"}, {"name", "one.txt"}, {"type", "file"}},
                           {{"path", "/tmp/two.txt"}, {"name", "two.txt"}, {"type", "file"}}});
  EXPECT_EQ(Json::parse(r->body), want);
  EXPECT_EQ(*client_.Read("up/one.txt"), "first");
  EXPECT_EQ(*client_.Read("/tmp/two.txt"), "second");
  // The `path` query wins over the part's filename for a single-file upload.
  std::string single =
      "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ignored\"\r\n\r\nq\r\n--B--\r\n";
  auto q = Raw("POST", "/files?path=%2Fhome%2Fuser%2Fq.txt", single, "multipart/form-data; boundary=B");
  EXPECT_EQ(q->status, 200);
  EXPECT_EQ(*client_.Read("q.txt"), "q");
}

TEST_F(EnvdFilesTest, UploadErrors) {
  std::string dup =
      "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.txt\"\r\n\r\n1\r\n"
      "--B\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"/home/user/d.txt\"\r\n\r\n2\r\n--B--\r\n";
  EXPECT_EQ(Raw("POST", "/files", dup, "multipart/form-data; boundary=B")->status, 400);
  EXPECT_EQ(Raw("POST", "/files", "data", "application/octet-stream")->status, 400);  // no path
  EXPECT_EQ(Raw("POST", "/files?path=x", "data", "text/plain")->status, 400);
  EXPECT_EQ(Raw("POST", "/files?path=%2Fhome", "data", "application/octet-stream")->status, 400);  // a dir
  auto ok = Raw("POST", "/files?path=o.txt", "data", "application/octet-stream");
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(Json::parse(ok->body)[0]["path"], "/home/user/o.txt");
}

TEST_F(EnvdFilesTest, UnknownUserAndRoutes) {
  auto ghost = Raw("POST", "/filesystem.Filesystem/Stat", R"({"path":"/"})", "application/json",
                   "Authorization: Basic Z2hvc3Q6");  // "ghost:"
  EXPECT_EQ(ghost->status, 400);
  EXPECT_EQ(Raw("GET", "/nope")->status, 404);
  EXPECT_EQ(Raw("GET", "/process.Process/List")->status, 405);
  const std::string request = R"({"path":"/missing"})";
  auto watch = Raw("POST", "/filesystem.Filesystem/WatchDir",
                   std::string("\0\0\0\0", 4) + static_cast<char>(request.size()) + request,
                   "application/connect+json");
  EXPECT_NE(watch->body.find("not_found"), std::string::npos) << watch->body;
}

TEST(EnvdTokenTest, AccessTokenGuardsEverythingButHealthAndFiles) {
  testing::EnvdProcess envd({"--access-token", "s3cret"});
  EnvdClient anonymous(envd.socket());
  EnvdClient wrong(envd.socket(), "s3cres");
  EnvdClient good(envd.socket(), "s3cret");
  EXPECT_TRUE(anonymous.Health().ok());
  EXPECT_TRUE(anonymous.Write("f", "x").ok());
  EXPECT_EQ(*anonymous.Read("f"), "x");
  EXPECT_FALSE(anonymous.List().ok());
  auto http = http::Client::Unix(envd.socket());
  http::Headers h;
  h.Set("Content-Type", "application/json");
  auto r = http.Do("POST", "/process.Process/List", h, "{}", 5'000);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(Json::parse(r->body)["code"], 401);
  EXPECT_EQ(http.Do("GET", "/envs", {}, {}, 5'000)->status, 401);
  EXPECT_FALSE(wrong.List().ok());
  EXPECT_FALSE(wrong.Stat("f").ok());
  EXPECT_TRUE(good.List().ok());
  EXPECT_EQ(good.Stat("f")->size, 1);
}

// exec mode: runs the binary directly (not as PID 1: it becomes a child subreaper instead).
struct ExecResult {
  int exit_code = -1;
  std::string status_line;
  std::string stderr_text;
};

ExecResult RunExec(std::vector<std::string> args, int signal_after_ms = 0) {
  int status_pipe[2], err_pipe[2];
  EXPECT_EQ(::pipe(status_pipe), 0);
  EXPECT_EQ(::pipe(err_pipe), 0);
  std::vector<std::string> argv = {KILN_ENVD_BINARY, "exec", "--status-fd", "5"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = testing::SpawnProgram(argv, err_pipe[1], status_pipe[1], 5);
  ::close(status_pipe[1]);
  ::close(err_pipe[1]);
  if (signal_after_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(signal_after_ms));
    ::kill(pid, SIGTERM);
  }
  int status = testing::WaitWithTimeout(pid, 10'000);
  ExecResult r;
  r.exit_code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(status_pipe[0], buf, sizeof buf)) > 0) r.status_line.append(buf, static_cast<size_t>(n));
  while ((n = ::read(err_pipe[0], buf, sizeof buf)) > 0) r.stderr_text.append(buf, static_cast<size_t>(n));
  ::close(status_pipe[0]);
  ::close(err_pipe[0]);
  return r;
}

TEST(EnvdExecTest, ExitCodes) {
  ExecResult ok = RunExec({"--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(ok.exit_code, 7);
  EXPECT_EQ(ok.status_line, "exit 7 0\n");
  ExecResult killed = RunExec({"--", "/bin/sh", "-c", "kill -9 $$"});
  EXPECT_EQ(killed.exit_code, 137);
  EXPECT_EQ(killed.status_line, "exit 137 9\n");
}

TEST(EnvdExecTest, CannotExecute) {
  ExecResult missing = RunExec({"--", "/no/such/program"});
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_EQ(missing.status_line, "exit 127 0\n");
  const std::string message = "kiln-envd: cannot execute /no/such/program: No such file or directory\n";
#if defined(__SANITIZE_ADDRESS__)
  // ASan prints a warning of its own when the exec child switches stacks (google/sanitizers#189).
  EXPECT_NE(missing.stderr_text.find(message), std::string::npos) << missing.stderr_text;
#else
  EXPECT_EQ(missing.stderr_text, message);
#endif
  ExecResult not_found_in_path = RunExec({"--", "no-such-program-anywhere"});
  EXPECT_EQ(not_found_in_path.exit_code, 127);
  char tmpl[] = "/tmp/kiln-noexec-XXXXXX";
  int fd = ::mkstemp(tmpl);  // mode 0600: not executable, even for root
  ASSERT_GE(fd, 0);
  ::close(fd);
  ExecResult denied = RunExec({"--", tmpl});
  ::unlink(tmpl);
  EXPECT_EQ(denied.exit_code, 126) << denied.stderr_text;
  EXPECT_EQ(denied.status_line, "exit 126 0\n");
}

TEST(EnvdExecTest, ForwardsSigtermAndReapsOrphans) {
  ExecResult r = RunExec({"--", "/bin/sh", "-c", "(sleep 0.1 &) ; exec sleep 30"}, 500);
  EXPECT_EQ(r.exit_code, 128 + SIGTERM);
  EXPECT_EQ(r.status_line, "exit 143 15\n");
}

TEST(EnvdExecTest, EnvCwdAndUser) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  std::vector<std::string> argv = {
      KILN_ENVD_BINARY, "exec", "--cwd", "/tmp", "--env", "X=1", "--", "/bin/sh", "-c", "echo $X $PATH; pwd"};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  EXPECT_EQ(testing::WaitWithTimeout(pid, 10'000), 0);
  char buf[1024];
  ssize_t n = ::read(out[0], buf, sizeof buf);
  ::close(out[0]);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0),
            "1 /opt/kiln/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp\n");
  EXPECT_EQ(RunExec({"--user", "no-such-user-xyz", "--", "/bin/true"}).exit_code, 125);
}

}  // namespace
}  // namespace kiln::envd
