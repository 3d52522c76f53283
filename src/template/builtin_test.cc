#include "kiln/template/builtin.h"

#include <gtest/gtest.h>

namespace kiln::tmpl {
namespace {

TEST(BuiltInTemplateTest, ShippedFilesAreBaseAndTheCodeInterpreter) {
  const std::vector<BuiltInTemplate>& all = BuiltInTemplates();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "base");
  EXPECT_FALSE(all[0].file.python_context);
  EXPECT_EQ(all[1].name, "code-interpreter-v1");
  EXPECT_TRUE(all[1].file.python_context);
  EXPECT_NE(all[1].file.description.find("Python"), std::string::npos) << all[1].file.description;
  EXPECT_EQ(all[1].file.file, "templates/code-interpreter-v1/Dockerfile");
}

TEST(BuiltInTemplateTest, AnythingNeedingABuildIsRefusedNamingTheLine) {
  constexpr char kHead[] = "FROM host\n# kiln: description d\n";
  EXPECT_TRUE(
      ParseBuiltIn("x", std::string(kHead) + "# kiln: code-context python\n# kiln: memory-mb 1024\n").ok());
  Result<BuiltInTemplate> r = ParseBuiltIn("x", std::string(kHead) + "RUN true\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("templates/x/Dockerfile:3: "), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("RUN true"), std::string::npos) << r.status().message();
  EXPECT_FALSE(ParseBuiltIn("x", "FROM debian:bookworm\n# kiln: description d\n").ok());
  EXPECT_FALSE(ParseBuiltIn("x", std::string(kHead) + "# kiln: start-cmd sleep 1\n").ok());
  EXPECT_FALSE(ParseBuiltIn("x", "FROM host\n").ok());  // no description
  r = ParseBuiltIn("x", std::string(kHead) + "# kiln: code-context ruby\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("only 'python'"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kiln::tmpl
