#include "kiln/artifact/artifact.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::artifact {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kiln_artifact_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Requirements, MapsThirdPartyImportsAndDropsStdlib) {
  const char* code =
      "import os, sys\n"
      "import numpy as np\n"
      "from sklearn.linear_model import LinearRegression\n"
      "import cv2\n"
      "from PIL import Image\n"
      "import yaml  # config\n"
      "from collections import Counter\n"
      "try:\n"
      "    import requests\n"
      "except ImportError:\n"
      "    pass\n"
      "from . import sibling\n"
      "import json; import pandas\n"
      "import _thread\n"
      "import xml.etree.ElementTree as ET\n";
  EXPECT_EQ(DetectRequirements(code), (std::vector<std::string>{"numpy", "opencv-python", "pandas", "pillow",
                                                                "pyyaml", "requests", "scikit-learn"}));
}

TEST(Requirements, NoImportsNoRequirements) {
  EXPECT_TRUE(DetectRequirements("print('hi')\nx = 'import'\n").empty());
  EXPECT_TRUE(DetectRequirements("").empty());
}

TEST(Requirements, LocalModulesAreNotRequirements) {
  EXPECT_EQ(DetectRequirements("import helpers\nimport attr\n", {"helpers"}),
            std::vector<std::string>{"attrs"});
}

TEST(Requirements, StdlibLookup) {
  EXPECT_TRUE(IsStdlibModule("os"));
  EXPECT_TRUE(IsStdlibModule("cProfile"));
  EXPECT_TRUE(IsStdlibModule("__future__"));
  EXPECT_TRUE(IsStdlibModule("zoneinfo"));
  EXPECT_FALSE(IsStdlibModule("numpy"));
  EXPECT_EQ(PipNameForImport("bs4"), "beautifulsoup4");
  EXPECT_EQ(PipNameForImport("flask"), "flask");
}

TEST(Artifact, WritesFilesAndTarGzThatReadsBack) {
  TempDir tmp;
  Project project{"demo", {{"main.py", "print(1)\n"}, {"README.md", "# demo\n"}, {"pkg/empty.txt", ""}}};
  ASSERT_TRUE(WriteProject(tmp.path() + "/demo", project).ok());
  EXPECT_EQ(Slurp(tmp.path() + "/demo/main.py"), "print(1)\n");
  EXPECT_EQ(Slurp(tmp.path() + "/demo/pkg/empty.txt"), "");

  const std::string tgz = tmp.path() + "/demo.tar.gz";
  ASSERT_TRUE(WriteTarGz(tgz, project).ok());
  auto files = ReadTarGz(tgz);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(*files,
            (std::map<std::string, std::string>{
                {"demo/main.py", "print(1)\n"}, {"demo/README.md", "# demo\n"}, {"demo/pkg/empty.txt", ""}}));
  // It really is gzip: magic bytes 1f 8b.
  const std::string raw = Slurp(tgz);
  ASSERT_GE(raw.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(raw[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(raw[1]), 0x8b);
}

TEST(Artifact, RejectsEscapingPaths) {
  TempDir tmp;
  EXPECT_EQ(WriteProject(tmp.path(), Project{"x", {{"../evil", ""}}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(WriteProject(tmp.path(), Project{"x", {{"/etc/evil", ""}}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(WriteTarGz(tmp.path() + "/x.tar.gz", Project{"x", {{"a/../../b", ""}}}).code(),
            Code::kInvalidArgument);
}

TEST(Artifact, ErrorsNameThePath) {
  auto missing = ReadTarGz("/nonexistent/kiln.tar.gz");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/kiln.tar.gz"), std::string::npos);
  Status st = WriteProject("/proc/kiln_no_such_dir", Project{"x", {{"a", "b"}}});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/proc/kiln_no_such_dir"), std::string::npos);
}

}  // namespace
}  // namespace kiln::artifact
