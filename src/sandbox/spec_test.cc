#include "kiln/sandbox/spec.h"

#include <gtest/gtest.h>

#include "kiln/sandbox/sandbox.h"

namespace kiln::sandbox {
namespace {

TEST(SpecTest, DefaultsAreValidAndSafe) {
  SandboxSpec spec;
  EXPECT_TRUE(spec.Validate().ok()) << spec.Validate().ToString();
  EXPECT_FALSE(spec.network);
  EXPECT_EQ(spec.workdir, "/home/user");
  EXPECT_GT(spec.limits.memory_bytes, 0);
  EXPECT_GT(spec.limits.pids, 0);
  EXPECT_GT(spec.limits.timeout_ms, 0);
  for (const std::string& name : spec.etc_files) {
    EXPECT_NE(name, "shadow");
    EXPECT_NE(name, "sudoers");
  }
  for (const BindMount& m : spec.mounts) EXPECT_FALSE(m.writable) << m.source;
}

TEST(SpecTest, ValidationNamesTheField) {
  SandboxSpec spec;
  spec.limits.memory_bytes = 1;
  Status s = spec.Validate();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("limits.memory_bytes"), std::string::npos) << s.message();

  spec = SandboxSpec();
  spec.files["/etc/passwd"] = "x";
  EXPECT_NE(spec.Validate().message().find("/home/user/ or /tmp/"), std::string::npos);

  spec = SandboxSpec();
  spec.files["/home/user/../../etc/x"] = "x";
  EXPECT_NE(spec.Validate().message().find(".."), std::string::npos);

  spec = SandboxSpec();
  spec.mounts.push_back({"relative", "", false, false});
  EXPECT_NE(spec.Validate().message().find("mounts["), std::string::npos);

  spec = SandboxSpec();
  spec.etc_files.push_back("../shadow");
  EXPECT_FALSE(spec.Validate().ok());

  spec = SandboxSpec();
  spec.env["A=B"] = "x";
  EXPECT_NE(spec.Validate().message().find("env"), std::string::npos);

  spec = SandboxSpec();
  spec.limits.cpus = -1;
  EXPECT_NE(spec.Validate().message().find("limits.cpus"), std::string::npos);
}

TEST(SpecTest, ZeroMeansUnlimited) {
  SandboxSpec spec;
  spec.limits.memory_bytes = 0;
  spec.limits.pids = 0;
  spec.limits.cpus = 0;
  spec.limits.timeout_ms = 0;
  EXPECT_TRUE(spec.Validate().ok());
}

TEST(SpecTest, OverlaysAreChecked) {
  SandboxSpec spec;
  spec.overlays.push_back({"/work/project", "/home/user/project", 64 << 20});
  EXPECT_TRUE(spec.Validate().ok());
  spec.overlays[0].target = "/etc/project";
  EXPECT_NE(spec.Validate().message().find("overlays[0].target"), std::string::npos);
  spec.overlays[0].target = "/tmp/p";
  spec.overlays[0].source = "relative";
  EXPECT_NE(spec.Validate().message().find("overlays[0].source"), std::string::npos);
  spec.overlays[0].source = "/a,upperdir=/x";
  EXPECT_NE(spec.Validate().message().find("overlays[0].source"), std::string::npos);
  spec.overlays[0].source = "/a";
  spec.overlays[0].upper_bytes = 0;
  EXPECT_NE(spec.Validate().message().find("overlays[0].upper_bytes"), std::string::npos);
}

TEST(SpecTest, DeniedSyscallsAreDocumented) {
  for (const char* required : {"mount", "umount2", "unshare", "setns", "ptrace", "bpf", "perf_event_open",
                               "keyctl", "add_key", "kexec_load", "init_module", "userfaultfd",
                               "clock_settime", "reboot", "swapon", "open_by_handle_at"}) {
    bool found = false;
    for (const DeniedSyscall& d : DeniedSyscalls()) {
      if (std::string(d.name) == required) found = !std::string(d.why).empty();
    }
    EXPECT_TRUE(found) << required;
  }
}

}  // namespace
}  // namespace kiln::sandbox
