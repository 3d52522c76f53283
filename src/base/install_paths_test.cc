#include "kiln/base/install_paths.h"

#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(InstallPathsTest, HelpersAreLookedUpInTheEnvironmentThenBesideThenInLibexec) {
  setenv("KILN_TEST_HELPER", "/opt/custom/helper", 1);
  std::vector<std::string> c = HelperCandidates("kiln-envd", "KILN_TEST_HELPER");
  unsetenv("KILN_TEST_HELPER");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], "/opt/custom/helper");
  EXPECT_EQ(c[1], SelfDir() + "/kiln-envd");
  EXPECT_EQ(c[2], SelfDir() + "/../libexec/kiln/kiln-envd");
  EXPECT_EQ(HelperCandidates("x", "KILN_TEST_UNSET_VARIABLE").size(), 2u);
}

TEST(InstallPathsTest, DataDirFollowsTheEnvironment) {
  setenv("KILN_DATA_DIR", "/nonexistent-kiln-data", 1);
  EXPECT_EQ(DataDir(), "/nonexistent-kiln-data");
  Result<std::string> missing = DataFile("humaneval/HumanEval.jsonl.gz");
  unsetenv("KILN_DATA_DIR");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("KILN_DATA_DIR"), std::string::npos);
  EXPECT_NE(missing.status().message().find("/nonexistent-kiln-data"), std::string::npos);
}

TEST(InstallPathsTest, ABuildTreeReadsTheSourceTreesData) {
  Result<std::string> file = DataFile("humaneval/HumanEval.jsonl.gz");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(access(file->c_str(), R_OK), 0);
}

TEST(InstallPathsTest, VersionNamesTheReleaseAndTheCommit) {
  std::string v = VersionString();
  EXPECT_EQ(v.rfind("0.", 0), 0u) << v;
  EXPECT_NE(v.find("(commit "), std::string::npos) << v;
}

}  // namespace
}  // namespace kiln
