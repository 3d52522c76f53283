// Attack tests for the writable root: the sandbox's root (as root inside) fills its disk, exhausts its
// inodes, rewrites /usr and /etc and tries to reach the read-only layer under them; each attempt must stay
// inside the sandbox's own bounded, private, discarded layer.
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "kiln/base/ids.h"
#include "kiln/base/strings.h"
#include "kiln/client/envd_client.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

constexpr int64_t kMiB = 1 << 20;

std::string ReadHostFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Shmem (tmpfs pages, everywhere on the host) from /proc/meminfo, in bytes.
int64_t HostShmemBytes() {
  std::istringstream in(ReadHostFile("/proc/meminfo"));
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "Shmem:") return kib * 1024;
  }
  return -1;
}

int64_t HostFreeBytes(const std::string& path) {
  struct statvfs vfs {};
  if (statvfs(path.c_str(), &vfs) != 0) return -1;
  return static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
}

class WritableRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Runtime>> rt = Runtime::Create();
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value();
    if (!runtime_->capabilities().privileged)
      GTEST_SKIP() << "needs root: the sandbox's root is uid 0 inside";
  }

  SandboxInfo Create(const std::function<void(sandbox::SandboxSpec&)>& tweak = {}) {
    CreateOptions options;
    options.spec.limits.timeout_ms = 120'000;
    if (tweak) tweak(options.spec);
    Result<SandboxInfo> info = runtime_->CreateSandbox(options);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : SandboxInfo{};
  }

  // Runs `command` with bash in `box` as `user`; stdout and stderr together.
  std::string Sh(const SandboxInfo& box, const std::string& command, const std::string& user = "root") {
    client::EnvdClient client(box.socket_path, box.access_token);
    std::string out;
    client::ProcessCallbacks cb;
    cb.on_stdout = [&](std::string_view d) { out += d; };
    cb.on_stderr = [&](std::string_view d) { out += d; };
    client::StartOptions opts;
    opts.user = user;
    Result<client::ProcessExit> r = client.Start({"/bin/bash", {"-c", command}}, opts, cb);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return out;
  }

  std::unique_ptr<Runtime> runtime_;
};

// The root disk is a tmpfs in the sandbox's memory: writing without end stops with ENOSPC at its bound,
// for the root layer and for /usr's upper layer (the same disk), and the host's disks do not shrink.
TEST_F(WritableRootTest, FillingTheDiskIsEnospcInsideAndCostsTheHostNoDisk) {
  int64_t host_root_free = HostFreeBytes("/"), host_tmp_free = HostFreeBytes("/tmp");
  SandboxInfo box = Create([](sandbox::SandboxSpec& s) { s.limits.disk_bytes = 96 * kMiB; });
  std::string out = Sh(box,
                       "python3 - <<'EOF'\n"
                       "import errno, os\n"
                       "st = os.statvfs('/')\n"
                       "print(st.f_blocks * st.f_frsize)\n"
                       "def fill(path):\n"
                       "    n = 0\n"
                       "    try:\n"
                       "        with open(path, 'wb') as f:\n"
                       "            while True: f.write(b'x' * 65536); f.flush(); n += 65536\n"
                       "    except OSError as e: return '%s %d' % (errno.errorcode[e.errno], n)\n"
                       "os.makedirs('/var/lib', exist_ok=True)\n"
                       "print(fill('/var/lib/blob'))\n"
                       "print(fill('/usr/blob'))\n"
                       "EOF");
  int64_t host_root_after = HostFreeBytes("/"), host_tmp_after = HostFreeBytes("/tmp");
  std::vector<std::string> lines = Split(std::string(Trim(out)), '\n');
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0], std::to_string(96 * kMiB));
  std::vector<std::string> root = Split(lines[1], ' '), usr = Split(lines[2], ' ');
  ASSERT_EQ(root.size(), 2u) << out;
  ASSERT_EQ(usr.size(), 2u) << out;
  EXPECT_EQ(root[0], "ENOSPC") << out;
  EXPECT_GE(std::stoll(root[1]), 90 * kMiB);  // the whole disk, less the mount points and /etc
  EXPECT_LE(std::stoll(root[1]), 96 * kMiB);
  EXPECT_EQ(usr[0], "ENOSPC") << out;  // /usr's writes land on the same, now full, disk
  EXPECT_LT(std::stoll(usr[1]), 1 * kMiB);
  // Other processes use the host's disks meanwhile: only a loss near the 96 MiB written would be ours.
  EXPECT_GT(host_root_after, host_root_free - 48 * kMiB);
  EXPECT_GT(host_tmp_after, host_tmp_free - 48 * kMiB);
  EXPECT_FALSE(std::filesystem::exists("/usr/blob")) << "the sandbox's /usr/blob reached the host";
}

// Every tmpfs the sandbox has is bounded in bytes and in inodes, and each writable one is pushed past both
// bounds as root (who has no reserved blocks to dig into): ENOSPC each time, never more than the bound.
TEST_F(WritableRootTest, EveryTmpfsIsBoundedInBytesAndInodes) {
  SandboxInfo box = Create([](sandbox::SandboxSpec& s) {
    s.limits.disk_bytes = 16 * kMiB;
    s.limits.tmpfs_tmp_bytes = 8 * kMiB;
    s.limits.tmpfs_home_bytes = 12 * kMiB;
  });
  // mountinfo: "... MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS"
  std::string options = Sh(box,
                           "awk '{ for (i = 7; i < NF; i++) if ($i == \"-\") { if ($(i + 1) == \"tmpfs\") "
                           "print $5, $(i + 3); break } }' /proc/self/mountinfo");
  std::vector<std::string> tmpfs = Split(std::string(Trim(options)), '\n');
  EXPECT_GE(tmpfs.size(), 5u) << options;  // /, /.kiln-layers, /dev/shm, /home/user, /tmp
  for (const std::string& line : tmpfs) {
    EXPECT_NE(line.find("size="), std::string::npos) << "unbounded in bytes: " << line;
    EXPECT_NE(line.find("nr_inodes="), std::string::npos) << "unbounded in inodes: " << line;
  }
  // Run by root where only root may write (the root disk), by the user elsewhere.
  auto exhaust = [&](const std::string& dirs, const std::string& user) {
    return Sh(box,
              "python3 - " + dirs +
                  " <<'EOF'\n"
                  "import errno, os, shutil, sys\n"
                  "for d in sys.argv[1:]:\n"
                  "    os.makedirs(d)\n"
                  "    st = os.statvfs(d)\n"
                  "    n, files = 0, 'none'\n"
                  "    try:\n"
                  "        while n < 200000: open('%s/f%d' % (d, n), 'w').close(); n += 1\n"
                  "    except OSError as e: files = errno.errorcode[e.errno]\n"
                  "    shutil.rmtree(d); os.makedirs(d)\n"
                  "    size, data = 0, 'none'\n"
                  "    try:\n"
                  "        with open(d + '/blob', 'wb') as f:\n"
                  "            while size < (1 << 30): f.write(b'x' * 65536); f.flush(); size += 65536\n"
                  "    except OSError as e: data = errno.errorcode[e.errno]\n"
                  "    shutil.rmtree(d)\n"
                  "    print(d, st.f_files, files, n, st.f_blocks * st.f_frsize, data, size)\n"
                  "EOF",
              user);
  };
  std::string out = exhaust("/var/many", "root") + exhaust("/tmp/many /home/user/many /dev/shm/many", "user");
  std::map<std::string, std::pair<int64_t, int64_t>> bounds = {{"/var/many", {4096, 16 * kMiB}},
                                                               {"/tmp/many", {2048, 8 * kMiB}},
                                                               {"/home/user/many", {3072, 12 * kMiB}},
                                                               {"/dev/shm/many", {1024, 64 * kMiB}}};
  std::vector<std::string> lines = Split(std::string(Trim(out)), '\n');
  ASSERT_EQ(lines.size(), bounds.size()) << out;
  for (const std::string& line : lines) {
    std::vector<std::string> f = Split(line, ' ');
    ASSERT_EQ(f.size(), 7u) << line;
    auto [inodes, bytes] = bounds.at(f[0]);
    EXPECT_EQ(std::stoll(f[1]), inodes) << line;
    EXPECT_EQ(f[2], "ENOSPC") << line;
    EXPECT_LE(std::stoll(f[3]), inodes) << line;
    EXPECT_GE(std::stoll(f[3]), inodes - 128) << line;  // less what the directory already holds
    EXPECT_EQ(std::stoll(f[4]), bytes) << line;
    EXPECT_EQ(f[5], "ENOSPC") << line;
    EXPECT_LE(std::stoll(f[6]), bytes) << line;
    EXPECT_GE(std::stoll(f[6]), bytes - 2 * kMiB) << line;
  }
}

// Root inside owns /usr (an idmapped lower layer) and may change it and /etc; the change is the sandbox's
// own: a second sandbox running meanwhile sees the original, the host's files are untouched, and the
// unprivileged user still cannot write there.
TEST_F(WritableRootTest, RootChangesUsrAndEtcPrivately) {
  std::string probe = "kiln-probe-" + RandomHex(8);
  std::string host_os_release = ReadHostFile("/usr/lib/os-release");
  ASSERT_FALSE(host_os_release.empty());
  SandboxInfo a = Create(), b = Create();
  EXPECT_EQ(
      Sh(a, "stat -c %U /usr/bin/ls /usr/lib; touch /usr/bin/" + probe + " 2>&1 | sed 's/.*: //'", "user"),
      "root\nroot\nPermission denied\n");
  EXPECT_EQ(
      Sh(a, "set -e; printf '#!/bin/sh\\necho hi\\n' > /usr/bin/" + probe + "; chmod +x /usr/bin/" + probe +
                "; echo changed >> /usr/lib/os-release; echo x > /etc/" + probe + "; mkdir -p /opt/" + probe +
                "; " + probe + "; tail -1 /usr/lib/os-release; cat /etc/" + probe),
      "hi\nchanged\nx\n");
  EXPECT_EQ(Sh(b, "ls /usr/bin/" + probe + " /etc/" + probe + " /opt/" + probe +
                      " 2>&1 | grep -c 'No such file'; tail -1 /usr/lib/os-release | grep -c changed"),
            "3\n0\n");
  EXPECT_FALSE(std::filesystem::exists("/usr/bin/" + probe));
  EXPECT_FALSE(std::filesystem::exists("/etc/" + probe));
  EXPECT_FALSE(std::filesystem::exists("/opt/" + probe));
  EXPECT_EQ(ReadHostFile("/usr/lib/os-release"), host_os_release);
}

// What the sandbox wrote lives in its memory only while it runs: killed, its disk's pages are freed and no
// mount of it is left on the host. (Shmem counts every tmpfs of the host: the margins absorb other users.)
TEST_F(WritableRootTest, TheLayerIsGoneWhenTheSandboxDies) {
  std::string mounts_before = ReadHostFile("/proc/self/mountinfo");
  int64_t before = HostShmemBytes();
  SandboxInfo box = Create([](sandbox::SandboxSpec& s) {
    s.limits.disk_bytes = 256 * kMiB;
    s.limits.memory_bytes = 512 * kMiB;
  });
  EXPECT_EQ(Sh(box, "head -c 100M /dev/zero > /usr/blob && head -c 100M /dev/zero > /var-blob && echo ok"),
            "ok\n");
  int64_t alive = HostShmemBytes();
  EXPECT_GT(alive - before, 150 * kMiB) << "the sandbox's 200 MiB are not in memory";
  ASSERT_TRUE(runtime_->Kill(box.id).ok());
  int64_t after = alive;
  for (int i = 0; i < 100 && alive - after < 150 * kMiB; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = HostShmemBytes();
  }
  EXPECT_GT(alive - after, 150 * kMiB) << "the killed sandbox's disk still holds memory";
  std::string mounts_after = ReadHostFile("/proc/self/mountinfo");
  EXPECT_EQ(mounts_after.find("kiln-layers"), std::string::npos) << mounts_after;
  EXPECT_EQ(mounts_after, mounts_before);
}

// The sandbox's root tries to uncover or write the read-only lower layer it can name from mountinfo:
// remounting, unmounting the cover, a new mount namespace, /proc's views of the root, the host path of the
// layer. Each fails, and nothing of the host's /usr changes.
TEST_F(WritableRootTest, TheLowerLayerCannotBeUncoveredOrRemounted) {
  std::string probe = "kiln-probe-" + RandomHex(8);
  SandboxInfo box = Create();
  std::string mountinfo = Sh(box, "cat /proc/self/mountinfo");
  ASSERT_NE(mountinfo.find("/.kiln-layers/0/lower ro,"), std::string::npos) << mountinfo;
  std::string out =
      Sh(box,
         "try() { if \"$@\" >/dev/null 2>&1; then echo \"ESCAPED: $*\"; else echo denied; fi; }\n"
         "try mount -o remount,rw /.kiln-layers\n"
         "try umount /.kiln-layers\n"
         "try umount -l /.kiln-layers\n"
         "try mount -o remount,rw /usr\n"
         "mkdir -p /var/m; try mount --bind /.kiln-layers/0/lower /var/m\n"
         "try unshare -Urm sh -c 'umount /.kiln-layers && ls /.kiln-layers/0/lower/bin'\n"
         "try unshare -m sh -c 'umount /.kiln-layers && ls /.kiln-layers/0/lower/bin'\n"
         "try touch /.kiln-layers/" +
             probe +
             "\n"
             "try ls /.kiln-layers/0/lower/bin\n"
             "try ls /proc/1/root/.kiln-layers/0/lower/bin\n"
             "try ls /proc/self/root/.kiln-layers/0/upper\n"
             "try touch /proc/1/root/.kiln-layers/0/lower/bin/" +
             probe +
             "\n"
             "lower=$(sed -n 's/.*lowerdir=\\([^,]*\\).*/\\1/p' /proc/self/mountinfo | head -1)\n"
             "test -n \"$lower\" && try ls \"$lower/bin\"\n"
             "test -n \"$lower\" && try touch \"$lower/bin/" +
             probe +
             "\"\n"
             "try python3 -c 'import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
             "sys.exit(0 if libc.syscall(428, -100, b\"/usr\", 1) >= 0 else 1)'\n");
  std::string all_denied;
  for (int i = 0; i < 15; ++i) all_denied += "denied\n";
  EXPECT_EQ(out, all_denied);
  EXPECT_FALSE(std::filesystem::exists("/usr/bin/" + probe));
}

}  // namespace
}  // namespace kiln::runtime
