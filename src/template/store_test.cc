#include "kiln/template/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace kiln::tmpl {
namespace {
namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kiln-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    home_ = dir;
  }
  void TearDown() override { fs::remove_all(home_); }

  void Write(const std::string& name, const TemplateInfo& info) {
    fs::create_directories(home_ + "/templates/" + name + "/rootfs/opt");
    std::ofstream(home_ + "/templates/" + name + "/template.json") << TemplateInfoToJson(info);
  }
  std::string home_;
};

TEST_F(StoreTest, MetadataRoundTripsAndListsSorted) {
  TemplateInfo t;
  t.name = "zeta", t.base = "host", t.from = "host", t.cpu_count = 2, t.memory_mb = 1024, t.disk_mb = 2048;
  t.env = {{"A", "1"}}, t.workdir = "/opt", t.user = "root", t.start_cmd = "s", t.ready_cmd = "r";
  t.envd_version = "0.1.0", t.created_ms = 5, t.size_bytes = 7, t.layers = {"a", "b"};
  t.description = "d", t.python_context = true;
  Write("zeta", t);
  t.name = "alpha";
  Write("alpha", t);
  TemplateStore store(home_);
  std::vector<TemplateInfo> all = store.List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");
  Result<TemplateInfo> got = store.Get("zeta");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->memory_mb, 1024);
  EXPECT_EQ(got->env.at("A"), "1");
  EXPECT_EQ(got->layers, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(got->root, home_ + "/templates/zeta/rootfs");
  EXPECT_EQ(got->start_cmd, "s");
  EXPECT_EQ(got->description, "d");
  EXPECT_TRUE(got->python_context);
}

TEST_F(StoreTest, UnknownNamesTheBuiltOnesAndRmRemoves) {
  TemplateInfo t;
  t.base = "rootfs";
  Write("one", t);
  TemplateStore store(home_);
  Result<TemplateInfo> missing = store.Get("two");
  ASSERT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("built: one"), std::string::npos);
  ASSERT_TRUE(store.Remove("one").ok());
  EXPECT_FALSE(fs::exists(home_ + "/templates/one"));
  EXPECT_EQ(store.Remove("one").code(), Code::kNotFound);
}

TEST_F(StoreTest, RejectsBadNamesAndDocuments) {
  EXPECT_FALSE(ValidateTemplateName("").ok());
  EXPECT_FALSE(ValidateTemplateName("Upper").ok());
  EXPECT_FALSE(ValidateTemplateName("../x").ok());
  EXPECT_FALSE(ValidateTemplateName("base").ok());
  EXPECT_TRUE(ValidateTemplateName("data-science").ok());
  EXPECT_FALSE(TemplateInfoFromJson("[]").ok());
  EXPECT_FALSE(TemplateInfoFromJson(R"({"format":2,"name":"x","base":"host"})").ok());
  EXPECT_FALSE(TemplateInfoFromJson(R"({"format":1,"name":"x","base":"docker"})").ok());
  EXPECT_FALSE(TemplateInfoFromJson(R"({"format":1,"name":7,"base":"host"})").ok());
}

TEST_F(StoreTest, ApplyLayersTheRootAndSeedsHome) {
  TemplateInfo t;
  t.name = "t", t.base = "rootfs", t.root = home_ + "/root", t.env = {{"K", "V"}}, t.workdir = "/srv";
  t.memory_mb = 1024;
  fs::create_directories(t.root + "/usr/bin");
  fs::create_directories(t.root + "/etc");
  fs::create_directories(t.root + "/proc");
  fs::create_directories(t.root + "/home/user/sub");
  fs::create_symlink("usr/bin", t.root + "/bin");
  std::ofstream(t.root + "/home/user/sub/notes.txt") << "hello";
  sandbox::SandboxSpec spec;
  ASSERT_TRUE(ApplyTemplate(t, spec).ok());
  ASSERT_EQ(spec.mounts.size(), 3u);  // bin (a link), etc, usr; not proc or home
  EXPECT_EQ(spec.mounts[0].target, "/bin");
  EXPECT_TRUE(spec.mounts[2].layered);
  EXPECT_FALSE(spec.mounts[2].writable);
  EXPECT_TRUE(spec.etc_files.empty());
  EXPECT_EQ(spec.env.at("K"), "V");
  EXPECT_EQ(spec.workdir, "/srv");
  EXPECT_EQ(spec.limits.memory_bytes, 1024ll << 20);
  EXPECT_EQ(spec.files.at("/home/user/sub/notes.txt"), "hello");
  EXPECT_TRUE(spec.Validate().ok());
  t.root = home_ + "/missing";
  EXPECT_EQ(ApplyTemplate(t, spec).code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace kiln::tmpl
