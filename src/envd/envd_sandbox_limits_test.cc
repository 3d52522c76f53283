// envd as PID 1 of a real sandbox with a 256 MB memory limit: a 2 GiB download and a 2 GiB upload both
// succeed, and envd's peak resident memory (VmHWM) stays in the tens of MB. Files live on a disk-backed
// bind mount (the sandbox's tmpfs would count them as memory).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "kiln/base/clock.h"
#include "kiln/client/envd_client.h"
#include "kiln/protocol/http_client.h"
#include "kiln/runtime/runtime.h"
#include "process_test_util.h"

namespace kiln::envd {
namespace {

constexpr uint64_t kFileBytes = uint64_t{2} << 30;

class EnvdSandboxLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/kiln-envd-limits-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0777);  // the sandbox's root maps to another host uid
    auto rt = runtime::Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value();
    runtime::CreateOptions options;
    options.spec.limits.memory_bytes = 256ll << 20;
    options.spec.limits.pids = pids_;
    options.access_token = token_;
    options.spec.limits.max_file_bytes = 4ll << 30;
    options.spec.limits.timeout_ms = 600'000;
    options.spec.mounts.push_back({dir_, "/mnt/data", /*writable=*/true, /*optional=*/false});
    auto info = runtime_->CreateSandbox(options);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    info_ = *info;
  }
  void TearDown() override {
    runtime_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // envd's VmHWM (peak resident set, kB), read inside the sandbox as its root.
  int64_t EnvdPeakKb() {
    client::EnvdClient client(info_.socket_path, info_.access_token);
    std::string out;
    client::ProcessCallbacks cb;
    cb.on_stdout = [&](std::string_view d) { out += d; };
    client::StartOptions opts;
    opts.user = "root";
    // PID 1 must be envd itself, not some shim in front of it.
    auto r = client.Start({"/bin/sh",
                           {"-c", "grep -q 'Name:.*kiln-envd' /proc/1/status && grep VmHWM /proc/1/status"},
                           {},
                           std::nullopt},
                          opts, cb);
    if (!r.ok() || out.size() < 7) return -1;
    return std::stoll(out.substr(out.find(':') + 1));
  }

  // envd's host pid: the process whose command line carries this sandbox's access token.
  // The sandbox's init on the host: the kiln-envd this process launched (its secrets are in no command line
  // to search for).
  pid_t EnvdHostPid() const {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::ifstream in(e.path() / "stat");
      std::string line;
      if (!std::getline(in, line) || line.find("(kiln-envd)") == std::string::npos) continue;
      int ppid = 0;
      char state = 0;
      if (std::sscanf(line.c_str() + line.rfind(')') + 1, " %c %d", &state, &ppid) == 2 && ppid == ::getpid())
        return static_cast<pid_t>(std::stol(e.path().filename().string()));
    }
    return -1;
  }

  int64_t pids_ = 256;
  const std::string token_ = "limits-" + std::to_string(::getpid()) + "-" + std::to_string(MonotonicMillis());
  std::string dir_;
  std::unique_ptr<runtime::Runtime> runtime_;
  runtime::SandboxInfo info_;
};

TEST_F(EnvdSandboxLimitsTest, TwoGibDownloadAndUploadIn256MbSandbox) {
  const std::string big = dir_ + "/big";
  {
    FILE* f = std::fopen(big.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  ASSERT_EQ(::truncate(big.c_str(), static_cast<off_t>(kFileBytes)), 0);
  ::chmod(big.c_str(), 0644);

  const int64_t t0 = MonotonicMillis();
  auto http = http::Client::Unix(info_.socket_path);
  uint64_t got = 0;
  Status s = http.Stream(
      "GET", "/files?path=%2Fmnt%2Fdata%2Fbig&username=root", {}, {}, [](const http::Response&) {},
      [&](std::string_view d) {
        got += d.size();
        return true;
      },
      300'000);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, kFileBytes);
  const int64_t t1 = MonotonicMillis();

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, info_.socket_path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_TRUE(testing::SendAll(fd.get(),
                               "POST /files?path=%2Fmnt%2Fdata%2Fup&username=root HTTP/1.1\r\n"
                               "Content-Type: application/octet-stream\r\nContent-Length: " +
                                   std::to_string(kFileBytes) + "\r\n\r\n"));
  const std::string chunk(1 << 20, 'u');
  for (uint64_t sent = 0; sent < kFileBytes; sent += chunk.size())
    ASSERT_TRUE(testing::SendAll(fd.get(), chunk));
  http::Parser p(http::Parser::Kind::kResponse);
  char buf[4096];
  while (p.state() == http::Parser::State::kNeedMore) {
    pollfd pfd{fd.get(), POLLIN, 0};
    ASSERT_GT(::poll(&pfd, 1, 60'000), 0);
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    p.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  EXPECT_EQ(p.response().status, 200) << p.response().body;
  const int64_t t2 = MonotonicMillis();
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/up").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kFileBytes);

  int64_t peak_kb = EnvdPeakKb();
  std::printf("envd in a 256 MB sandbox: 2 GiB download %lld ms, 2 GiB upload %lld ms, envd VmHWM %lld kB\n",
              static_cast<long long>(t1 - t0), static_cast<long long>(t2 - t1),
              static_cast<long long>(peak_kb));
  ASSERT_GT(peak_kb, 0);
  EXPECT_LT(peak_kb, 48 * 1024);
  // The first reproducer: devices that never end (read whole, they OOM-killed envd) are refused.
  for (const char* device : {"%2Fdev%2Fzero", "%2Fdev%2Furandom"}) {
    auto r = http.Do("GET", std::string("/files?path=") + device + "&username=root", {}, {}, 10'000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 400) << device << ": " << r->body;
  }
  EXPECT_TRUE(client::EnvdClient(info_.socket_path, info_.access_token).Health().ok());
}

// The status of the response to `request` on a new connection (0: none within 10 s, or a reset).
int StatusOf(const std::string& socket, std::string_view request, std::string* connection = nullptr) {
  UniqueFd fd = testing::ConnectUnix(socket);
  if (!testing::SendAll(fd.get(), request)) return 0;
  http::Parser p(http::Parser::Kind::kResponse);
  char buf[4096];
  while (p.state() == http::Parser::State::kNeedMore) {
    pollfd pfd{fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 10'000) <= 0) return 0;
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) return 0;
    p.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  if (connection) *connection = std::string(p.response().headers.Get("connection").value_or(""));
  return p.response().status;
}

// 300 sockets that say nothing (the reproducer held 250 and locked every client out): /health
// answers, other requests get 503 with Connection: close, none a reset; envd's threads stay bounded.
TEST_F(EnvdSandboxLimitsTest, IdleSocketsPastCapacityGet503AndHealthAnswers) {
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(testing::ConnectUnix(info_.socket_path));
  ::usleep(500'000);
  int health = 0, busy = 0;
  for (int i = 0; i < 20; ++i) {
    health += StatusOf(info_.socket_path, "GET /health HTTP/1.1\r\n\r\n") == 204;
    std::string connection;
    busy += StatusOf(info_.socket_path, "GET /envs HTTP/1.1\r\n\r\n", &connection) == 503 &&
            connection == "close";
  }
  std::printf("with 300 idle sockets: /health 204 %d/20, /envs 503+close %d/20\n", health, busy);
  EXPECT_EQ(health, 20);
  EXPECT_EQ(busy, 20);
  idle.clear();
  ::usleep(300'000);
  EXPECT_TRUE(client::EnvdClient(info_.socket_path, info_.access_token).Health().ok());
}

class EnvdProcessLimitTest : public EnvdSandboxLimitsTest {
 protected:
  EnvdProcessLimitTest() { pids_ = 48; }
};

// The reproducer: bursts of concurrent Starts against the sandbox's process limit left eventfds
// (and table entries) behind. Every failure path must give back what it took.
TEST_F(EnvdProcessLimitTest, StartBurstsAtTheProcessLimitLeakNothing) {
  const pid_t envd = EnvdHostPid();
  ASSERT_GT(envd, 0);
  client::EnvdClient warm(info_.socket_path, info_.access_token);
  ASSERT_TRUE(warm.Start({"/bin/true", {}, {}, std::nullopt}, {}, {}).ok());
  ::usleep(300'000);
  const int fds = testing::FdCount(envd);
  const int64_t threads = testing::ProcStatus(envd, "Threads");
  std::atomic<int> failures{0};
  for (int burst = 0; burst < 3; ++burst) {
    std::vector<std::thread> starts;
    for (int i = 0; i < 120; ++i) {
      starts.emplace_back([&] {
        client::EnvdClient c(info_.socket_path, info_.access_token);
        if (!c.Start({"/bin/sleep", {"0.3"}, {}, std::nullopt}, {}, {}).ok()) ++failures;
      });
    }
    for (std::thread& t : starts) t.join();
  }
  EXPECT_GT(failures.load(), 0) << "the bursts never reached the process limit";
  for (int i = 0;
       i < 100 && (testing::FdCount(envd) != fds || testing::ProcStatus(envd, "Threads") != threads); ++i)
    ::usleep(50'000);
  std::printf("after 3 bursts of 120 Starts (%d failed): envd fds %d -> %d, threads %lld -> %lld\n",
              failures.load(), fds, testing::FdCount(envd), static_cast<long long>(threads),
              static_cast<long long>(testing::ProcStatus(envd, "Threads")));
  EXPECT_EQ(testing::FdCount(envd), fds);
  EXPECT_EQ(testing::ProcStatus(envd, "Threads"), threads);
  EXPECT_TRUE(warm.Start({"/bin/true", {}, {}, std::nullopt}, {}, {}).ok());
}

}  // namespace
}  // namespace kiln::envd
