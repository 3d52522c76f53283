#include "kiln/kernel_bridge/kernelspec.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace kiln::kernel_bridge {
namespace {

// An in-memory tree: "dir/name/kernel.json" -> content.
class FakeFs : public KernelSpecFs {
 public:
  std::map<std::string, std::string> files;
  std::vector<std::string> ListDirectories(const std::string& dir) const override {
    std::vector<std::string> names;
    for (const auto& [path, content] : files) {
      if (path.rfind(dir + "/", 0) != 0) continue;
      std::string rest = path.substr(dir.size() + 1);
      std::string name = rest.substr(0, rest.find('/'));
      if (names.empty() || names.back() != name) names.push_back(name);
    }
    return names;
  }
  Result<std::string> ReadSmallFile(const std::string& path) const override {
    auto it = files.find(path);
    if (it == files.end()) return NotFound(path);
    return it->second;
  }
};

constexpr char kIr[] =
    R"json({"argv": ["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"],
                           "display_name": "R", "language": "R"})json";
constexpr char kPython[] = R"({"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                               "language": "python", "env": {"A": "1"}, "interrupt_mode": "message"})";

TEST(KernelSearchDirs, JupyterPathThenUserThenSystem) {
  EXPECT_EQ(KernelSearchDirs("/a::/b/", "/home/user"),
            (std::vector<std::string>{"/a/kernels", "/b/kernels", "/home/user/.local/share/jupyter/kernels",
                                      "/usr/local/share/jupyter/kernels", "/usr/share/jupyter/kernels"}));
  EXPECT_EQ(KernelSearchDirs("", "").size(), 2u);
}

TEST(ParseKernelSpec, FieldsAndDefaults) {
  auto spec = ParseKernelSpec(kPython, "python3", "/k/python3");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->argv.size(), 5u);
  EXPECT_EQ(spec->language, "python");
  EXPECT_EQ(spec->interrupt_mode, "message");
  ASSERT_EQ(spec->env.size(), 1u);
  EXPECT_EQ(spec->env[0], (std::pair<std::string, std::string>{"A", "1"}));
  auto ir = ParseKernelSpec(kIr, "ir", "/k/ir");
  ASSERT_TRUE(ir.ok());
  EXPECT_EQ(ir->interrupt_mode, "signal");
  EXPECT_EQ(ir->display_name, "R");
}

TEST(ParseKernelSpec, RejectsBadFiles) {
  for (const char* bad : {"[]", "{}", R"({"argv": []})", R"({"argv": ["x", 1]})", "not json",
                          R"({"argv": ["x"], "interrupt_mode": "telepathy"})"}) {
    auto spec = ParseKernelSpec(bad, "k", "/k/k");
    EXPECT_EQ(spec.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(spec.status().message().find("/k/k/kernel.json"), std::string::npos);
  }
}

TEST(FindKernelSpec, ByDirectoryNameThenLanguageField) {
  FakeFs fs;
  fs.files["/usr/share/jupyter/kernels/ir/kernel.json"] = kIr;
  fs.files["/usr/share/jupyter/kernels/python3/kernel.json"] = kPython;
  fs.files["/home/u/.local/share/jupyter/kernels/broken/kernel.json"] = "{";
  auto dirs = KernelSearchDirs("", "/home/u");
  auto r = FindKernelSpec("r", dirs, fs);  // the language field, case-insensitively
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "ir");
  EXPECT_EQ(r->resource_dir, "/usr/share/jupyter/kernels/ir");
  EXPECT_EQ(FindKernelSpec("IR", dirs, fs)->name, "ir");  // the directory name
  EXPECT_EQ(FindKernelSpec("python", dirs, fs)->name, "python3");
  // A user kernelspec named like the language wins over a system one that only declares it.
  fs.files["/home/u/.local/share/jupyter/kernels/python/kernel.json"] = kPython;
  EXPECT_EQ(FindKernelSpec("python", dirs, fs)->resource_dir, "/home/u/.local/share/jupyter/kernels/python");
}

TEST(FindKernelSpec, NotFoundNamesLanguageAndDirectories) {
  FakeFs fs;
  fs.files["/usr/share/jupyter/kernels/ir/kernel.json"] = kIr;
  auto julia = FindKernelSpec("julia", KernelSearchDirs("/opt/j", "/home/u"), fs);
  ASSERT_EQ(julia.status().code(), Code::kNotFound);
  const std::string& m = julia.status().message();
  EXPECT_NE(m.find("'julia'"), std::string::npos) << m;
  for (const char* dir :
       {"/opt/j/kernels", "/home/u/.local/share/jupyter/kernels", "/usr/share/jupyter/kernels"})
    EXPECT_NE(m.find(dir), std::string::npos) << m;
}

// R's kernel is optional (hundreds of MB, not installed with Kiln): asking for R names the package to
// install.
TEST(FindKernelSpec, AMissingRKernelNamesItsPackage) {
  FakeFs fs;
  auto r = FindKernelSpec("r", KernelSearchDirs("/opt/j", "/home/u"), fs);
  ASSERT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("apt-get install r-cran-irkernel"), std::string::npos)
      << r.status().message();
}

TEST(FindKernelSpec, HostFilesystemSkipsFifos) {
  std::string root = std::filesystem::temp_directory_path() / ("kiln-kspec-" + std::to_string(getpid()));
  std::filesystem::create_directories(root + "/kernels/fifo");
  std::filesystem::create_directories(root + "/kernels/tiny");
  ASSERT_EQ(::mkfifo((root + "/kernels/fifo/kernel.json").c_str(), 0600), 0);
  std::ofstream(root + "/kernels/tiny/kernel.json")
      << R"({"argv": ["tiny", "{connection_file}"], "language": "Tiny"})";
  auto spec = FindKernelSpec("tiny", {root + "/kernels"}, HostKernelSpecFs());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->argv[0], "tiny");
  EXPECT_EQ(FindKernelSpec("fifo", {root + "/kernels"}, HostKernelSpecFs()).status().code(), Code::kNotFound);
  std::filesystem::remove_all(root);
}

TEST(KernelCommand, SubstitutesPlaceholders) {
  KernelSpec spec;
  spec.resource_dir = "/k/ir";
  spec.argv = {"R", "-f", "{connection_file}", "--logo={resource_dir}/logo.png", "plain"};
  EXPECT_EQ(KernelCommand(spec, "/tmp/c.json"),
            (std::vector<std::string>{"R", "-f", "/tmp/c.json", "--logo=/k/ir/logo.png", "plain"}));
}

}  // namespace
}  // namespace kiln::kernel_bridge
