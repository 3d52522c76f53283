// `sudo` in a real sandbox (envd as PID 1), through envd's process API as the E2B SDK drives it: the command
// runs as root with stdin, output, terminal and exit code passed through, sudo's environment policy keeps a
// command's envs from leaking, and the socket refuses outsiders and garbage.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "kiln/client/envd_client.h"
#include "kiln/envd/sudo.h"
#include "kiln/runtime/runtime.h"

namespace kiln::envd {
namespace {

struct Output {
  int exit_code = -100;
  std::string out, err;
};

class SudoSandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    auto rt = runtime::Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value().release();
  }
  static void TearDownTestSuite() {
    delete runtime_;
    runtime_ = nullptr;
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "sandboxes with a root (uid 0) need root on the host";
    info_ = NewSandbox(false);
  }
  void TearDown() override {
    if (runtime_ && !info_.id.empty()) (void)runtime_->Kill(info_.id);
  }
  static runtime::SandboxInfo NewSandbox(bool network) {
    runtime::CreateOptions options;
    options.spec.limits.timeout_ms = 120'000;
    options.spec.network = network;
    auto info = runtime_->CreateSandbox(options);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : runtime::SandboxInfo{};
  }
  // `bash -l -c CMD` as E2B's commands.run sends it: the login shell's PATH (the sandbox's /etc/profile) must
  // find sudo by itself.
  static Output Bash(const runtime::SandboxInfo& info, const std::string& cmd,
                     const std::string& user = "user", std::map<std::string, std::string> envs = {}) {
    client::EnvdClient client(info.socket_path, info.access_token);
    Output o;
    client::ProcessCallbacks cb;
    cb.on_stdout = [&](std::string_view d) { o.out += d; };
    cb.on_stderr = [&](std::string_view d) { o.err += d; };
    client::StartOptions opts;
    opts.user = user;
    opts.timeout_ms = 60'000;
    auto r = client.Start({"/bin/bash", {"-l", "-c", cmd}, std::move(envs), std::nullopt}, opts, cb);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) o.exit_code = r->exit_code;
    return o;
  }
  Output Bash(const std::string& cmd, const std::string& user = "user",
              std::map<std::string, std::string> envs = {}) {
    return Bash(info_, cmd, user, std::move(envs));
  }

  static inline runtime::Runtime* runtime_ = nullptr;
  runtime::SandboxInfo info_;
};

TEST_F(SudoSandboxTest, RunsTheCommandAsRoot) {
  Output o = Bash("command -v sudo; id -u; sudo id -u; sudo whoami; sudo -n true && echo ok");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "/opt/kiln/bin/sudo\n1000\n0\nroot\nok\n") << o.err;
}

TEST_F(SudoSandboxTest, PassesStdinOutputAndExitCode) {
  EXPECT_EQ(Bash("echo hi | sudo cat").out, "hi\n");
  Output err = Bash("sudo sh -c 'echo oops >&2'");
  EXPECT_EQ(err.err, "oops\n");
  EXPECT_EQ(Bash("sudo sh -c 'exit 7'").exit_code, 7);
  EXPECT_EQ(Bash("sudo sh -c 'kill -TERM $$'; echo $?").out, "143\n");
  Output missing = Bash("sudo /no/such/program");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("sudo: /no/such/program: command not found"), std::string::npos) << missing.err;
}

TEST_F(SudoSandboxTest, OptionsAndUsage) {
  EXPECT_EQ(Bash("sudo -u user id -u").out, "1000\n");
  EXPECT_EQ(Bash("cd /tmp && sudo pwd && sudo -i -u user pwd").out, "/tmp\n/home/user\n");
  EXPECT_EQ(Bash("sudo -s -- echo 'a b'").out, "a b\n");
  EXPECT_EQ(Bash("sudo -k; sudo -v; echo $?").out, "0\n");
  Output usage = Bash("sudo");
  EXPECT_EQ(usage.exit_code, 1);
  EXPECT_NE(usage.err.find("usage: sudo"), std::string::npos) << usage.err;
  Output bad = Bash("sudo -Z id");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("invalid option -- 'Z'"), std::string::npos) << bad.err;
  Output nobody = Bash("sudo -u nosuchuser id");
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_NE(nobody.err.find("unknown user nosuchuser"), std::string::npos) << nobody.err;
}

TEST_F(SudoSandboxTest, WritesWhereOnlyRootMay) {
  ASSERT_EQ(Bash("mkdir -m 755 /tmp/rootonly", "root").exit_code, 0);
  EXPECT_NE(Bash("touch /tmp/rootonly/f 2>/dev/null").exit_code, 0);
  EXPECT_EQ(Bash("echo data | sudo tee /tmp/rootonly/f >/dev/null && stat -c %U /tmp/rootonly/f").out,
            "root\n");
}

TEST_F(SudoSandboxTest, CallEnvsDoNotLeakThroughSudoOrIntoLaterCommands) {
  Output sudo_env = Bash("sudo env", "user", {{"KILN_SCOPED", "1"}});
  EXPECT_EQ(sudo_env.out.find("KILN_SCOPED"), std::string::npos) << sudo_env.out;
  EXPECT_NE(sudo_env.out.find("SUDO_USER=user\n"), std::string::npos) << sudo_env.out;
  EXPECT_NE(sudo_env.out.find("SUDO_UID=1000\n"), std::string::npos) << sudo_env.out;
  EXPECT_NE(sudo_env.out.find("HOME=/root\n"), std::string::npos) << sudo_env.out;
  EXPECT_EQ(Bash("env").out.find("KILN_SCOPED"), std::string::npos);
  EXPECT_EQ(Bash("sudo env").out.find("KILN_SCOPED"), std::string::npos);
  // The policy is sudo's, not a filter that hides everything: -E and VAR=value carry variables on purpose.
  EXPECT_NE(Bash("sudo -E env", "user", {{"KILN_SCOPED", "1"}}).out.find("KILN_SCOPED=1\n"),
            std::string::npos);
  EXPECT_EQ(Bash("sudo KILN_SCOPED=2 printenv KILN_SCOPED").out, "2\n");
}

// A terminal stays a terminal: the command gets the caller's pty as stdin/stdout, and `sudo -i` is an
// interactive login shell on it.
TEST_F(SudoSandboxTest, TerminalStaysATerminal) {
  const std::string script =
      "import os, sys\n"
      "pid, fd = os.forkpty()\n"
      "if pid == 0:\n"
      "    os.execvp('sudo', ['sudo'] + sys.argv[1:])\n"
      "os.write(fd, b'echo A$((40+2)); tty; exit 3\\n')\n"
      "out = b''\n"
      "while True:\n"
      "    try: chunk = os.read(fd, 4096)\n"
      "    except OSError: break\n"
      "    if not chunk: break\n"
      "    out += chunk\n"
      "status = os.waitpid(pid, 0)[1]\n"
      "sys.stdout.write(out.decode(errors='replace'))\n"
      "print('exit', os.waitstatus_to_exitcode(status))\n";
  client::EnvdClient client(info_.socket_path, info_.access_token);
  ASSERT_TRUE(client.Write("/tmp/pty.py", script).ok());
  Output tty = Bash("python3 /tmp/pty.py sh -c 'test -t 0 && test -t 1 && echo both-tty'");
  EXPECT_NE(tty.out.find("both-tty"), std::string::npos) << tty.out << tty.err;
  Output login = Bash("python3 /tmp/pty.py -i");
  EXPECT_NE(login.out.find("A42"), std::string::npos) << login.out << login.err;
  EXPECT_NE(login.out.find("/dev/pts/"), std::string::npos) << login.out;
  EXPECT_NE(login.out.find("exit 3"), std::string::npos) << login.out;
}

// Killing the command that runs sudo (as the SDK's commands.kill does) kills what sudo started.
TEST_F(SudoSandboxTest, KillingTheCallerKillsTheCommand) {
  client::EnvdClient client(info_.socket_path, info_.access_token);
  std::atomic<uint32_t> pid{0};
  std::thread runner([&] {
    client::ProcessCallbacks cb;
    cb.on_start = [&](uint32_t p) { pid = p; };
    client::StartOptions opts;
    opts.user = "user";
    (void)client.Start({"/bin/bash", {"-l", "-c", "sudo sleep 4242"}, {}, std::nullopt}, opts, cb);
  });
  auto sleeping = [&] { return Bash("pgrep -x sleep >/dev/null && echo yes", "root").out == "yes\n"; };
  bool started = false;
  for (int i = 0; i < 100 && !(started = sleeping()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(started);
  ASSERT_TRUE(client.SendSignal(pid, SIGKILL).ok());
  runner.join();
  bool gone = false;
  for (int i = 0; i < 100 && !(gone = !sleeping()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(gone) << "the command sudo started outlived the killed caller";
}

// Root through sudo is the same bounded root as envd's `user: root`: no capability more.
TEST_F(SudoSandboxTest, SudoRootHasOnlyTheBoundedCapabilities) {
  const std::string caps = "grep -E '^Cap(Eff|Prm|Bnd)|^NoNewPrivs' /proc/self/status";
  Output via_sudo = Bash("sudo " + caps);
  Output as_root = Bash(caps, "root");
  EXPECT_EQ(via_sudo.exit_code, 0) << via_sudo.err;
  EXPECT_EQ(via_sudo.out, as_root.out);
  EXPECT_NE(via_sudo.out.find("NoNewPrivs:\t1"), std::string::npos) << via_sudo.out;
  // And it cannot leave: the isolation the sandbox promises holds for it.
  EXPECT_NE(
      Bash("sudo cat /proc/1/root/etc/shadow 2>/dev/null || sudo cat /etc/shadow 2>/dev/null").exit_code, 0);
  EXPECT_NE(Bash("sudo unshare -U true 2>/dev/null").exit_code, 0);
  EXPECT_NE(Bash("sudo mount -t tmpfs x /mnt 2>/dev/null").exit_code, 0);
}

// Hostile clients of the socket: garbage, a huge length, no descriptors, silence. Each gets an error or a
// closed connection, and sudo keeps working afterwards.
TEST_F(SudoSandboxTest, SocketRefusesGarbageAndEnvdSurvives) {
  const std::string script =
      "import os, socket, struct\n"
      "name = b'\\0kiln-envd-sudo-' + str(os.stat('/proc/self/ns/pid').st_ino).encode()\n"
      "def ask(data):\n"
      "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
      "    s.connect(name)\n"
      "    s.sendall(data)\n"
      "    s.shutdown(socket.SHUT_WR)\n"
      "    reply = b''\n"
      "    while True:\n"
      "        c = s.recv(65536)\n"
      "        if not c: break\n"
      "        reply += c\n"
      "    print(reply[4:].decode(errors='replace'))\n"
      "ask(b'\\xff\\xff\\xff\\xff' + b'x' * 100)\n"
      "ask(struct.pack('>I', 2) + b'{}')\n"
      "ask(b'\\x00\\x00')\n"
      "fds = [0, 1, 2, os.open('/', os.O_RDONLY)]\n"
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
      "s.connect(name)\n"
      "body = b'not json at all'\n"
      "socket.send_fds(s, [struct.pack('>I', len(body))], fds)\n"
      "s.sendall(body)\n"
      "print(s.recv(65536)[4:].decode())\n";
  client::EnvdClient client(info_.socket_path, info_.access_token);
  ASSERT_TRUE(client.Write("/tmp/garbage.py", script).ok());
  Output o = Bash("python3 /tmp/garbage.py");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("over the limit of 262144"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("expected 4 descriptors"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("the request ended before its length"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("request body is not valid JSON"), std::string::npos) << o.out;
  EXPECT_EQ(Bash("sudo id -u").out, "0\n");
  EXPECT_TRUE(client.Health().ok());
}

// Another sandbox, and the host, cannot use this sandbox's sudo: its abstract socket lives in the
// sandbox's own network namespace, with or without network access.
TEST_F(SudoSandboxTest, OutsidersCannotReachTheSocket) {
  std::string inode = Bash("stat -L -c %i /proc/self/ns/pid").out;
  ASSERT_FALSE(inode.empty());
  inode.pop_back();
  runtime::SandboxInfo other = NewSandbox(false);
  Output o = Bash(other,
                  "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); "
                  "s.connect(b'\\0kiln-envd-sudo-" +
                      inode + "')\" 2>&1 | tail -1");
  EXPECT_NE(o.out.find("ConnectionRefusedError"), std::string::npos) << o.out;
  (void)runtime_->Kill(other.id);

  runtime::SandboxInfo networked = NewSandbox(true);
  std::string net_inode = Bash(networked, "stat -L -c %i /proc/self/ns/pid").out;
  ASSERT_FALSE(net_inode.empty());
  net_inode.pop_back();
  EXPECT_EQ(Bash(networked, "sudo id -u").out, "0\n");
  std::string name = std::string(1, '\0') + "kiln-envd-sudo-" + net_inode;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name.data(), name.size());
  // A sandbox with network access has its own network namespace too (the user-mode stack is attached to
  // it), so the host does not even see the name. (envd's peer check, a caller outside its pid namespace,
  // stays as the second line of defence.)
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size()));
  int err = errno;
  ::close(fd);
  EXPECT_EQ(rc, -1) << "the host reached a networked sandbox's sudo socket";
  EXPECT_EQ(err, ECONNREFUSED) << std::strerror(err);
  (void)runtime_->Kill(networked.id);
}

}  // namespace
}  // namespace kiln::envd
