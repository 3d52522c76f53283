#include "mount_plan.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace kiln::sandbox {
namespace {

std::vector<MountStep> Plan(const SandboxSpec& spec = SandboxSpec()) {
  Result<MountPlan> plan = BuildMountPlan(spec, "/run/kiln", Identity{}, Os::Real(), false);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? plan->steps : std::vector<MountStep>{};
}

// Records the trees it is asked to copy, handing out fds of /dev/null in their place.
class RecordingOs : public ForwardingOs {
 public:
  RecordingOs() : ForwardingOs(&Os::Real()) {}
  Result<int> CloneMountTree(const std::string& path, bool recursive) override {
    cloned.push_back(path + (recursive ? " (recursive)" : ""));
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  Status IdmapMountTree(int, uid_t disk_uid, gid_t disk_gid, uid_t shown_uid, gid_t shown_gid) override {
    idmaps.push_back(std::to_string(disk_uid) + ":" + std::to_string(disk_gid) + "->" +
                     std::to_string(shown_uid) + ":" + std::to_string(shown_gid));
    return Status::Ok();
  }
  std::vector<std::string> cloned;
  std::vector<std::string> idmaps;
};

// A file in a fresh 0700 directory, like a checkout under /root.
struct PrivateFile {
  PrivateFile() {
    char tmpl[] = "/tmp/kiln-private-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/helper";
    std::ofstream(path) << "helper";
  }
  ~PrivateFile() {
    unlink(path.c_str());
    rmdir(dir.c_str());
  }
  std::string dir, path;
};

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
  SandboxSpec read_only;  // the plain root, without copy-on-write layers
  read_only.writable_root = false;
  std::vector<MountStep> steps = Plan(read_only);
  ASSERT_GE(steps.size(), 4u);
  EXPECT_EQ(steps[0].kind, MountStep::kMount);
  EXPECT_EQ(steps[0].flags, static_cast<unsigned long>(MS_REC | MS_PRIVATE));
  EXPECT_EQ(steps[steps.size() - 3].kind, MountStep::kPivotRoot);
  const MountStep& last = steps.back();
  EXPECT_TRUE(last.flags & MS_RDONLY);
  EXPECT_EQ(last.b, "/");
}

TEST(MountPlanTest, SystemBindsAreReadOnlyNosuid) {
  SandboxSpec read_only;  // the plain root, without copy-on-write layers
  read_only.writable_root = false;
  std::vector<MountStep> steps = Plan(read_only);
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
  // Inodes are bounded too (one per 4 KiB of size, at least 1024): empty files cost kernel memory.
  EXPECT_NE(home.find("nr_inodes=1024"), std::string::npos) << home;
  EXPECT_NE(tmp.find("nr_inodes=1280"), std::string::npos) << tmp;
  for (const MountStep& s : steps) {
    if (s.fstype != "tmpfs") continue;
    EXPECT_NE(s.data.find("nr_inodes="), std::string::npos) << s.b << ": " << s.data;
  }
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
  Result<MountPlan> plan = BuildMountPlan(spec, "/run/kiln", Identity{}, Os::Real(), false);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("/nonexistent-kiln-dir"), std::string::npos);
}

TEST(MountPlanTest, PrivateDirectoriesAreNotReachableByOthers) {
  PrivateFile file;
  EXPECT_FALSE(ReachableByOthers(file.path));
  EXPECT_TRUE(ReachableByOthers("/usr/bin/env"));
  chmod(file.dir.c_str(), 0711);  // searchable though not listable is enough
  EXPECT_TRUE(ReachableByOthers(file.path));
}

// The sandbox's root maps to an unprivileged host uid: it cannot look up a path under /root (0700), so the
// parent copies such a mount and the child attaches the copy instead of binding by path.
TEST(MountPlanTest, SourcesUnderAPrivateDirectoryAreAttachedFromACopy) {
  PrivateFile file;
  SandboxSpec spec;
  spec.mounts.push_back({file.path, "/opt/kiln/bin/helper", false, false});
  RecordingOs os;
  Result<MountPlan> plan = BuildMountPlan(spec, "/run/kiln", Identity{}, os, /*host_root_parent=*/true);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(os.cloned, std::vector<std::string>{file.path});
  ASSERT_EQ(plan->trees.size(), 1u);
  bool attached = false, read_only = false, bound_by_path = false;
  for (const MountStep& s : plan->steps) {
    if (s.kind == MountStep::kAttachTree && s.b == "/run/kiln/opt/kiln/bin/helper")
      attached = s.tree_fd == plan->trees[0].get();
    if (s.kind == MountStep::kMount && s.b == "/run/kiln/opt/kiln/bin/helper" && (s.flags & MS_REMOUNT))
      read_only = (s.flags & MS_RDONLY) && (s.flags & MS_NOSUID);
    if (s.kind == MountStep::kMount && s.a == file.path) bound_by_path = true;
  }
  EXPECT_TRUE(attached);
  EXPECT_TRUE(read_only);
  EXPECT_FALSE(bound_by_path);
  // System directories are reachable: they stay plain binds, with no copy made.
  EXPECT_TRUE(Mentions(plan->steps, "/usr"));
}

TEST(MountPlanTest, AnUnprivilegedCallerBindsByPath) {
  PrivateFile file;  // its own directory: the sandbox's single user is the caller, who can reach it
  SandboxSpec spec;
  spec.mounts.push_back({file.path, "/opt/helper", false, false});
  RecordingOs os;
  Result<MountPlan> plan = BuildMountPlan(spec, "/run/kiln", Identity{}, os, /*host_root_parent=*/false);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(os.cloned.empty());
  EXPECT_TRUE(plan->trees.empty());
}

TEST(MountPlanTest, AnOverlayStacksATmpfsUpperOverAnIdmappedReadOnlyCopyAndDetachesItsStage) {
  PrivateFile file;
  SandboxSpec spec;
  spec.overlays.push_back({file.dir, "/home/user/project", 8 << 20});
  RecordingOs os;
  Identity id;
  id.host_user_uid = 5000, id.host_user_gid = 6000;
  Result<MountPlan> plan = BuildMountPlan(spec, "/run/kiln", id, os, /*host_root_parent=*/true);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(os.cloned, std::vector<std::string>{file.dir});
  struct stat st {};
  ASSERT_EQ(stat(file.dir.c_str(), &st), 0);
  EXPECT_EQ(os.idmaps, std::vector<std::string>{std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) +
                                                "->5000:6000"});
  int upper_tmpfs = -1, attach = -1, overlay = -1, detach = -1, pivot = -1;
  for (int i = 0; i < static_cast<int>(plan->steps.size()); ++i) {
    const MountStep& s = plan->steps[i];
    if (s.kind == MountStep::kMount && s.fstype == "tmpfs" && s.b == "/run/kiln/.kiln-overlay-0") {
      upper_tmpfs = i;
      EXPECT_NE(s.data.find("size=8388608"), std::string::npos) << s.data;
    }
    if (s.kind == MountStep::kAttachTree && s.b == "/run/kiln/.kiln-overlay-0/lower") attach = i;
    // The writable root's /usr overlay is in the plan too; this test is about the project's.
    if (s.kind == MountStep::kMount && s.fstype == "overlay" && s.b != "/run/kiln/usr") {
      overlay = i;
      EXPECT_EQ(s.b, "/run/kiln/home/user/project");
      EXPECT_EQ(s.data,
                "lowerdir=/run/kiln/.kiln-overlay-0/lower,upperdir=/run/kiln/.kiln-overlay-0/upper,"
                "workdir=/run/kiln/.kiln-overlay-0/work");
      EXPECT_TRUE((s.flags & MS_NOSUID) && (s.flags & MS_NODEV));
    }
    if (s.kind == MountStep::kDetach && s.a == "/run/kiln/.kiln-overlay-0") detach = i;
    if (s.kind == MountStep::kPivotRoot) pivot = i;
  }
  EXPECT_TRUE(upper_tmpfs >= 0 && upper_tmpfs < attach && attach < overlay && overlay < detach &&
              detach < pivot)
      << upper_tmpfs << " " << attach << " " << overlay << " " << detach << " " << pivot;
  EXPECT_FALSE(Mentions(plan->steps, "/home/user/project/"));
}

TEST(MountPlanTest, AnUnprivilegedOverlayBindsItsLowerLayerReadOnlyByPath) {
  PrivateFile file;
  SandboxSpec spec;
  spec.overlays.push_back({file.dir, "/tmp/view", 8 << 20});
  RecordingOs os;
  Result<MountPlan> plan = BuildMountPlan(spec, "/run/kiln", Identity{}, os, /*host_root_parent=*/false);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(os.cloned.empty() && os.idmaps.empty());
  bool bound = false, read_only = false;
  for (const MountStep& s : plan->steps) {
    if (s.kind == MountStep::kMount && s.a == file.dir) bound = s.b == "/run/kiln/.kiln-overlay-0/lower";
    if (s.kind == MountStep::kMount && s.b == "/run/kiln/.kiln-overlay-0/lower" && (s.flags & MS_REMOUNT))
      read_only = s.flags & MS_RDONLY;
  }
  EXPECT_TRUE(bound);
  EXPECT_TRUE(read_only);
}

TEST(MountPlanTest, AnOverlayOfAMissingDirectoryIsNamed) {
  SandboxSpec spec;
  spec.overlays.push_back({"/nonexistent/kiln-project", "/home/user/p", 8 << 20});
  RecordingOs os;
  Result<MountPlan> plan = BuildMountPlan(spec, "/run/kiln", Identity{}, os, true);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("/nonexistent/kiln-project"), std::string::npos);
}

}  // namespace
}  // namespace kiln::sandbox
