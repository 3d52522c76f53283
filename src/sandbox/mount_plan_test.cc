#include "mount_plan.h"

#include <sys/mount.h>

#include <gtest/gtest.h>

namespace kiln::sandbox {
namespace {

std::vector<MountStep> Plan(const SandboxSpec& spec = SandboxSpec()) {
  Result<std::vector<MountStep>> steps = BuildMountPlan(spec, "/run/kiln", Identity{});
  EXPECT_TRUE(steps.ok()) << steps.status().ToString();
  return steps.ok() ? *steps : std::vector<MountStep>{};
}

bool Mentions(const std::vector<MountStep>& steps, const std::string& needle) {
  for (const MountStep& s : steps) {
    if (s.a.find(needle) != std::string::npos || s.b.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(MountPlanTest, NoHostSecretsAreMounted) {
  std::vector<MountStep> steps = Plan();
  for (const char* secret : {"/etc/shadow", "/etc/gshadow", "/root", "/var", "/home/root", "/etc/sudoers"}) {
    EXPECT_FALSE(Mentions(steps, secret)) << secret;
  }
}

TEST(MountPlanTest, StartsPrivateAndEndsReadOnlyInTheNewRoot) {
  std::vector<MountStep> steps = Plan();
  ASSERT_GE(steps.size(), 4u);
  EXPECT_EQ(steps[0].kind, MountStep::kMount);
  EXPECT_EQ(steps[0].flags, static_cast<unsigned long>(MS_REC | MS_PRIVATE));
  EXPECT_EQ(steps[steps.size() - 3].kind, MountStep::kPivotRoot);
  const MountStep& last = steps.back();
  EXPECT_TRUE(last.flags & MS_RDONLY);
  EXPECT_EQ(last.b, "/");
}

TEST(MountPlanTest, SystemBindsAreReadOnlyNosuid) {
  std::vector<MountStep> steps = Plan();
  bool usr_remounted = false;
  for (const MountStep& s : steps) {
    if (s.kind == MountStep::kMount && s.b == "/run/kiln/usr" && (s.flags & MS_REMOUNT)) {
      usr_remounted = (s.flags & MS_RDONLY) && (s.flags & MS_NOSUID) && (s.flags & MS_NODEV);
    }
  }
  EXPECT_TRUE(usr_remounted);
}

TEST(MountPlanTest, HomeAndTmpAreSizeLimitedTmpfs) {
  SandboxSpec spec;
  spec.limits.tmpfs_home_bytes = 3 << 20;
  spec.limits.tmpfs_tmp_bytes = 5 << 20;
  std::vector<MountStep> steps = Plan(spec);
  std::string home, tmp;
  for (const MountStep& s : steps) {
    if (s.fstype == "tmpfs" && s.b == "/run/kiln/home/user") home = s.data;
    if (s.fstype == "tmpfs" && s.b == "/run/kiln/tmp") tmp = s.data;
  }
  EXPECT_NE(home.find("size=3145728"), std::string::npos) << home;
  EXPECT_NE(home.find("uid=1000"), std::string::npos) << home;
  EXPECT_NE(tmp.find("size=5242880"), std::string::npos) << tmp;
  EXPECT_NE(tmp.find("mode=1777"), std::string::npos) << tmp;
}

TEST(MountPlanTest, SeedFilesAreOwnedByTheUser) {
  SandboxSpec spec;
  spec.files["/home/user/pkg/main.py"] = "print(1)";
  std::vector<MountStep> steps = Plan(spec);
  bool dir = false, file = false;
  for (const MountStep& s : steps) {
    if (s.kind == MountStep::kMkdir && s.a == "/run/kiln/home/user/pkg") dir = s.uid == 1000;
    if (s.kind == MountStep::kWriteFile && s.a == "/run/kiln/home/user/pkg/main.py") {
      file = s.uid == 1000 && s.data == "print(1)";
    }
  }
  EXPECT_TRUE(dir);
  EXPECT_TRUE(file);
}

TEST(MountPlanTest, MissingRequiredMountIsAClearError) {
  SandboxSpec spec;
  spec.mounts.push_back({"/nonexistent-kiln-dir", "/opt/x", false, false});
  Result<std::vector<MountStep>> steps = BuildMountPlan(spec, "/run/kiln", Identity{});
  ASSERT_FALSE(steps.ok());
  EXPECT_NE(steps.status().message().find("/nonexistent-kiln-dir"), std::string::npos);
}

}  // namespace
}  // namespace kiln::sandbox
