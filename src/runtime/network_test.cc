// Attack tests for the network on request: off, a sandbox has nothing but loopback; on, it reaches the
// outside through slirp4netns, while the host's loopback, the host's own addresses, private, link-local
// and metadata addresses stay unreachable unless allowed, and sandboxed code cannot change its routes or
// open raw sockets. Servers are ones the test starts on the host (CI has no internet).
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/runtime/run.h"

namespace kiln::runtime {
namespace {

bool HaveHelper() {
  return access("/usr/bin/slirp4netns", X_OK) == 0;
}

// The host's first IPv4 address that is not loopback; empty if it has none.
std::string HostAddress() {
  ifaddrs* list = nullptr;
  std::string found;
  if (getifaddrs(&list) != 0) return found;
  for (ifaddrs* a = list; a && found.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof text);
    if (std::string(text).rfind("127.", 0) != 0) found = text;
  }
  freeifaddrs(list);
  return found;
}

// A TCP listener on the host that records what the first connection sends.
class HostServer {
 public:
  explicit HostServer(const std::string& address) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HostServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::string received() {
    std::lock_guard<std::mutex> l(mu_);
    return received_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      char buf[256];
      pollfd q{c, POLLIN, 0};
      if (poll(&q, 1, 5000) > 0) {
        ssize_t n = read(c, buf, sizeof buf);
        std::lock_guard<std::mutex> l(mu_);
        received_ += "[" + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) + "]";
      }
      [[maybe_unused]] ssize_t w = write(c, "pong", 4);
      close(c);
    }
  }

  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::string received_;
};

RunResult RunPython(const std::string& user, const std::string& code,
                    const std::function<void(sandbox::SandboxSpec&)>& tweak) {
  RunRequest req;
  req.user = user;
  req.spec.files["/home/user/net.py"] = code;
  req.spec.limits.timeout_ms = 30'000;
  tweak(req.spec);
  req.argv = {"python3", "/home/user/net.py"};
  Result<RunResult> r = runtime::Run(req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RunResult{};
}

// Python that connects to each "host:port", sends a word, and prints "ok HOST:PORT" or the error's name.
std::string Connects(const std::vector<std::string>& targets) {
  std::string list;
  for (const std::string& t : targets) list += "'" + t + "', ";
  return "import socket, errno\n"
         "for t in [" +
         list +
         "]:\n"
         "    h, p = t.rsplit(':', 1)\n"
         "    try:\n"
         "        s = socket.create_connection((h, int(p)), timeout=5); s.sendall(b'ping'); s.recv(4)\n"
         "        print('ok', t)\n"
         "    except OSError as e:\n"
         "        print('failed', t, errno.errorcode.get(e.errno, e))\n"
         "print('interfaces', sorted(n for _, n in socket.if_nameindex()))\n";
}

class NetworkTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "root" && geteuid() != 0) GTEST_SKIP() << "no uid 0 in the sandbox without host root";
    if (!HaveHelper()) GTEST_SKIP() << "slirp4netns is not installed (scripts/setup.sh installs it)";
    host_ = HostAddress();
    if (host_.empty()) GTEST_SKIP() << "the host has no non-loopback IPv4 address";
  }
  RunResult Run(const std::string& code, const std::function<void(sandbox::SandboxSpec&)>& tweak) {
    return RunPython(GetParam(), code, tweak);
  }
  std::string host_;
};

INSTANTIATE_TEST_SUITE_P(As, NetworkTest, ::testing::Values("user", "root"),
                         [](const auto& info) { return info.param; });

TEST_P(NetworkTest, OffByDefaultNothingButLoopback) {
  HostServer server(host_);
  RunResult r = Run(Connects({host_ + ":" + std::to_string(server.port())}), [](auto&) {});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("failed " + host_), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("interfaces ['lo']"), std::string::npos) << r.stdout_data;
  EXPECT_EQ(server.received(), "");
}

TEST_P(NetworkTest, OnReachesAnAllowedHostServer) {
  HostServer server(host_);
  RunResult r = Run(Connects({host_ + ":" + std::to_string(server.port())}), [&](auto& spec) {
    spec.network = true;
    spec.network_rules.allow_out = {host_ + "/32"};
  });
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("ok " + host_), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("interfaces ['lo', 'tap0']"), std::string::npos) << r.stdout_data;
  EXPECT_EQ(server.received(), "[ping]");
}

// The host's own address is denied by default; a more specific denial beats a wider allow.
TEST_P(NetworkTest, HostAddressDeniedUnlessAllowedAndLongestPrefixWins) {
  HostServer server(host_);
  std::string target = host_ + ":" + std::to_string(server.port());
  RunResult by_default = Run(Connects({target}), [](auto& spec) { spec.network = true; });
  EXPECT_NE(by_default.stdout_data.find("failed " + target), std::string::npos) << by_default.stdout_data;
  RunResult narrower_deny = Run(Connects({target}), [&](auto& spec) {
    spec.network = true;
    spec.network_rules.allow_out = {host_.substr(0, host_.rfind('.')) + ".0/24"};
    spec.network_rules.deny_out = {host_};
  });
  EXPECT_NE(narrower_deny.stdout_data.find("failed " + target), std::string::npos)
      << narrower_deny.stdout_data;
  EXPECT_EQ(server.received(), "");
}

// slirp's gateway (10.0.2.2) is the host's loopback in slirp4netns unless disabled; and 127.0.0.1 in the
// sandbox is the sandbox's own loopback.
TEST_P(NetworkTest, OnCannotReachTheHostsLoopback) {
  HostServer server("127.0.0.1");
  std::string port = std::to_string(server.port());
  RunResult r =
      Run(Connects({"10.0.2.2:" + port, "127.0.0.1:" + port}), [](auto& spec) { spec.network = true; });
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("failed 10.0.2.2:" + port), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("failed 127.0.0.1:" + port), std::string::npos) << r.stdout_data;
  EXPECT_EQ(server.received(), "");
}

// Private ranges, the metadata address and a name rebound to a private address (written into the
// sandbox's /etc/hosts, as a hostile DNS answer would be) all meet an unreachable route at once.
TEST_P(NetworkTest, PrivateMetadataAndReboundNamesAreUnreachable) {
  std::string code =
      "import os\n"
      "try:\n"
      "    open('/etc/hosts', 'a').write('10.9.8.7 rebound.example\\n')\n"
      "except OSError:\n"
      "    pass\n" +
      Connects({"169.254.169.254:80", "10.9.8.7:80", "172.16.0.1:80", "192.168.1.1:80", "100.64.0.1:80"}) +
      "import socket\n"
      "try:\n"
      "    socket.create_connection(('rebound.example', 80), timeout=5); print('ok rebound')\n"
      "except OSError as e:\n"
      "    print('failed rebound', e)\n";
  RunResult r = Run(code, [](auto& spec) { spec.network = true; });
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data.find("ok "), std::string::npos) << r.stdout_data;
  for (const char* t :
       {"169.254.169.254:80 EHOSTUNREACH", "10.9.8.7:80 EHOSTUNREACH", "172.16.0.1:80 EHOSTUNREACH",
        "192.168.1.1:80 EHOSTUNREACH", "100.64.0.1:80 EHOSTUNREACH"})
    EXPECT_NE(r.stdout_data.find(std::string("failed ") + t), std::string::npos) << t << " in\n"
                                                                                 << r.stdout_data;
  if (GetParam() == "root") {
    EXPECT_NE(r.stdout_data.find("failed rebound"), std::string::npos) << r.stdout_data;
  }
}

// The rules are routes: changing them takes CAP_NET_ADMIN, which nothing in the sandbox holds; raw
// sockets take CAP_NET_RAW, likewise withheld.
TEST_P(NetworkTest, RoutesCannotBeChangedAndRawSocketsAreRefused) {
  std::string code =
      "import subprocess, socket\n"
      "for cmd in (['ip', 'route', 'del', '10.0.0.0/8'], ['ip', 'route', 'replace', 'default', 'via', "
      "'10.0.2.2'],\n"
      "            ['ip', 'link', 'set', 'tap0', 'down']):\n"
      "    r = subprocess.run(['/usr/sbin/ip'] + cmd[1:], capture_output=True, text=True)\n"
      "    print('CHANGED' if r.returncode == 0 else 'refused', ' '.join(cmd), r.stderr.strip())\n"
      "for kind in (socket.SOCK_RAW,):\n"
      "    try:\n"
      "        socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP); print('RAW OPENED')\n"
      "    except OSError as e:\n"
      "        print('raw refused', e)\n"
      "try:\n"
      "    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('PACKET OPENED')\n"
      "except OSError as e:\n"
      "    print('packet refused', e)\n"
      "print(subprocess.run(['/usr/sbin/ip', 'route'], capture_output=True, text=True).stdout)\n";
  RunResult r = Run(code, [](auto& spec) { spec.network = true; });
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data.find("CHANGED"), std::string::npos) << r.stdout_data;
  EXPECT_EQ(r.stdout_data.find("OPENED"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("unreachable 10.0.0.0/8"), std::string::npos) << r.stdout_data;
}

// The sandbox's resolver is slirp's, which forwards to the host's. Without a resolver that answers on
// this host there is nothing to compare with, so the test skips.
TEST_P(NetworkTest, DnsResolvesThroughTheUserModeStack) {
  const char* name = "deb.debian.org";
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  if (getaddrinfo(name, nullptr, &hints, &res) != 0) GTEST_SKIP() << "the host cannot resolve " << name;
  freeaddrinfo(res);
  RunResult r =
      Run("import socket\n"
          "print(open('/etc/resolv.conf').read().strip())\n"
          "print('resolved', socket.gethostbyname('deb.debian.org'))\n",
          [](auto& spec) { spec.network = true; });
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("nameserver 10.0.2.3"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("resolved "), std::string::npos) << r.stdout_data;
}

// A simple index (testdata/network/simple_index.py) on the host's address, started for the test.
class HostIndex {
 public:
  explicit HostIndex(const std::string& address) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      std::string script = std::string(KILN_SOURCE_DIR) + "/testdata/network/simple_index.py";
      execl("/usr/bin/python3", "python3", script.c_str(), address.c_str(), nullptr);
      _exit(127);
    }
    close(out[1]);
    char buf[16] = {};
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 60'000) > 0 && read(out[0], buf, sizeof buf - 1) > 0) port_ = std::atoi(buf);
    out_ = out[0];  // open until the server is gone: it never writes into a closed pipe
  }
  ~HostIndex() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0, out_ = -1;
};

// What E2B code does first with network: root installs a package. pip reaches an index the test serves on
// the host; the package lands in the sandbox's /usr/local layer only.
TEST(NetworkRootTest, PipInstallsFromAnIndexOnTheHost) {
  if (geteuid() != 0) GTEST_SKIP() << "no uid 0 in the sandbox without host root";
  if (!HaveHelper()) GTEST_SKIP() << "slirp4netns is not installed";
  if (access("/usr/lib/python3/dist-packages/pip", F_OK) != 0) GTEST_SKIP() << "python3-pip is not installed";
  std::string host = HostAddress();
  if (host.empty()) GTEST_SKIP() << "the host has no non-loopback IPv4 address";
  HostIndex index(host);
  ASSERT_GT(index.port(), 0) << "the index did not start";
  std::string url = "http://" + host + ":" + std::to_string(index.port()) + "/simple/";
  RunResult r = RunPython(
      "root",
      "import subprocess, sys\n"
      "r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-cache-dir', "
      "'--break-system-packages',\n"
      "                    '--disable-pip-version-check', '--trusted-host', '" +
          host + "', '--index-url', '" + url +
          "', 'kiln-tiny'], capture_output=True, text=True)\n"
          "print(r.returncode, r.stdout[-400:], r.stderr[-400:])\n"
          "r = subprocess.run([sys.executable, '-c', 'import kiln_tiny; print(\"answer\", kiln_tiny.ANSWER, "
          "kiln_tiny.__file__)'], capture_output=True, text=True)\n"
          "print(r.stdout, r.stderr)\n",
      [&](sandbox::SandboxSpec& spec) {
        spec.network = true;
        spec.network_rules.allow_out = {host};
        spec.limits.timeout_ms = 120'000;
      });
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("answer 42 /usr/local/lib/python3"), std::string::npos) << r.stdout_data;
  EXPECT_NE(access("/usr/local/lib/python3.11/dist-packages/kiln_tiny", F_OK), 0) << "reached the host";
}

}  // namespace
}  // namespace kiln::runtime
