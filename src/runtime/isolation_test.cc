// Attack tests: hostile code in a real sandbox tries to break each isolation promise; each attempt must fail
// and leave the host untouched. Every attack runs twice: as the sandbox's `user` and as its root (uid 0 of
// the sandbox's user namespace, with root's bounded capabilities), which E2B code asks for routinely.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "kiln/base/ids.h"
#include "kiln/runtime/run.h"

namespace kiln::runtime {
namespace {

RunResult RunPython(const std::string& user, const std::string& code,
                    const std::function<void(RunRequest&)>& tweak = {}) {
  RunRequest req;
  req.user = user;
  req.spec.files["/home/user/attack.py"] = code;
  req.spec.limits.timeout_ms = 20'000;
  req.argv = {"python3", "/home/user/attack.py"};
  if (tweak) tweak(req);
  Result<RunResult> r = runtime::Run(req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RunResult{};
}

class IsolationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "root" && geteuid() != 0)
      GTEST_SKIP() << "without root on the host the sandbox has no uid 0 to run as";
  }
  bool root() const { return GetParam() == "root"; }
  RunResult Attack(const std::string& code, const std::function<void(RunRequest&)>& tweak = {}) {
    return RunPython(GetParam(), code, tweak);
  }
};

INSTANTIATE_TEST_SUITE_P(As, IsolationTest, ::testing::Values("user", "root"),
                         [](const auto& info) { return info.param; });

TEST(IsolationUserTest, RunsAsUnprivilegedUserWithoutCapabilities) {
  RunResult r =
      RunPython("user",
                "import os\n"
                "status = open('/proc/self/status').read()\n"
                "caps = [l for l in status.splitlines() if l.startswith(('CapEff', 'CapPrm', 'NoNewPrivs', "
                "'Seccomp:'))]\n"
                "print(os.getuid(), os.geteuid(), os.getgid(), *caps)\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("1000 1000 1000"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("CapEff:\t0000000000000000"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("CapPrm:\t0000000000000000"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("NoNewPrivs:\t1"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("Seccomp:\t2"), std::string::npos) << r.stdout_data;
}

// The sandbox's PID 1 (kiln-envd) is the most privileged process inside: it keeps only the capabilities it
// needs to drop to `user` and manage files (CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, KILL, SETGID,
// SETUID, SETPCAP = 0x1ef), bounded so nothing it starts can regain more, with no_new_privs and seccomp.
// Checked from inside, as hostile code would look.
TEST(IsolationUserTest, SandboxInitKeepsOnlyItsBoundedCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "without root the sandbox has no uid 0 for its init";
  RunResult r =
      RunPython("user",
                "status = open('/proc/1/status').read()\n"
                "for l in status.splitlines():\n"
                "    if l.startswith(('Cap', 'NoNewPrivs', 'Seccomp:')): print(l.replace('\\t', ' '))\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  for (const char* line :
       {"CapInh: 0000000000000000", "CapPrm: 00000000000001ef", "CapEff: 00000000000001ef",
        "CapBnd: 00000000000001ef", "CapAmb: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2"}) {
    EXPECT_NE(r.stdout_data.find(std::string(line) + "\n"), std::string::npos) << line << " in\n"
                                                                               << r.stdout_data;
  }
}

// Root in the sandbox (kiln run --user root, E2B's user: 'root', sudo) holds kSandboxRootCaps within the
// init's bounding set (CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, KILL, SETGID, SETUID = 0xef; the init
// has no FSETID or NET_BIND_SERVICE to pass on), bounded to the same, with no_new_privs and seccomp.
TEST(IsolationUserTest, SandboxRootHasOnlyRootsBoundedCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "without root on the host the sandbox has no uid 0 to run as";
  RunResult r =
      RunPython("root",
                "import os\n"
                "print('ids', os.getuid(), os.geteuid(), os.getgid())\n"
                "for l in open('/proc/self/status').read().splitlines():\n"
                "    if l.startswith(('Cap', 'NoNewPrivs', 'Seccomp:')): print(l.replace('\\t', ' '))\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  for (const char* line :
       {"ids 0 0 0", "CapInh: 0000000000000000", "CapPrm: 00000000000000ef", "CapEff: 00000000000000ef",
        "CapBnd: 00000000000000ef", "CapAmb: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2"}) {
    EXPECT_NE(r.stdout_data.find(std::string(line) + "\n"), std::string::npos) << line << " in\n"
                                                                               << r.stdout_data;
  }
}

TEST_P(IsolationTest, HostSecretsAreInvisible) {
  std::string planted = "/tmp/kiln-planted-" + RandomHex(8);
  std::ofstream(planted) << "host secret";
  RunResult r = Attack(
      "import os\n"
      "for p in ['/etc/shadow', '/etc/gshadow', '/root', '/var', '/run', '" +
      planted +
      "',\n"
      "          '/home/' + 'root', '/etc/sudoers', '/etc/ssh']:\n"
      "    print(p, 'VISIBLE' if os.path.exists(p) else 'absent')\n"
      "print(sorted(os.listdir('/home')), sorted(os.listdir('/tmp')))\n");
  unlink(planted.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data.find("VISIBLE"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("['user'] []"), std::string::npos) << r.stdout_data;
}

TEST_P(IsolationTest, HostProcessesAreInvisible) {
  RunResult r = Attack(
      "import os\n"
      "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
      "names = [open(f'/proc/{p}/comm').read().strip() for p in pids]\n"
      "print(len(pids), pids, names)\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  // Only init (kiln-envd) and the program itself.
  EXPECT_EQ(r.stdout_data.rfind("2 [1, 2]", 0), 0u) << r.stdout_data;
  EXPECT_EQ(r.stdout_data.find("isolation_test"), std::string::npos);
}

TEST_P(IsolationTest, CannotWriteOutsideHomeAndTmp) {
  RunResult r = Attack(
      "import errno\n"
      "for p in ['/usr/evil', '/etc/evil', '/evil', '/bin/evil', '/proc/sys/kernel/hostname', '/dev/evil']:\n"
      "    try:\n"
      "        open(p, 'w').write('x'); print(p, 'WROTE')\n"
      "    except OSError as e:\n"
      "        print(p, errno.errorcode[e.errno])\n"
      "open('/home/user/ok', 'w').write('fine'); open('/tmp/ok', 'w').write('fine'); print('home ok')\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data.find("WROTE"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("home ok"), std::string::npos);
  struct stat st {};
  EXPECT_NE(stat("/usr/evil", &st), 0);
  EXPECT_NE(stat("/evil", &st), 0);
}

TEST_P(IsolationTest, CannotReachHostLoopback) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  RunResult r = Attack(
      "import socket\n"
      "try:\n"
      "    socket.create_connection(('127.0.0.1', " +
      std::to_string(port) +
      "), timeout=2); print('CONNECTED')\n"
      "except OSError as e:\n"
      "    print('refused', e)\n"
      "print([n for _, n in socket.if_nameindex()])\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find("refused"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("['lo']"), std::string::npos) << r.stdout_data;
  // Nothing reached the host listener.
  fcntl(listener, F_SETFL, O_NONBLOCK);
  EXPECT_LT(accept(listener, nullptr, nullptr), 0);
  close(listener);
}

TEST_P(IsolationTest, DeniedSyscallsFailWithEperm) {
  // x86_64 numbers; each call is made with harmless arguments.
  RunResult r = Attack(
      "import ctypes, errno\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "calls = {'mount': 165, 'umount2': 166, 'unshare': 272, 'setns': 308, 'ptrace': 101, 'bpf': 321,\n"
      "         'perf_event_open': 298, 'keyctl': 250, 'add_key': 248, 'kexec_load': 246,\n"
      "         'init_module': 175, 'userfaultfd': 323, 'clock_settime': 227, 'reboot': 169,\n"
      "         'swapon': 167, 'open_by_handle_at': 304}\n"
      "args = {'unshare': (0x10000000,), 'userfaultfd': (1,)}\n"
      "for name, nr in calls.items():\n"
      "    rc = libc.syscall(nr, *args.get(name, (0, 0, 0, 0, 0)))\n"
      "    e = ctypes.get_errno()\n"
      "    print(name, rc, errno.errorcode.get(e, e))\n"
      "rc = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)\n"
      "print('clone(CLONE_NEWUSER)', rc, errno.errorcode.get(ctypes.get_errno()))\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  int lines = 0;
  for (size_t pos = 0; (pos = r.stdout_data.find('\n', pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 17) << r.stdout_data;
  size_t eperm = 0;
  for (size_t pos = 0; (pos = r.stdout_data.find(" -1 EPERM\n", pos)) != std::string::npos; ++pos) ++eperm;
  EXPECT_EQ(eperm, 17u) << r.stdout_data;
}

TEST_P(IsolationTest, SetuidBinaryGrantsNothing) {
  std::string dir = "/tmp/kiln-suid-" + RandomHex(6);
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  std::string copy = dir + "/id";
  {
    std::ifstream src("/usr/bin/id", std::ios::binary);
    std::ofstream dst(copy, std::ios::binary);
    dst << src.rdbuf();
  }
  ASSERT_EQ(chmod(copy.c_str(), 04755), 0);  // setuid root on the host
  RunResult r = Attack(
      "import subprocess\nprint(subprocess.run(['/opt/suid/id'], capture_output=True, text=True).stdout)\n",
      [&](RunRequest& req) {
        req.spec.mounts.push_back({dir, "/opt/suid", false, false});
      });
  unlink(copy.c_str());
  rmdir(dir.c_str());
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_NE(r.stdout_data.find(root() ? "uid=0(root)" : "uid=1000(user)"), std::string::npos)
      << r.stdout_data;
  EXPECT_EQ(r.stdout_data.find("euid="), std::string::npos) << r.stdout_data;
}

}  // namespace
}  // namespace kiln::runtime
